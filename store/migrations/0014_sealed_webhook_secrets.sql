-- Webhook signing secrets sealed at rest like the device keys (0010, store/sealing.h,
-- docs/security.md): AES-256-GCM under a data key, the business_id and the column
-- (wa_webhooks.secret / wa_webhooks.previous_secret) bound as associated data, the data key named
-- per row. A sealed row keeps its secrets in the BYTEA columns and NULL in the TEXT ones; a plain
-- row (data_key_id NULL: written before this migration, or by a process without a KEK) the other
-- way round. The check makes a binary older than this migration fail loudly when it rotates a
-- sealed row's secret, instead of writing a plain secret next to a sealed one.
--
-- Existing rows stay plain here (SQL has no KEK): `waconnector keys seal`, run once every pod runs
-- this version, seals them (compare-and-swap per row), and each is sealed by its next rotation.
ALTER TABLE wa_webhooks
    ADD COLUMN data_key_id            INTEGER REFERENCES wa_data_keys (id),
    ADD COLUMN secret_sealed          BYTEA,
    ADD COLUMN previous_secret_sealed BYTEA,
    ALTER COLUMN secret DROP NOT NULL,
    ADD CONSTRAINT wa_webhooks_secret_sealed CHECK (
        CASE WHEN data_key_id IS NULL
             THEN secret IS NOT NULL AND secret_sealed IS NULL AND previous_secret_sealed IS NULL
             ELSE secret IS NULL AND previous_secret IS NULL AND secret_sealed IS NOT NULL END);

-- 'webhook_secrets' = 'sealed' once `keys seal` left no plain webhook secret: plain ones are
-- refused from then on. Separate from 'key_material', which a database may have recorded before
-- this migration while its webhook secrets were still plain.
ALTER TABLE wa_settings ADD CONSTRAINT wa_settings_webhook_secrets_value
    CHECK (key <> 'webhook_secrets' OR value IN ('sealed'));
