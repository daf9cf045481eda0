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

-- A tenant database's copy of the account events written in the control database (the registry's
-- status and leader changes): the leader relays them (store::relay_account_events) so that a tenant
-- account's SSE stream and webhooks, which read the tenant database, carry them too. The cursor of
-- what was relayed is kept in the shadow row; an event keeps its id (the webhook-id), so a relay
-- repeated after a crash adds nothing.
ALTER TABLE wa_accounts ADD COLUMN relayed_events_tx TEXT NOT NULL DEFAULT '0',
                        ADD COLUMN relayed_events_seq BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION wa_relay_event(p_id TEXT, p_business_id TEXT, p_type TEXT, p_data JSONB,
                               p_created_at TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wa_events (id, business_id, type, data, created_at)
        VALUES (p_id, p_business_id, p_type, p_data, p_created_at) ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    INSERT INTO wa_webhook_deliveries (webhook_id, business_id, event_id)
        SELECT id, p_business_id, p_id FROM wa_webhooks
        WHERE business_id = p_business_id AND disabled_at IS NULL
          AND (p_type = ANY (events) OR '*' = ANY (events));
    IF FOUND THEN
        PERFORM pg_notify('wa_webhook', p_business_id);
    END IF;
    RETURN TRUE;
END
$$;

-- The epoch copy into a tenant database (store::copy_lease_epoch sets waconnector.epoch_copy) is
-- not an account.leader event of its own: the control database's, relayed, is the one.
CREATE OR REPLACE FUNCTION wa_account_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('waconnector.epoch_copy', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM wa_emit_event(NEW.business_id, 'account.status', jsonb_build_object(
            'status', NEW.status, 'reason', NEW.disconnect_reason));
    END IF;
    IF NEW.lease_epoch IS DISTINCT FROM OLD.lease_epoch THEN
        PERFORM wa_emit_event(NEW.business_id, 'account.leader', jsonb_build_object(
            'old_pod', OLD.assigned_pod, 'new_pod', NEW.assigned_pod, 'epoch', NEW.lease_epoch,
            'failover', NEW.failover_count > OLD.failover_count));
    END IF;
    RETURN NULL;
END
$$;
