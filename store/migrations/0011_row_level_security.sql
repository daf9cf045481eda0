-- Row-level security per business (issue 13, docs/security.md). Pods connect as a login role that
-- is a member of waconnector_app: it reads and writes rows, never changes the schema, and sees only
-- the rows of the businesses named by the setting waconnector.business_id, which the store sets per
-- transaction (set_config(..., true); store/pg.h TenantScope) as a comma-separated list. The role
-- that runs `waconnector migrate` owns the tables; FORCE subjects it to the policies too.
--
-- Roles are cluster-wide while migrations run per database: a role may already exist (another
-- database of the cluster, a test running beside this one), so creating one tolerates that.
DO $$
BEGIN
    BEGIN
        CREATE ROLE waconnector_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    -- Members may read every account's id (and nothing else of other accounts): the owner of the
    -- SECURITY DEFINER function below is made one.
    BEGIN
        CREATE ROLE waconnector_registry NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

GRANT waconnector_registry TO CURRENT_USER;

-- What a pod needs, and no more: no TRUNCATE, REFERENCES or TRIGGER, no DDL, and only reads and
-- inserts where rows are history or settings.
GRANT USAGE ON SCHEMA public TO waconnector_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    wa_accounts, wa_devices, wa_device_pre_keys, wa_pair_code_requests, wa_pairings,
    wa_signal_sessions, wa_signal_identities, wa_signal_sender_keys,
    wa_inbox_cursors, wa_inbox, wa_outbox, wa_lid_map,
    wa_api_tokens, wa_events, wa_webhooks, wa_webhook_deliveries,
    ha_members
    TO waconnector_app;
GRANT SELECT, INSERT ON wa_settings, ha_events TO waconnector_app;
-- `keys rotate` may run from a pod: it re-wraps data keys (no business data in this table).
GRANT SELECT, INSERT, UPDATE ON wa_data_keys TO waconnector_app;
GRANT SELECT ON wa_schema_migrations TO waconnector_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO waconnector_app;

-- Every table with a business_id column: RLS enabled and FORCED (the owner too), one policy for
-- reads and writes. The setting unset or empty matches nothing. tests/security enumerates the same
-- tables from the catalog, so a later table without its policy fails there.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
             ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY wa_tenant ON %I'
                       ' USING (business_id = ANY (string_to_array(current_setting(''waconnector.business_id'', true), '','')))'
                       ' WITH CHECK (business_id = ANY (string_to_array(current_setting(''waconnector.business_id'', true), '','')))',
                       t);
    END LOOP;
END
$$;

CREATE POLICY wa_registry ON wa_accounts FOR SELECT TO waconnector_registry USING (true);
CREATE POLICY wa_registry ON wa_api_tokens FOR SELECT TO waconnector_registry USING (true);

-- Cross-account work, narrowly. The elector (and `accounts list`) must know which accounts exist
-- before it can name them: this returns the ids and nothing else. SECURITY DEFINER with a fixed
-- search_path, so a caller's objects cannot stand in for ours.
CREATE FUNCTION wa_account_ids() RETURNS SETOF TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT business_id FROM public.wa_accounts ORDER BY business_id
$$;
REVOKE EXECUTE ON FUNCTION wa_account_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wa_account_ids() TO waconnector_app;

-- Registering an account or pairing it must refuse a lock key or jid that another account already
-- has, and name that account (store/accounts.cpp): the one other business id, nothing else.
CREATE FUNCTION wa_account_with_lock_key(p_lock_key BIGINT, p_except TEXT) RETURNS TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT business_id FROM public.wa_accounts WHERE lock_key = p_lock_key AND business_id <> p_except LIMIT 1
$$;
CREATE FUNCTION wa_account_with_jid(p_jid TEXT, p_except TEXT) RETURNS TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT business_id FROM public.wa_accounts WHERE jid = p_jid AND business_id <> p_except LIMIT 1
$$;
REVOKE EXECUTE ON FUNCTION wa_account_with_lock_key(BIGINT, TEXT), wa_account_with_jid(TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wa_account_with_lock_key(BIGINT, TEXT), wa_account_with_jid(TEXT, TEXT)
    TO waconnector_app;

-- A request presents an API token before anyone knows its business: the token's id (its public
-- part) leads to the business, and nothing else of the row.
CREATE FUNCTION wa_api_token_business(p_id TEXT) RETURNS TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT business_id FROM public.wa_api_tokens WHERE id = p_id
$$;
REVOKE EXECUTE ON FUNCTION wa_api_token_business(TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wa_api_token_business(TEXT) TO waconnector_app;

-- The lock session sends its statements asynchronously, one at a time, so it cannot put a
-- set_config before them in the same transaction. These two run as the caller (RLS applies) and
-- scope themselves to the one business they were asked about. The epoch expression is
-- store/accounts.h kNextLeaseEpochSql (the bump with the timeline in the high bits).
CREATE FUNCTION wa_begin_lease(p_business_id TEXT, p_pod TEXT, p_lock_key BIGINT, p_class INTEGER)
RETURNS TABLE (lease_epoch BIGINT, previous_pod TEXT, previous_alive BOOLEAN, previous_epoch BIGINT)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM set_config('waconnector.business_id', p_business_id, true);
    RETURN QUERY
    WITH prev AS (SELECT a.lease_epoch FROM wa_accounts a WHERE a.business_id = p_business_id)
    UPDATE wa_accounts a SET lease_epoch = GREATEST(a.lease_epoch + 1,
            ((('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint - 1) << 32)),
        assigned_pod = p_pod,
        previous_pod = a.assigned_pod,
        failover_count = a.failover_count
            + CASE WHEN a.assigned_pod IS NOT NULL AND a.assigned_pod <> p_pod THEN 1 ELSE 0 END,
        last_failover_at = CASE WHEN a.assigned_pod IS NOT NULL AND a.assigned_pod <> p_pod
            THEN now() ELSE a.last_failover_at END,
        updated_at = now()
    WHERE a.business_id = p_business_id
      AND (p_lock_key IS NULL OR (a.lock_key = p_lock_key AND a.status <> 'logged_out'))
    RETURNING a.lease_epoch, a.previous_pod,
        a.previous_pod IS NOT NULL AND a.previous_pod <> p_pod AND EXISTS (
            SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
              AND l.classid = p_class::oid AND l.objid = hashtext('pod:' || a.previous_pod)::oid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())),
        (SELECT prev.lease_epoch FROM prev);
END
$$;

CREATE FUNCTION wa_previous_leader_active(p_class INTEGER, p_pod TEXT, p_business_id TEXT, p_epoch BIGINT)
RETURNS BOOLEAN
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM set_config('waconnector.business_id', p_business_id, true);
    RETURN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted
                     AND classid = p_class::oid AND objid = hashtext('pod:' || p_pod)::oid
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
       AND NOT EXISTS (SELECT 1 FROM ha_events WHERE business_id = p_business_id AND pod = p_pod
                         AND kind IN ('fenced', 'resigned', 'lost') AND epoch >= p_epoch);
END
$$;
