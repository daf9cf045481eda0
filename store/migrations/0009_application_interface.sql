-- Bearer tokens of the application interface (issue 9). A token belongs to one business; it is
-- shown once when created and stored only as its SHA-256, so a database dump yields no usable
-- token. `id` is the token's public part (it is also inside the token), so a request finds its row
-- by id and compares the hash in constant time instead of searching by the secret.
CREATE TABLE wa_api_tokens (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    token_hash  BYTEA NOT NULL CHECK (length(token_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);

CREATE INDEX wa_api_tokens_business ON wa_api_tokens (business_id);

-- Events: one row per thing an application is told about, written by triggers in the very
-- transaction that made it happen (the inbox insert, the outbox status change, the account
-- update), so an event exists exactly when its cause committed: a failover can neither lose one
-- nor make a second id for the same message. `seq` orders one account's events (a sequence:
-- increasing, not gap-free); `id` is the stable id every delivery and retry carries.
CREATE TABLE wa_events (
    id          TEXT PRIMARY KEY,
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    type        TEXT NOT NULL
                CHECK (type IN ('message.received', 'message.status', 'account.status', 'account.leader')),
    data        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX wa_events_business ON wa_events (business_id, seq);

-- Webhook endpoints of a business. The secret is the HMAC key (whsec_ + base64 of 24-64 bytes):
-- the sender needs it in clear, so it is not hashed like a token.
CREATE TABLE wa_webhooks (
    id              TEXT PRIMARY KEY CHECK (id ~ '^wh_[0-9a-f]{16}$'),
    business_id     TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    url             TEXT NOT NULL CHECK (length(url) <= 2048),
    events          TEXT[] NOT NULL,
    secret          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the receiver answered 410 Gone: no more deliveries.
    disabled_at     TIMESTAMPTZ,
    disabled_reason TEXT
);

CREATE INDEX wa_webhooks_business ON wa_webhooks (business_id);

-- One row per (endpoint, event): the durable delivery, retried by the account's leader on a
-- schedule until delivered or dead. `claimed_until` lets a sender that died mid-attempt be
-- replaced (the row is due again once the claim ran out).
CREATE TABLE wa_webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES wa_webhooks (id) ON DELETE CASCADE,
    business_id     TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES wa_events (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_until   TIMESTAMPTZ,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_id)
);

CREATE INDEX wa_webhook_deliveries_due ON wa_webhook_deliveries (business_id, next_attempt_at)
    WHERE state = 'pending';

-- Records an event and a pending delivery for every enabled endpoint that subscribed to its type
-- ('*' = all), and wakes the leaders' senders (channel name: store/notify.h kWebhookChannel).
CREATE FUNCTION wa_emit_event(p_business_id TEXT, p_type TEXT, p_data JSONB) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_id TEXT := 'evt_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO wa_events (id, business_id, type, data) VALUES (v_id, p_business_id, p_type, p_data);
    INSERT INTO wa_webhook_deliveries (webhook_id, business_id, event_id)
        SELECT id, p_business_id, v_id FROM wa_webhooks
        WHERE business_id = p_business_id AND disabled_at IS NULL
          AND (p_type = ANY (events) OR '*' = ANY (events));
    IF FOUND THEN
        PERFORM pg_notify('wa_webhook', p_business_id);
    END IF;
END
$$;

CREATE FUNCTION wa_inbox_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wa_emit_event(NEW.business_id, 'message.received', jsonb_build_object(
        'id', NEW.id, 'chat', NEW.chat,
        -- The sender's user JID: agent and device dropped (user.agent:device@server).
        'from', regexp_replace(NEW.sender, '(\.[0-9]+)?(:[0-9]+)?@', '@'),
        'type', NEW.message_type, 'text', NEW.text, 'timestamp', NEW.server_ts,
        'cursor', NEW.seq::text));
    RETURN NULL;
END
$$;

CREATE TRIGGER wa_inbox_event AFTER INSERT ON wa_inbox
    FOR EACH ROW EXECUTE FUNCTION wa_inbox_event();

CREATE FUNCTION wa_outbox_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wa_emit_event(NEW.business_id, 'message.status',
        jsonb_strip_nulls(jsonb_build_object('id', NEW.id, 'status', NEW.status, 'error', NEW.error)));
    RETURN NULL;
END
$$;

CREATE TRIGGER wa_outbox_event AFTER UPDATE OF status ON wa_outbox
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION wa_outbox_event();

CREATE FUNCTION wa_account_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM wa_emit_event(NEW.business_id, 'account.status', jsonb_build_object(
            'status', NEW.status, 'reason', NEW.disconnect_reason));
    END IF;
    IF NEW.lease_epoch IS DISTINCT FROM OLD.lease_epoch THEN
        PERFORM wa_emit_event(NEW.business_id, 'account.leader', jsonb_build_object(
            'old_pod', OLD.assigned_pod, 'new_pod', NEW.assigned_pod, 'epoch', NEW.lease_epoch,
            'failover', NEW.failover_count > OLD.failover_count));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER wa_account_event AFTER UPDATE OF status, lease_epoch ON wa_accounts
    FOR EACH ROW EXECUTE FUNCTION wa_account_event();
