//! Partners and the organizations they are linked to.

use async_trait::async_trait;
use handoff_core::ids::{OrganizationId, PartnerId};
use handoff_core::model::{Organization, PageRequest, Partner};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{Partners, StoreResult};

use super::rows::{partner, previous_parts, to_json};
use super::{unlink_row, SqlStore, PARTNER_LINKS};
use crate::{backend, conflict_or_backend};

const PARTNER_COLUMNS: &str = "id, name, embed_origins, allowed_path_prefixes, secret_digest, \
    previous_secret_digest, previous_secret_expires_at, created_at";

#[async_trait]
impl Partners for SqlStore {
    async fn create_partner(&self, p: &Partner) -> StoreResult<()> {
        let (prev, prev_at) = previous_parts(&p.credential);
        sqlx::query(&format!("INSERT INTO partners ({PARTNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(p.id.to_string())
            .bind(&p.name)
            .bind(to_json(&p.embed_origins))
            .bind(to_json(&p.allowed_path_prefixes))
            .bind(p.credential.current.as_bytes().as_slice())
            .bind(prev)
            .bind(prev_at)
            .bind(p.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or_backend(e, "partner id"))?;
        Ok(())
    }

    async fn partner(&self, id: PartnerId) -> StoreResult<Option<Partner>> {
        self.fetch_one(&format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id = $1"), &id.to_string(), partner).await
    }

    async fn partners(&self, page: &PageRequest) -> StoreResult<Vec<Partner>> {
        let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id > $1 ORDER BY id LIMIT $2");
        self.fetch_page(&sql, page, partner).await
    }

    async fn set_partner_credential(
        &self,
        id: PartnerId,
        expected: &SecretDigest,
        c: &Credential,
    ) -> StoreResult<bool> {
        self.set_credential("partners", id.to_string(), expected, c).await
    }

    async fn delete_partner(&self, id: PartnerId) -> StoreResult<bool> {
        self.delete_by_id("partners", id.to_string()).await
    }

    async fn link(&self, partner: PartnerId, organization: OrganizationId, now: i64) -> StoreResult<()> {
        self.link_rows(PARTNER_LINKS, partner.to_string(), organization, now).await
    }

    async fn unlink(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool> {
        let (partner, organization) = (partner.to_string(), organization.to_string());
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let unlinked = unlink_row(&mut tx, PARTNER_LINKS, &partner, &organization).await?;
        sqlx::query("DELETE FROM sessions WHERE partner_id = $1 AND organization_id = $2")
            .bind(&partner)
            .bind(&organization)
            .execute(&mut tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(unlinked)
    }

    async fn is_linked(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool> {
        self.is_linked_row(PARTNER_LINKS, partner.to_string(), organization).await
    }

    async fn linked_organizations(&self, partner: PartnerId) -> StoreResult<Vec<Organization>> {
        self.linked_rows(PARTNER_LINKS, partner.to_string()).await
    }

    async fn partners_linked_to(&self, organization: OrganizationId) -> StoreResult<Vec<Partner>> {
        let sql = format!(
            "SELECT {PARTNER_COLUMNS} FROM partners WHERE id IN \
             (SELECT partner_id FROM partner_organizations WHERE organization_id = $1) ORDER BY id"
        );
        let rows = sqlx::query(&sql).bind(organization.to_string()).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(partner).collect()
    }
}
