-- The web console's operator sessions, opened with the admin token. Stored like portal sessions:
-- found by a time-ordered id (the cookie's public half) and checked against the digest of the
-- cookie's secret half. They belong to no user or organization.

CREATE TABLE operator_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_digest BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
