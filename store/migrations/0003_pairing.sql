-- Pairing state that every pod must see: the QR's expiry (so any pod serves the QR with its
-- deadline) and the phone-number pair-code requests of `waconnector accounts pair --phone`.
--
-- The leader writes qr_code and qr_expires_at together (DeviceStore::set_qr) and clears both when
-- the QR is gone (paired, refs exhausted, disconnected). Readers treat a QR whose expiry passed as
-- absent.
ALTER TABLE wa_accounts ADD COLUMN qr_expires_at TIMESTAMPTZ;

-- A pair-code request: the CLI inserts it (state 'pending'), the account's leader asks the
-- WhatsApp server for a linking code and answers (state 'answered' with the 8-character code, or
-- 'failed' with a reason). The CLI waits for the answer. The code is short-lived and only useful
-- together with the phone; it is never logged.
CREATE TABLE wa_pair_code_requests (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id            TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    -- Digits only (country code first), as the server wants them.
    phone                  TEXT NOT NULL CHECK (phone ~ '^[1-9][0-9]{6,19}$'),
    show_push_notification BOOLEAN NOT NULL DEFAULT true,
    state                  TEXT NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'answered', 'failed')),
    code                   TEXT CHECK (code ~ '^[1-9A-HJ-NP-TV-Z]{8}$'),
    error                  TEXT,
    answered_by            TEXT,
    requested_at           TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    answered_at            TIMESTAMPTZ,
    CONSTRAINT wa_pair_code_requests_answer
        CHECK ((state = 'pending' AND code IS NULL AND answered_at IS NULL)
            OR (state = 'answered' AND code IS NOT NULL AND answered_at IS NOT NULL)
            OR (state = 'failed' AND code IS NULL AND answered_at IS NOT NULL))
);
CREATE INDEX wa_pair_code_requests_pending_idx
    ON wa_pair_code_requests (business_id, id) WHERE state = 'pending';

-- Wake the leaders (payload: business_id) and the waiting CLI (payload: request id) at once
-- instead of making them poll tightly.
CREATE FUNCTION wa_pair_code_requests_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('wa_pair_code_request', NEW.business_id);
    ELSIF NEW.state <> OLD.state THEN
        PERFORM pg_notify('wa_pair_code_answer', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER wa_pair_code_requests_notify AFTER INSERT OR UPDATE ON wa_pair_code_requests
    FOR EACH ROW EXECUTE FUNCTION wa_pair_code_requests_notify();
