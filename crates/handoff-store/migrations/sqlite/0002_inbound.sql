-- Inbound webhook SSO (seed 002): integrations and the replay memory of their event ids.

CREATE TABLE inbound_integrations (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    previous_secret_sealed BLOB,
    previous_secret_expires_at INTEGER,
    signature_profile TEXT NOT NULL,
    tolerance_seconds INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    unknown_user TEXT NOT NULL CHECK (unknown_user IN ('provision', 'register', 'reject')),
    register_url TEXT,
    landing_path TEXT NOT NULL,
    sandbox INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- The primary key is what refuses a replayed event, on every node at once.
CREATE TABLE webhook_events (
    integration_id TEXT NOT NULL REFERENCES inbound_integrations (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (integration_id, event_id)
) WITHOUT ROWID;
CREATE INDEX webhook_events_expiry ON webhook_events (expires_at);
