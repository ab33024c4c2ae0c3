-- Outbound webhook SSO (seed 002, portal side): suppliers handoff's users launch into.

CREATE TABLE suppliers (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    secret_sealed BYTEA NOT NULL,
    previous_secret_sealed BYTEA,
    previous_secret_expires_at BIGINT,
    signature_profile TEXT NOT NULL,
    allowed_redirect_hosts TEXT NOT NULL,  -- JSON array of host names
    timeout_seconds BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
