-- Audit event streams: a cursor per stream over the audit log, no second copy of any record.
-- A cursor is (tx, id) in commit order. Ids alone are not: transactions on several nodes take
-- ids from the sequence and commit in another order. So every record carries the id of the
-- transaction that wrote it, and a stream reads only records of transactions below the xmin of
-- its snapshot (all of them finished), in (tx, id) order: nothing can later commit behind a
-- cursor. Records written before this migration keep tx NULL and are never streamed (export
-- them with `handoff audit export`). Adding a nullable column and then its default rewrites no
-- table; the index is built once, here.
ALTER TABLE audit_log ADD COLUMN tx BIGINT;
ALTER TABLE audit_log ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX audit_log_stream ON audit_log (tx, id);

CREATE TABLE audit_streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'jsonl')),
    url TEXT,
    path TEXT,
    -- JSON arrays of audit kinds (or `prefix.*`) and outcomes; empty selects every record.
    kinds TEXT NOT NULL,
    outcomes TEXT NOT NULL,
    -- The webhook secret, sealed with the master key.
    secret_sealed BYTEA,
    paused BOOLEAN NOT NULL,
    cursor_tx BIGINT NOT NULL,
    cursor_id BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    last_error TEXT,
    -- Unix milliseconds.
    next_attempt_at BIGINT NOT NULL,
    last_delivered_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
