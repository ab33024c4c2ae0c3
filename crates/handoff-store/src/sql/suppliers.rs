//! Outbound launch suppliers.

use async_trait::async_trait;
use handoff_core::ids::SupplierId;
use handoff_core::model::{PageRequest, SealedSecrets, Supplier};
use handoff_core::store::{StoreResult, Suppliers};

use super::rows::{supplier, to_json};
use super::SqlStore;
use crate::conflict_or_backend;

const SUPPLIER_COLUMNS: &str = "id, slug, name, endpoint, secret_sealed, previous_secret_sealed, \
    previous_secret_expires_at, signature_profile, allowed_redirect_hosts, timeout_seconds, event_type, created_at";

#[async_trait]
impl Suppliers for SqlStore {
    async fn create_supplier(&self, s: &Supplier) -> StoreResult<()> {
        let (previous, previous_at) = s.secrets.previous.clone().unzip();
        sqlx::query(&format!(
            "INSERT INTO suppliers ({SUPPLIER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(s.id.to_string())
        .bind(&s.slug)
        .bind(&s.name)
        .bind(&s.endpoint)
        .bind(&s.secrets.current)
        .bind(previous)
        .bind(previous_at)
        .bind(s.signature_profile.as_str())
        .bind(to_json(&s.allowed_redirect_hosts))
        .bind(s.timeout_seconds)
        .bind(&s.event_type)
        .bind(s.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or_backend(e, "a supplier with this slug exists"))?;
        Ok(())
    }

    async fn supplier(&self, id: SupplierId) -> StoreResult<Option<Supplier>> {
        self.fetch_one(&format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE id = $1"), &id.to_string(), supplier)
            .await
    }

    async fn supplier_by_slug(&self, slug: &str) -> StoreResult<Option<Supplier>> {
        self.fetch_one(&format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE slug = $1"), slug, supplier).await
    }

    async fn suppliers(&self, page: &PageRequest) -> StoreResult<Vec<Supplier>> {
        let sql = format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE id > $1 ORDER BY id LIMIT $2");
        self.fetch_page(&sql, page, supplier).await
    }

    async fn set_supplier_secrets(
        &self,
        id: SupplierId,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool> {
        self.set_sealed_secrets("suppliers", id.to_string(), expected, secrets).await
    }

    async fn delete_supplier(&self, id: SupplierId) -> StoreResult<bool> {
        self.delete_by_id("suppliers", id.to_string()).await
    }
}
