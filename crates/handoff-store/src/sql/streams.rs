//! Audit streams: their rows, the lease that lets one node deliver each, and their lag. The
//! pages a stream delivers are read by the journal's engine (`Journal::records_after`), which
//! also knows which records are final.

use async_trait::async_trait;
use handoff_core::ids::StreamId;
use handoff_core::store::{Journal as _, StoreResult, StreamLag, Streams};
use handoff_core::stream::{AuditStream, Cursor, StreamRecord};
use sqlx::Row;

use super::rows::{audit_stream, to_json};
use super::SqlStore;
use crate::{backend, conflict_or_backend};

const STREAM_COLUMNS: &str = "id, name, kind, url, path, kinds, outcomes, secret_sealed, paused, cursor_tx, \
    cursor_id, failures, last_error, next_attempt_at, last_delivered_at, lease_owner, lease_until, created_at";

#[async_trait]
impl Streams for SqlStore {
    async fn create_stream(&self, s: &AuditStream) -> StoreResult<()> {
        let outcomes: Vec<String> = s.filter.outcomes.iter().map(|o| o.as_str().to_owned()).collect();
        sqlx::query(&format!(
            "INSERT INTO audit_streams ({STREAM_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, {}, 0, NULL, 0, \
             NULL, NULL, 0, $10",
            self.dialect.stream_head()
        ))
        .bind(s.id.to_string())
        .bind(&s.name)
        .bind(s.kind.as_str())
        .bind(s.url.as_deref())
        .bind(s.path.as_deref())
        .bind(to_json(&s.filter.kinds))
        .bind(to_json(&outcomes))
        .bind(s.secret_sealed.as_deref())
        .bind(s.paused)
        .bind(s.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or_backend(e, "a stream with this name exists"))?;
        Ok(())
    }

    async fn stream(&self, id: StreamId) -> StoreResult<Option<AuditStream>> {
        self.fetch_one(
            &format!("SELECT {STREAM_COLUMNS} FROM audit_streams WHERE id = $1"),
            &id.to_string(),
            audit_stream,
        )
        .await
    }

    async fn streams(&self) -> StoreResult<Vec<AuditStream>> {
        sqlx::query(&format!("SELECT {STREAM_COLUMNS} FROM audit_streams ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(audit_stream)
            .collect()
    }

    async fn delete_stream(&self, id: StreamId) -> StoreResult<bool> {
        self.delete_by_id("audit_streams", id.to_string()).await
    }

    async fn set_stream_paused(&self, id: StreamId, paused: bool) -> StoreResult<bool> {
        let sql = if paused {
            "UPDATE audit_streams SET paused = $1 WHERE id = $2"
        } else {
            "UPDATE audit_streams SET paused = $1, failures = 0, next_attempt_at = 0 WHERE id = $2"
        };
        let done = sqlx::query(sql).bind(paused).bind(id.to_string()).execute(&self.pool).await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn lease_stream(&self, id: StreamId, owner: &str, now: i64, until: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE audit_streams SET lease_owner = $1, lease_until = $2 WHERE id = $3 \
             AND (lease_owner = $1 OR lease_owner IS NULL OR lease_until < $4)",
        )
        .bind(owner)
        .bind(until)
        .bind(id.to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_stream(&self, id: StreamId, owner: &str) -> StoreResult<()> {
        sqlx::query("UPDATE audit_streams SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(id.to_string())
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn stream_records(&self, after: Cursor, limit: u32) -> StoreResult<Vec<StreamRecord>> {
        self.records_after(after, limit.clamp(1, 1000)).await
    }

    async fn advance_stream(
        &self,
        id: StreamId,
        owner: &str,
        to: Cursor,
        delivered_at: Option<i64>,
    ) -> StoreResult<bool> {
        self.move_cursor(id, owner, to, delivered_at).await
    }

    async fn stream_failed(&self, id: StreamId, owner: &str, error: &str, next_attempt_at: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE audit_streams SET failures = failures + 1, last_error = $1, next_attempt_at = $2 \
             WHERE id = $3 AND lease_owner = $4",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn stream_lag(&self, cursor: Cursor) -> StoreResult<StreamLag> {
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS records, MIN(at) AS oldest_at FROM audit_log WHERE {}",
            self.dialect.stream_after()
        );
        let row = sqlx::query(&sql).bind(cursor.tx).bind(cursor.id).fetch_one(&self.pool).await.map_err(backend)?;
        let records: i64 = row.try_get("records").map_err(backend)?;
        Ok(StreamLag {
            records: u64::try_from(records).unwrap_or(0),
            oldest_at: row.try_get("oldest_at").map_err(backend)?,
        })
    }
}
