//! Reading the audit log (it is appended to through the journal), and pruning it in batches.

use async_trait::async_trait;
use handoff_core::model::{AuditFilter, AuditRange, AuditRecord};
use handoff_core::store::{Audit, Pruned, StoreResult};
use sqlx::Row;

use super::rows::audit_record;
use super::SqlStore;
use crate::backend;

/// The columns every read of whole records selects.
const RECORD_COLUMNS: &str =
    "id, at, kind, outcome, reason, partner_id, organization_id, user_id, client_addr, request_id, detail";

#[async_trait]
impl Audit for SqlStore {
    async fn audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE 1 = 1");
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        let text_filters = [
            ("kind", f.kind.clone()),
            ("outcome", f.outcome.map(|o| o.as_str().to_owned())),
            ("reason", f.reason.clone()),
            ("partner_id", f.partner_id.clone()),
            ("organization_id", f.organization_id.clone()),
            ("user_id", f.user_id.clone()),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                texts.push(value);
                sql.push_str(&format!(" AND {column} = ${}", texts.len()));
            }
        }
        for (condition, value) in [("at >=", f.since), ("at <", f.until), ("id <", f.before)] {
            if let Some(value) = value {
                numbers.push(value);
                sql.push_str(&format!(" AND {condition} ${}", texts.len() + numbers.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", texts.len() + numbers.len() + 1));
        let mut query = sqlx::query(&sql);
        for value in texts {
            query = query.bind(value);
        }
        for value in numbers {
            query = query.bind(value);
        }
        // 1001: a page of the largest size (1000) and one more, to know whether another follows.
        query
            .bind(i64::from(f.limit.clamp(1, 1001)))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(audit_record)
            .collect()
    }

    /// The range's lower bound is the cursor's `at` once there is one, so each page starts its
    /// index scan where the previous one ended.
    async fn audit_range(&self, range: &AuditRange) -> StoreResult<Vec<AuditRecord>> {
        let (from, after_id) = match range.after {
            Some((at, id)) => (at, id),
            None => (range.since.unwrap_or(i64::MIN), i64::MIN),
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM audit_log WHERE at >= $1 AND at < $2 AND id <= $3 AND (at > $1 OR id > $4) \
             ORDER BY at, id LIMIT $5"
        );
        sqlx::query(&sql)
            .bind(from)
            .bind(range.until.unwrap_or(i64::MAX))
            .bind(range.newest)
            .bind(after_id)
            .bind(i64::from(range.limit.clamp(1, 1000)))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(audit_record)
            .collect()
    }

    async fn oldest_audit(&self) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT MIN(at) FROM audit_log").fetch_one(&self.pool).await.map_err(backend)?;
        row.try_get::<Option<i64>, _>(0).map_err(backend)
    }

    async fn prune_audit(&self, before: i64, limit: u32) -> StoreResult<Pruned> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(lock) = self.dialect.prune_lock() {
            let row = sqlx::query(lock).fetch_one(&mut tx).await.map_err(backend)?;
            if !row.try_get::<bool, _>(0).map_err(backend)? {
                tx.rollback().await.map_err(backend)?;
                return Ok(Pruned::Busy);
            }
        }
        // Through the index on `at`: the batch's rows, never a scan of the log.
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit.max(1)))
        .execute(&mut tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Pruned::Removed(done.rows_affected()))
    }
}
