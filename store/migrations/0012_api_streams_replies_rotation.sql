-- Application interface, part 2 (issue 9): the SSE event stream, replies and webhook secret rotation.

-- The event stream (GET /v1/accounts/{id}/events) reads events in the order their transactions
-- committed, not in `seq` order: `seq` is taken at insert time, so a transaction that took seq 5
-- can commit after another one's seq 6 became visible, and a reader that moved past 6 would never
-- see 5. A reader instead only takes events whose transaction id is below the oldest transaction
-- still running (pg_snapshot_xmin), ordered by (tx, seq): every event committed later has a higher
-- tx than everything already read, so a cursor (tx, seq) never skips one.
ALTER TABLE wa_events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX wa_events_stream ON wa_events (business_id, tx, seq);

-- Wakes the pods' event streams (channel name: store/events.h kEventChannel; payload: business_id).
-- Only a wake-up: a stream reads the rows, and polls too (a notify is lost while it reconnects).
CREATE FUNCTION wa_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wa_event', NEW.business_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER wa_event_notify AFTER INSERT ON wa_events
    FOR EACH ROW EXECUTE FUNCTION wa_event_notify();

-- A reply: the quoted message's id, author and text, resolved when the row is queued (from the
-- inbox, or the outbox for one of our own messages), so the leader builds the quote without a
-- second lookup and the quote stays what the application saw.
ALTER TABLE wa_outbox
    ADD COLUMN reply_to        TEXT CHECK (length(reply_to) <= 128),
    ADD COLUMN reply_to_sender TEXT,
    ADD COLUMN reply_to_text   TEXT;

-- Secret rotation: the old secret keeps signing (next to the new one, space-separated in
-- webhook-signature) until previous_secret_expires_at, so receivers can switch without a gap.
ALTER TABLE wa_webhooks
    ADD COLUMN previous_secret            TEXT,
    ADD COLUMN previous_secret_expires_at TIMESTAMPTZ;

-- Log-out requests (DELETE /v1/accounts/{id}/session): any pod inserts one; the account's leader
-- sends the logout to WhatsApp, waits for the account to be marked logged_out and resets it for
-- pairing (the old device's keys deleted, a QR next), then records the outcome here.
CREATE TABLE wa_logout_requests (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    error       TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);

CREATE INDEX wa_logout_requests_pending ON wa_logout_requests (business_id, id) WHERE state = 'pending';

-- Wakes the leaders' logout responders (channel name: store/notify.h kLogoutChannel).
CREATE FUNCTION wa_logout_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wa_logout', NEW.business_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER wa_logout_notify AFTER INSERT ON wa_logout_requests
    FOR EACH ROW EXECUTE FUNCTION wa_logout_notify();

-- Row-level security as for every business table (0011, docs/security.md).
ALTER TABLE wa_logout_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE wa_logout_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY wa_tenant ON wa_logout_requests
    USING (business_id = ANY (string_to_array(current_setting('waconnector.business_id', true), ',')))
    WITH CHECK (business_id = ANY (string_to_array(current_setting('waconnector.business_id', true), ',')));
GRANT SELECT, INSERT, UPDATE ON wa_logout_requests TO waconnector_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO waconnector_app;
