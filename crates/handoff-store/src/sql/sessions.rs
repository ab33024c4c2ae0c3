//! Sessions, and purging whatever has expired.

use async_trait::async_trait;
use handoff_core::ids::{SessionId, UserId};
use handoff_core::model::Session;
use handoff_core::store::{Sessions, StoreResult};

use super::rows::session;
use super::SqlStore;
use crate::backend;

#[async_trait]
impl Sessions for SqlStore {
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        sqlx::query(
            "SELECT id, secret_digest, user_id, organization_id, partner_id, embed, created_at, last_seen_at, \
             expires_at FROM sessions WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(session)
        .transpose()
    }

    async fn touch_session(&self, id: SessionId, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, id: SessionId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user_sessions(&self, user: UserId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(idle_cutoff)
            .execute(&mut tx)
            .await
            .map_err(backend)?;
        let failures = sqlx::query("DELETE FROM auth_failures WHERE window_start < $1")
            .bind(now - 86_400)
            .execute(&mut tx)
            .await
            .map_err(backend)?;
        let events = sqlx::query("DELETE FROM webhook_events WHERE expires_at < $1")
            .bind(now)
            .execute(&mut tx)
            .await
            .map_err(backend)?;
        // A consumed token can be forgotten once it could no longer verify anyway.
        let tokens = sqlx::query("DELETE FROM consumed_tokens WHERE expires_at < $1")
            .bind(now - 3600)
            .execute(&mut tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(sessions.rows_affected() + tokens.rows_affected() + events.rows_affected() + failures.rows_affected())
    }
}
