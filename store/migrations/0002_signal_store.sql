-- The device and Signal store: whatsmeow's layout with the multi-tenant fork (business_id first in
-- every primary key; per-device tables reference whatsmeow_device(business_id, jid)). Key columns
-- hold private keys; only the account's current leader writes them, under its lease epoch.

CREATE TABLE whatsmeow_device (
    business_id          TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    jid                  TEXT NOT NULL,
    lid                  TEXT,
    facebook_uuid        UUID,
    registration_id      BIGINT NOT NULL CHECK (registration_id >= 0 AND registration_id < 4294967296),
    noise_key            BYTEA NOT NULL CHECK (length(noise_key) = 32),
    identity_key         BYTEA NOT NULL CHECK (length(identity_key) = 32),
    signed_pre_key       BYTEA NOT NULL CHECK (length(signed_pre_key) = 32),
    signed_pre_key_id    INTEGER NOT NULL CHECK (signed_pre_key_id >= 0 AND signed_pre_key_id < 16777216),
    signed_pre_key_sig   BYTEA NOT NULL CHECK (length(signed_pre_key_sig) = 64),
    adv_key              BYTEA NOT NULL,
    adv_details          BYTEA NOT NULL,
    adv_account_sig      BYTEA NOT NULL CHECK (length(adv_account_sig) = 64),
    adv_account_sig_key  BYTEA NOT NULL CHECK (length(adv_account_sig_key) = 32),
    adv_device_sig       BYTEA NOT NULL CHECK (length(adv_device_sig) = 64),
    platform             TEXT NOT NULL DEFAULT '',
    business_name        TEXT NOT NULL DEFAULT '',
    push_name            TEXT NOT NULL DEFAULT '',
    lid_migration_ts     BIGINT NOT NULL DEFAULT 0,
    companion_meta_nonce TEXT,
    PRIMARY KEY (business_id, jid)
);

CREATE TABLE whatsmeow_identity_keys (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    their_id    TEXT NOT NULL,
    identity    BYTEA NOT NULL CHECK (length(identity) = 32),
    PRIMARY KEY (business_id, our_jid, their_id),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_pre_keys (
    business_id TEXT NOT NULL,
    jid         TEXT NOT NULL,
    key_id      INTEGER NOT NULL CHECK (key_id >= 0 AND key_id < 16777216),
    key         BYTEA NOT NULL CHECK (length(key) = 32),
    uploaded    BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (business_id, jid, key_id),
    FOREIGN KEY (business_id, jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_sessions (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    their_id    TEXT NOT NULL,
    session     BYTEA,
    PRIMARY KEY (business_id, our_jid, their_id),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_sender_keys (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    sender_key  BYTEA NOT NULL,
    PRIMARY KEY (business_id, our_jid, chat_id, sender_id),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_app_state_sync_keys (
    business_id TEXT NOT NULL,
    jid         TEXT NOT NULL,
    key_id      BYTEA NOT NULL,
    key_data    BYTEA NOT NULL,
    timestamp   BIGINT NOT NULL,
    fingerprint BYTEA NOT NULL,
    PRIMARY KEY (business_id, jid, key_id),
    FOREIGN KEY (business_id, jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_app_state_version (
    business_id TEXT NOT NULL,
    jid         TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    hash        BYTEA NOT NULL CHECK (length(hash) = 128),
    PRIMARY KEY (business_id, jid, name),
    FOREIGN KEY (business_id, jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_app_state_mutation_macs (
    business_id TEXT NOT NULL,
    jid         TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    index_mac   BYTEA NOT NULL CHECK (length(index_mac) = 32),
    value_mac   BYTEA NOT NULL CHECK (length(value_mac) = 32),
    PRIMARY KEY (business_id, jid, name, version, index_mac),
    FOREIGN KEY (business_id, jid, name) REFERENCES whatsmeow_app_state_version (business_id, jid, name)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_contacts (
    business_id    TEXT NOT NULL,
    our_jid        TEXT NOT NULL,
    their_jid      TEXT NOT NULL,
    first_name     TEXT,
    full_name      TEXT,
    push_name      TEXT,
    business_name  TEXT,
    redacted_phone TEXT,
    PRIMARY KEY (business_id, our_jid, their_jid),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_chat_settings (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    chat_jid    TEXT NOT NULL,
    muted_until BIGINT NOT NULL DEFAULT 0,
    pinned      BOOLEAN NOT NULL DEFAULT false,
    archived    BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (business_id, our_jid, chat_jid),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_message_secrets (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    chat_jid    TEXT NOT NULL,
    sender_jid  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    key         BYTEA NOT NULL,
    PRIMARY KEY (business_id, our_jid, chat_jid, sender_jid, message_id),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

-- As in the fork, privacy tokens also reference the device (upstream has no FK here).
CREATE TABLE whatsmeow_privacy_tokens (
    business_id      TEXT NOT NULL,
    our_jid          TEXT NOT NULL,
    their_jid        TEXT NOT NULL,
    token            BYTEA NOT NULL,
    timestamp        BIGINT NOT NULL,
    sender_timestamp BIGINT,
    PRIMARY KEY (business_id, our_jid, their_jid),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX whatsmeow_privacy_tokens_our_jid_timestamp_idx
    ON whatsmeow_privacy_tokens (business_id, our_jid, timestamp);

CREATE TABLE whatsmeow_nct_salt (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    salt        BYTEA NOT NULL,
    PRIMARY KEY (business_id, our_jid),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

-- Global upstream; per business in the fork.
CREATE TABLE whatsmeow_lid_map (
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    lid         TEXT NOT NULL,
    pn          TEXT NOT NULL,
    PRIMARY KEY (business_id, lid),
    UNIQUE (business_id, pn)
);

CREATE TABLE whatsmeow_event_buffer (
    business_id      TEXT NOT NULL,
    our_jid          TEXT NOT NULL,
    ciphertext_hash  BYTEA NOT NULL CHECK (length(ciphertext_hash) = 32),
    plaintext        BYTEA,
    server_timestamp BIGINT NOT NULL,
    insert_timestamp BIGINT NOT NULL,
    PRIMARY KEY (business_id, our_jid, ciphertext_hash),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_retry_buffer (
    business_id TEXT NOT NULL,
    our_jid     TEXT NOT NULL,
    chat_jid    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('wa', 'fb')),
    plaintext   BYTEA NOT NULL,
    timestamp   BIGINT NOT NULL,
    PRIMARY KEY (business_id, our_jid, chat_jid, message_id),
    FOREIGN KEY (business_id, our_jid) REFERENCES whatsmeow_device (business_id, jid)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX whatsmeow_retry_buffer_timestamp_idx ON whatsmeow_retry_buffer (business_id, our_jid, timestamp);

-- Lookups by account alone (e.g. deleting or exporting one business).
CREATE INDEX whatsmeow_sessions_business_idx ON whatsmeow_sessions (business_id, our_jid);
CREATE INDEX whatsmeow_identity_keys_business_idx ON whatsmeow_identity_keys (business_id, our_jid);
CREATE INDEX whatsmeow_contacts_business_idx ON whatsmeow_contacts (business_id, our_jid);
