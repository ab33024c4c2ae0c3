//! Organizations with their numbers.

use async_trait::async_trait;
use handoff_core::ids::OrganizationId;
use handoff_core::model::{Organization, PageRequest};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{Organizations, StoreResult};

use super::rows::{organization, previous_parts};
use super::SqlStore;
use crate::{backend, conflict_or_backend};

impl SqlStore {
    pub(super) fn organization_columns(&self) -> String {
        format!(
            "o.id, o.name, o.secret_digest, o.previous_secret_digest, o.previous_secret_expires_at, o.created_at, \
             {} AS org_numbers",
            self.dialect.org_numbers()
        )
    }
}

#[async_trait]
impl Organizations for SqlStore {
    async fn create_organization(&self, o: &Organization) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let (prev, prev_at) = previous_parts(&o.credential);
        sqlx::query(
            "INSERT INTO organizations (id, name, secret_digest, previous_secret_digest, previous_secret_expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(o.id.to_string())
        .bind(&o.name)
        .bind(o.credential.current.as_bytes().as_slice())
        .bind(prev)
        .bind(prev_at)
        .bind(o.created_at)
        .execute(&mut tx)
        .await
        .map_err(|e| conflict_or_backend(e, "organization id"))?;
        for number in &o.org_numbers {
            sqlx::query("INSERT INTO organization_numbers (org_number, organization_id) VALUES ($1, $2)")
                .bind(number)
                .bind(o.id.to_string())
                .execute(&mut tx)
                .await
                .map_err(|e| conflict_or_backend(e, &format!("org number {number} is taken")))?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Option<Organization>> {
        let sql = format!("SELECT {} FROM organizations o WHERE o.id = $1", self.organization_columns());
        self.fetch_one(&sql, &id.to_string(), organization).await
    }

    async fn organization_by_number(&self, org_number: &str) -> StoreResult<Option<Organization>> {
        let sql = format!(
            "SELECT {} FROM organizations o \
             JOIN organization_numbers m ON m.organization_id = o.id WHERE m.org_number = $1",
            self.organization_columns()
        );
        self.fetch_one(&sql, org_number, organization).await
    }

    async fn organizations(&self, page: &PageRequest) -> StoreResult<Vec<Organization>> {
        let sql = format!(
            "SELECT {} FROM organizations o WHERE o.id > $1 ORDER BY o.id LIMIT $2",
            self.organization_columns()
        );
        self.fetch_page(&sql, page, organization).await
    }

    async fn set_organization_credential(
        &self,
        id: OrganizationId,
        expected: &SecretDigest,
        c: &Credential,
    ) -> StoreResult<bool> {
        self.set_credential("organizations", id.to_string(), expected, c).await
    }

    async fn delete_organization(&self, id: OrganizationId) -> StoreResult<bool> {
        self.delete_by_id("organizations", id.to_string()).await
    }
}
