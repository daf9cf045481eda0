-- One device store: wa_devices and wa_device_pre_keys (0004), written by store/device_store.cpp.
--
-- Migration 0002 created whatsmeow's layout (whatsmeow_device keyed by the paired jid, and 15
-- tables referencing it), but no code ever read or wrote any of it: whatsmeow_device cannot hold
-- a device before pairing, so the device went to wa_devices instead, and the tables stayed empty.
-- Dropped here so that every table in the schema has code behind it; the messaging work creates
-- the Signal tables it needs, in their final form and keyed by business_id like wa_devices, in a
-- later migration. Dependents first, so nothing is dropped by CASCADE unseen.
DROP TABLE whatsmeow_app_state_mutation_macs;
DROP TABLE whatsmeow_app_state_version;
DROP TABLE whatsmeow_app_state_sync_keys;
DROP TABLE whatsmeow_identity_keys;
DROP TABLE whatsmeow_pre_keys;
DROP TABLE whatsmeow_sessions;
DROP TABLE whatsmeow_sender_keys;
DROP TABLE whatsmeow_contacts;
DROP TABLE whatsmeow_chat_settings;
DROP TABLE whatsmeow_message_secrets;
DROP TABLE whatsmeow_privacy_tokens;
DROP TABLE whatsmeow_nct_salt;
DROP TABLE whatsmeow_lid_map;
DROP TABLE whatsmeow_event_buffer;
DROP TABLE whatsmeow_retry_buffer;
DROP TABLE whatsmeow_device;

-- The pairings of each account: which device jid it was paired to, when, under which lease and
-- by which pod, and when that device ended (logged out by the phone, or the account relinked).
-- wa_accounts.jid only holds the current one and a relink clears it, so this is where an
-- operator finds out what an account was linked to before. Written in the pairing transaction
-- itself (store/device_store.cpp), so a row exists exactly when the pairing committed.
CREATE TABLE wa_pairings (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    jid         TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    pod         TEXT,
    paired_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    ended_at    TIMESTAMPTZ,
    end_reason  TEXT CHECK (end_reason IN ('logged_out', 'relinked', 'paired_again')),
    CONSTRAINT wa_pairings_end CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
-- At most one current pairing per account.
CREATE UNIQUE INDEX wa_pairings_current_idx ON wa_pairings (business_id) WHERE ended_at IS NULL;
