-- Which devices already hold our sender key for a group (e2e reference §5; Baileys' sender-key
-- memory): a group message carries the SenderKeyDistributionMessage only to member devices not
-- listed here, and a device is listed once the server acked a message that carried it. A retry
-- receipt from a device answers with the key again. Keyed like the sender keys themselves
-- (our_jid: a new pairing starts clean); `device` is the member device's Signal address
-- ("name:device", a LID's name is "<lid>_1"). Only the account's leader writes (fenced).
CREATE TABLE wa_sender_key_recipients (
    business_id TEXT NOT NULL REFERENCES wa_devices (business_id) ON DELETE CASCADE,
    our_jid     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    device      TEXT NOT NULL,
    PRIMARY KEY (business_id, our_jid, chat_id, device)
);

-- Row-level security as for every business table (0011, docs/security.md).
ALTER TABLE wa_sender_key_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE wa_sender_key_recipients FORCE ROW LEVEL SECURITY;
CREATE POLICY wa_tenant ON wa_sender_key_recipients
    USING (business_id = ANY (string_to_array(current_setting('waconnector.business_id', true), ',')))
    WITH CHECK (business_id = ANY (string_to_array(current_setting('waconnector.business_id', true), ',')));
GRANT SELECT, INSERT, UPDATE, DELETE ON wa_sender_key_recipients TO waconnector_app;
