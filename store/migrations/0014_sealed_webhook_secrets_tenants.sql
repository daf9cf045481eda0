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

-- A database per tenant (optional, store/tenants.h, docs/security.md): an account listed here keeps
-- its device, Signal, inbox and outbox rows in its own database; the election (lock keys,
-- ha_members, ha_events) and the registry row stay in this one. The URL holds no password (refused
-- by `accounts add`, and by this check for the URL forms); a pod reads the password at every
-- connection from `password_file` (a mounted Secret), so nothing secret is stored here.
CREATE TABLE wa_tenants (
    business_id   TEXT PRIMARY KEY REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    database_url  TEXT NOT NULL CHECK (length(database_url) <= 1024
                                       AND database_url !~* '^postgres(ql)?://[^/@]*:[^/@]*@'
                                       AND database_url !~* '(^|[ ?&])password='),
    password_file TEXT CHECK (length(password_file) <= 1024),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE wa_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE wa_tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY wa_tenant ON wa_tenants
    USING (business_id = ANY (string_to_array(current_setting('waconnector.business_id', true), ',')))
    WITH CHECK (business_id = ANY (string_to_array(current_setting('waconnector.business_id', true), ',')));
-- Pods only read the mapping; `accounts add` (the owner) writes it.
GRANT SELECT ON wa_tenants TO waconnector_app;
