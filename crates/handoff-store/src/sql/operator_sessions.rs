//! The web console's operator sessions, and purging the expired ones.

use async_trait::async_trait;
use handoff_core::ids::OperatorSessionId;
use handoff_core::model::OperatorSession;
use handoff_core::store::{OperatorSessions, StoreResult};

use super::rows::operator_session;
use super::SqlStore;
use crate::backend;

#[async_trait]
impl OperatorSessions for SqlStore {
    async fn create_operator_session(&self, session: &OperatorSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operator_sessions (id, secret_digest, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id.to_string())
        .bind(session.secret_digest.as_bytes().as_slice())
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn operator_session(&self, id: OperatorSessionId) -> StoreResult<Option<OperatorSession>> {
        self.fetch_one(
            "SELECT id, secret_digest, created_at, last_seen_at, expires_at FROM operator_sessions WHERE id = $1",
            &id.to_string(),
            operator_session,
        )
        .await
    }

    async fn touch_operator_session(&self, id: OperatorSessionId, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE operator_sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_operator_session(&self, id: OperatorSessionId) -> StoreResult<bool> {
        self.delete_by_id("operator_sessions", id.to_string()).await
    }

    async fn purge_operator_sessions(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(idle_cutoff)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
