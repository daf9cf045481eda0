-- Account registry, cluster settings and HA bookkeeping.

-- Cluster-wide settings. lock_keys = hashtext | hashtextextended (absent = hashtext); the first pod
-- or CLI that needs it stores its --lock-keys, later ones must agree.
CREATE TABLE wa_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT wa_settings_lock_keys_value
        CHECK (key <> 'lock_keys' OR value IN ('hashtext', 'hashtextextended'))
);

-- The advisory-lock key of an account, computed here so that every pod locks the same bigint:
-- hashtext(jid) once paired, hashtext('pair:' || business_id) before; 64-bit variant on request.
CREATE FUNCTION wa_lock_key(p_jid TEXT, p_business_id TEXT) RETURNS BIGINT
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN coalesce((SELECT value FROM wa_settings WHERE key = 'lock_keys'), 'hashtext')
                     = 'hashtextextended'
                THEN hashtextextended(coalesce(p_jid, 'pair:' || p_business_id), 0)
                ELSE hashtext(coalesce(p_jid, 'pair:' || p_business_id))::bigint
           END
$$;

CREATE TABLE wa_accounts (
    business_id           TEXT PRIMARY KEY
                          CHECK (business_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    jid                   TEXT UNIQUE,
    status                TEXT NOT NULL DEFAULT 'disconnected'
                          CHECK (status IN ('qr_scanning', 'authenticated', 'connected',
                                            'disconnected', 'logged_out', 'failed')),
    lock_key              BIGINT NOT NULL,
    lease_epoch           BIGINT NOT NULL DEFAULT 0,
    assigned_pod          TEXT,
    previous_pod          TEXT,
    failover_count        BIGINT NOT NULL DEFAULT 0,
    last_failover_at      TIMESTAMPTZ,
    last_connected_at     TIMESTAMPTZ,
    last_activity_at      TIMESTAMPTZ,
    disconnected_at       TIMESTAMPTZ,
    disconnect_reason     TEXT
                          CHECK (disconnect_reason IN ('user_initiated', 'instance_restart', 'timeout',
                                                       'error', 'qr_expired', 'replaced', 'logged_out',
                                                       'lock_lost', 'unknown')),
    disconnect_details    TEXT,
    session_restore_count BIGINT NOT NULL DEFAULT 0,
    health_score          INTEGER NOT NULL DEFAULT 100 CHECK (health_score BETWEEN 0 AND 100),
    qr_code               TEXT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Two accounts on one key would share one lock (one leader for both). Deferrable so that a
    -- rekey can permute keys inside one statement.
    CONSTRAINT wa_accounts_lock_key_unique UNIQUE (lock_key) DEFERRABLE INITIALLY IMMEDIATE
);

-- One row per pod; informational (exclusion comes from advisory locks, not from this table).
CREATE TABLE ha_members (
    pod          TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    version      TEXT NOT NULL,
    accounts_led INTEGER NOT NULL DEFAULT 0,
    backend_pid  INTEGER NOT NULL DEFAULT 0
);

-- Append-only history of leadership transitions.
CREATE TABLE ha_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    business_id TEXT NOT NULL,
    pod         TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('acquired', 'resigned', 'fenced', 'lost', 'takeover')),
    epoch       BIGINT,
    duration_ms BIGINT,
    details     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ha_events_business_id_idx ON ha_events (business_id, id);

CREATE FUNCTION ha_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ha_events is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER ha_events_append_only BEFORE UPDATE OR DELETE ON ha_events
    FOR EACH ROW EXECUTE FUNCTION ha_events_append_only();
