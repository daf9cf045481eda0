-- Contacts' phone number <-> LID (issue 8; wa-beyond-text §4, whatsmeow's whatsmeow_lid_map),
-- per account: user parts only (no server, no device). One LID per phone number and one phone
-- number per LID; a newer pair replaces older ones for either side. Written only by the account's
-- leader, fenced, usually inside the transaction that decrypted the message that taught it.
CREATE TABLE wa_lid_map (
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    lid         TEXT NOT NULL,
    pn          TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, lid),
    UNIQUE (business_id, pn)
);
