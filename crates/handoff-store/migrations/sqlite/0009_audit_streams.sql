-- Audit event streams: a cursor per stream over the audit log, no second copy of any record.
-- A cursor is (tx, id) in commit order. SQLite has one writer per file, so id order is commit
-- order and tx is always 0 (the column exists so that both backends have the same schema, which
-- `handoff db copy` relies on; copied rows keep tx 0 and stay in order behind PostgreSQL's).
-- No index on (tx, id) here: streams read the rowid range, and every insert would pay for it.
ALTER TABLE audit_log ADD COLUMN tx INTEGER NOT NULL DEFAULT 0;

CREATE TABLE audit_streams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'jsonl')),
    url TEXT,
    path TEXT,
    -- JSON arrays of audit kinds (or `prefix.*`) and outcomes; empty selects every record.
    kinds TEXT NOT NULL,
    outcomes TEXT NOT NULL,
    -- The webhook secret, sealed with the master key.
    secret_sealed BLOB,
    paused INTEGER NOT NULL,
    cursor_tx INTEGER NOT NULL,
    cursor_id INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    last_error TEXT,
    -- Unix milliseconds.
    next_attempt_at INTEGER NOT NULL,
    last_delivered_at INTEGER,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
