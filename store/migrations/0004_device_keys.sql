-- The companion device of each account as the client keeps it (core/client/device.h): created
-- before pairing (so whatsmeow_device, keyed by the paired jid, cannot hold it yet), completed by
-- pair-success. One row per account; only the account's current leader writes it, under its lease
-- epoch. Private keys live here: never log these columns.
--
-- usable = false once the phone logged the device out (401 / device_removed): the keys are kept
-- for forensics but never used again; the next pairing replaces the row.
CREATE TABLE wa_devices (
    business_id        TEXT PRIMARY KEY REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    noise_priv         BYTEA NOT NULL CHECK (length(noise_priv) = 32),
    identity_priv      BYTEA NOT NULL CHECK (length(identity_priv) = 32),
    signed_pre_key_id  INTEGER NOT NULL CHECK (signed_pre_key_id >= 0 AND signed_pre_key_id < 16777216),
    signed_pre_key_priv BYTEA NOT NULL CHECK (length(signed_pre_key_priv) = 32),
    signed_pre_key_sig BYTEA NOT NULL CHECK (length(signed_pre_key_sig) = 64),
    registration_id    BIGINT NOT NULL CHECK (registration_id >= 0 AND registration_id < 4294967296),
    adv_secret         BYTEA NOT NULL CHECK (length(adv_secret) = 32),
    jid                TEXT,
    lid                TEXT,
    account            BYTEA,
    platform           TEXT NOT NULL DEFAULT '',
    business_name      TEXT NOT NULL DEFAULT '',
    push_name          TEXT NOT NULL DEFAULT '',
    usable             BOOLEAN NOT NULL DEFAULT true,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One-time pre-keys of the account's device (e2e reference §2.2); deleted with the device row.
CREATE TABLE wa_device_pre_keys (
    business_id TEXT NOT NULL REFERENCES wa_devices (business_id) ON DELETE CASCADE,
    key_id      INTEGER NOT NULL CHECK (key_id > 0 AND key_id < 16777216),
    priv        BYTEA NOT NULL CHECK (length(priv) = 32),
    uploaded    BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (business_id, key_id)
);
