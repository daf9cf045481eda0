-- The Signal protocol state of each account's device (core/signal/signal_stores.h), in whatsmeow's
-- layout with the multi-tenant fork's business_id first in every key (e2e reference §7): our_jid is
-- the device JID the state belongs to (a new pairing starts clean), their_id / sender_id are Signal
-- addresses "name:device". The blobs are libsignal-protocol-c records (not whatsmeow's or Baileys'
-- format, §8.4). Only the account's current leader writes, under its lease epoch (store/fenced_write.h).
-- One-time and signed pre-keys stay in wa_device_pre_keys / wa_devices (0004).

CREATE TABLE wa_signal_sessions (
    business_id TEXT NOT NULL REFERENCES wa_devices (business_id) ON DELETE CASCADE,
    our_jid     TEXT NOT NULL,
    their_id    TEXT NOT NULL,
    session     BYTEA NOT NULL,
    PRIMARY KEY (business_id, our_jid, their_id)
);

-- Contacts' identity keys: 32 bytes, without the 0x05 type byte.
CREATE TABLE wa_signal_identities (
    business_id TEXT NOT NULL REFERENCES wa_devices (business_id) ON DELETE CASCADE,
    our_jid     TEXT NOT NULL,
    their_id    TEXT NOT NULL,
    identity    BYTEA NOT NULL CHECK (length(identity) = 32),
    PRIMARY KEY (business_id, our_jid, their_id)
);

-- Sender keys per group (chat_id = group JID) and sender (ours included).
CREATE TABLE wa_signal_sender_keys (
    business_id TEXT NOT NULL REFERENCES wa_devices (business_id) ON DELETE CASCADE,
    our_jid     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    sender_key  BYTEA NOT NULL,
    PRIMARY KEY (business_id, our_jid, chat_id, sender_id)
);
