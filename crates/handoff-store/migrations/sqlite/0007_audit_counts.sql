-- The audit log rolled up by hour: what the overview counts, kept by the journal in the same
-- transaction as the audit records it counts, so reading it never scans the log.
-- `hour` is the Unix time of the hour's start; `outcome` is '' for a record without one.
CREATE TABLE audit_counts (
    hour INTEGER NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, outcome, reason)
) WITHOUT ROWID;

INSERT INTO audit_counts (hour, kind, outcome, reason, count)
    SELECT at - at % 3600, kind, COALESCE(outcome, ''), reason, COUNT(*)
    FROM audit_log
    GROUP BY at - at % 3600, kind, COALESCE(outcome, ''), reason;
