-- Sessions are found by a time-ordered id (the cookie's public half) and checked against the
-- digest of the cookie's secret half: new rows append to the index instead of landing at random
-- places in it. Existing sessions end with this migration (their cookies had no id); users
-- simply sign in again.

DROP TABLE sessions;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    secret_digest BYTEA NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    partner_id TEXT REFERENCES partners (id) ON DELETE CASCADE,
    embed BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_partner ON sessions (partner_id);
