//! Signing keys, sealed.

use async_trait::async_trait;
use handoff_core::store::{Keys, StoreResult, StoredKey};

use super::rows::stored_key;
use super::SqlStore;
use crate::{backend, conflict_or_backend};

#[async_trait]
impl Keys for SqlStore {
    async fn keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query("SELECT kid, kind, sealed_secret, public, created_at FROM keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(stored_key).collect()
    }

    async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        sqlx::query("INSERT INTO keys (kid, kind, sealed_secret, public, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&k.kid)
            .bind(k.kind.as_str())
            .bind(&k.sealed_secret)
            .bind(&k.public)
            .bind(k.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or_backend(e, "key id"))?;
        Ok(())
    }
}
