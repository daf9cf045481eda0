-- Key material sealed at rest (store/sealing.h, docs/security.md). Private keys, the ADV secret,
-- Signal session records and sender keys are stored as AES-256-GCM ciphertext under a data key;
-- each row names its data key in data_key_id (NULL: a plain row written before this migration,
-- sealed by its next write or by `waconnector keys seal`).
--
-- Data keys are stored only wrapped by a key-encryption key (KEK) that never reaches the
-- database; kek_id is the KEK's fingerprint. `waconnector keys rotate` re-wraps them (a new KEK),
-- which changes this table only. A data key in use cannot be deleted (the foreign keys).
CREATE TABLE wa_data_keys (
    id           INTEGER PRIMARY KEY CHECK (id > 0),
    kek_id       TEXT NOT NULL CHECK (kek_id ~ '^[0-9a-f]{16}$'),
    wrapped      BYTEA NOT NULL CHECK (length(wrapped) = 60),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    rewrapped_at TIMESTAMPTZ
);

-- Sealed: 1 version byte + 12 nonce + 32 ciphertext + 16 tag = 61 bytes for a 32-byte key. A plain
-- row keeps its old length rule; a plain value written into a sealed row (by a binary older than
-- this migration) is refused by the length rule instead of being silently unreadable.
ALTER TABLE wa_devices
    ADD COLUMN data_key_id INTEGER REFERENCES wa_data_keys (id),
    DROP CONSTRAINT wa_devices_noise_priv_check,
    DROP CONSTRAINT wa_devices_identity_priv_check,
    DROP CONSTRAINT wa_devices_signed_pre_key_priv_check,
    DROP CONSTRAINT wa_devices_adv_secret_check,
    ADD CONSTRAINT wa_devices_key_lengths CHECK (
        length(noise_priv) = CASE WHEN data_key_id IS NULL THEN 32 ELSE 61 END
        AND length(identity_priv) = CASE WHEN data_key_id IS NULL THEN 32 ELSE 61 END
        AND length(signed_pre_key_priv) = CASE WHEN data_key_id IS NULL THEN 32 ELSE 61 END
        AND length(adv_secret) = CASE WHEN data_key_id IS NULL THEN 32 ELSE 61 END);

ALTER TABLE wa_device_pre_keys
    ADD COLUMN data_key_id INTEGER REFERENCES wa_data_keys (id),
    DROP CONSTRAINT wa_device_pre_keys_priv_check,
    ADD CONSTRAINT wa_device_pre_keys_priv_length CHECK (
        length(priv) = CASE WHEN data_key_id IS NULL THEN 32 ELSE 61 END);

ALTER TABLE wa_signal_sessions ADD COLUMN data_key_id INTEGER REFERENCES wa_data_keys (id);
ALTER TABLE wa_signal_sender_keys ADD COLUMN data_key_id INTEGER REFERENCES wa_data_keys (id);

-- 'key_material' = 'sealed' once `waconnector keys seal` left no plain row: plain rows are refused.
ALTER TABLE wa_settings ADD CONSTRAINT wa_settings_key_material_value
    CHECK (key <> 'key_material' OR value IN ('sealed'));
