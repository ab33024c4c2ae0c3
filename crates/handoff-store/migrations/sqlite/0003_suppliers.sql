-- Outbound webhook SSO (seed 002, portal side): suppliers handoff's users launch into.

CREATE TABLE suppliers (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    previous_secret_sealed BLOB,
    previous_secret_expires_at INTEGER,
    signature_profile TEXT NOT NULL,
    allowed_redirect_hosts TEXT NOT NULL,  -- JSON array of host names
    timeout_seconds INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
