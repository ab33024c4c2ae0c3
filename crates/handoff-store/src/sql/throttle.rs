//! Failed-authentication counters, shared by every node.

use async_trait::async_trait;
use handoff_core::store::{StoreResult, Throttle};
use sqlx::Row;

use super::SqlStore;
use crate::backend;

#[async_trait]
impl Throttle for SqlStore {
    async fn record_failure(&self, key: &str, now: i64, window_seconds: i64) -> StoreResult<(i64, i64)> {
        // One statement: the increment is atomic however many nodes fail at once.
        let row = sqlx::query(
            "INSERT INTO auth_failures (key, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN auth_failures.window_start + $3 <= $2 THEN 1 ELSE auth_failures.count + 1 END, \
             window_start = CASE WHEN auth_failures.window_start + $3 <= $2 THEN $2 ELSE auth_failures.window_start END \
             RETURNING window_start, count",
        )
        .bind(key)
        .bind(now)
        .bind(window_seconds)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok((row.try_get("window_start").map_err(backend)?, row.try_get("count").map_err(backend)?))
    }

    async fn failures(&self, key: &str) -> StoreResult<Option<(i64, i64)>> {
        let row = sqlx::query("SELECT window_start, count FROM auth_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| Ok((row.try_get("window_start").map_err(backend)?, row.try_get("count").map_err(backend)?)))
            .transpose()
    }
}
