-- Bearer tokens of the application interface (issue 9). A token belongs to one business; it is
-- shown once when created and stored only as its SHA-256, so a database dump yields no usable
-- token. `id` is the token's public part (it is also inside the token), so a request finds its row
-- by id and compares the hash in constant time instead of searching by the secret.
CREATE TABLE wa_api_tokens (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    business_id TEXT NOT NULL REFERENCES wa_accounts (business_id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    token_hash  BYTEA NOT NULL CHECK (length(token_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);

CREATE INDEX wa_api_tokens_business ON wa_api_tokens (business_id);
