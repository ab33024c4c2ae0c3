//! Reading what the overview counts: the audit rollup (kept by the journal, see
//! `crate::journal`) and the live sessions.

use async_trait::async_trait;
use handoff_core::store::{AuditCount, Stats, StoreResult};
use sqlx::Row;

use super::rows::audit_count;
use super::SqlStore;
use crate::{backend, failure};

#[async_trait]
impl Stats for SqlStore {
    /// A range of the primary key's first column: at most the hours' rows are read, never the log.
    async fn audit_counts(&self, since: i64, until: i64, width: i64) -> StoreResult<Vec<AuditCount>> {
        sqlx::query(
            "SELECT c.hour - c.hour % $3 AS hour, c.kind, c.outcome, c.reason, CAST(SUM(c.count) AS BIGINT) AS count \
             FROM audit_counts c WHERE c.hour >= $1 AND c.hour < $2 \
             GROUP BY c.hour - c.hour % $3, c.kind, c.outcome, c.reason ORDER BY 1, 2, 3, 4",
        )
        .bind(since)
        .bind(until)
        .bind(width)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(audit_count)
        .collect()
    }

    async fn active_sessions(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND last_seen_at > $2")
            .bind(now)
            .bind(idle_cutoff)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let count: i64 = row.try_get(0).map_err(backend)?;
        u64::try_from(count).map_err(failure)
    }
}
