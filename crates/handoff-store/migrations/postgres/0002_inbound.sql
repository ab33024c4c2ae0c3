-- Inbound webhook SSO (seed 002): integrations and the replay memory of their event ids.

CREATE TABLE inbound_integrations (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_sealed BYTEA NOT NULL,
    previous_secret_sealed BYTEA,
    previous_secret_expires_at BIGINT,
    signature_profile TEXT NOT NULL,
    tolerance_seconds BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    unknown_user TEXT NOT NULL CHECK (unknown_user IN ('provision', 'register', 'reject')),
    register_url TEXT,
    landing_path TEXT NOT NULL,
    sandbox BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

-- The primary key is what refuses a replayed event, on every node at once.
CREATE TABLE webhook_events (
    integration_id TEXT NOT NULL REFERENCES inbound_integrations (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (integration_id, event_id)
);
CREATE INDEX webhook_events_expiry ON webhook_events (expires_at);
