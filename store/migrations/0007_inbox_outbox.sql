-- The durable inbox and outbox of each account (issue 8). Rows live as long as the account.
--
-- wa_inbox: one row per decrypted incoming message, written in the same transaction as the Signal
-- state change that decrypted it (store/signal_store.h transaction()), so a message is either
-- decrypted AND stored, or neither. `seq` is a per-account cursor taken from wa_inbox_cursors under
-- that row's lock, so rows commit in seq order (store/inbox.h explains why a reader cannot skip).
CREATE TABLE wa_inbox_cursors (
    business_id TEXT PRIMARY KEY REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    last_seq    BIGINT NOT NULL
);

CREATE TABLE wa_inbox (
    business_id     TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL,
    chat            TEXT NOT NULL,
    sender          TEXT NOT NULL,
    -- 'text' for a text message (text set); otherwise the raw message type and text NULL.
    message_type    TEXT NOT NULL,
    text            TEXT,
    server_ts       BIGINT NOT NULL,
    -- SHA-256 of the <enc> ciphertext: a redelivery (e.g. after a failover, before the ack went
    -- out) finds the row and is acked without decrypting twice.
    ciphertext_hash BYTEA NOT NULL CHECK (length(ciphertext_hash) = 32),
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, seq),
    UNIQUE (business_id, ciphertext_hash),
    -- The same message re-encrypted by the sender (a retry) is still one message.
    UNIQUE (business_id, chat, sender, id)
);

-- wa_outbox: written by any pod (CLI, API); claimed and sent by the account's leader.
CREATE TABLE wa_outbox (
    business_id     TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    text            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- The lease epoch of the leader that last claimed the row; NULL = never claimed.
    claimed_epoch   BIGINT,
    idempotency_key TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, id),
    UNIQUE (business_id, idempotency_key)
);

CREATE INDEX wa_outbox_queued ON wa_outbox (business_id, created_at, id) WHERE status = 'queued';

-- Wakes the leader's sender (channel name: store/notify.h kOutboxChannel; payload: business_id).
CREATE FUNCTION wa_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wa_outbox', NEW.business_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER wa_outbox_notify AFTER INSERT ON wa_outbox
    FOR EACH ROW EXECUTE FUNCTION wa_outbox_notify();
