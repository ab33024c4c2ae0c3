//! Inbound webhook integrations and the organizations they serve.

use async_trait::async_trait;
use handoff_core::ids::{IntegrationId, OrganizationId};
use handoff_core::model::{InboundIntegration, Organization, PageRequest, SealedSecrets};
use handoff_core::store::{Inbound, StoreResult};

use super::rows::integration;
use super::{unlink_row, SqlStore, INTEGRATION_LINKS};
use crate::conflict_or_backend;

const INTEGRATION_COLUMNS: &str = "id, slug, name, secret_sealed, previous_secret_sealed, \
    previous_secret_expires_at, signature_profile, tolerance_seconds, event_type, unknown_user, register_url, \
    landing_path, sandbox, created_at";

#[async_trait]
impl Inbound for SqlStore {
    async fn create_integration(&self, i: &InboundIntegration) -> StoreResult<()> {
        let (previous, previous_at) = i.secrets.previous.clone().unzip();
        sqlx::query(&format!(
            "INSERT INTO inbound_integrations ({INTEGRATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(i.id.to_string())
        .bind(&i.slug)
        .bind(&i.name)
        .bind(&i.secrets.current)
        .bind(previous)
        .bind(previous_at)
        .bind(i.signature_profile.as_str())
        .bind(i.tolerance_seconds)
        .bind(&i.event_type)
        .bind(i.unknown_user.as_str())
        .bind(&i.register_url)
        .bind(&i.landing_path)
        .bind(i.sandbox)
        .bind(i.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or_backend(e, "an integration with this slug exists"))?;
        Ok(())
    }

    async fn integration(&self, id: IntegrationId) -> StoreResult<Option<InboundIntegration>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM inbound_integrations WHERE id = $1");
        self.fetch_one(&sql, &id.to_string(), integration).await
    }

    async fn integration_by_slug(&self, slug: &str) -> StoreResult<Option<InboundIntegration>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM inbound_integrations WHERE slug = $1");
        self.fetch_one(&sql, slug, integration).await
    }

    async fn integrations(&self, page: &PageRequest) -> StoreResult<Vec<InboundIntegration>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM inbound_integrations WHERE id > $1 ORDER BY id LIMIT $2");
        self.fetch_page(&sql, page, integration).await
    }

    async fn set_integration_secrets(
        &self,
        id: IntegrationId,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool> {
        self.set_sealed_secrets("inbound_integrations", id.to_string(), expected, secrets).await
    }

    async fn delete_integration(&self, id: IntegrationId) -> StoreResult<bool> {
        self.delete_by_id("inbound_integrations", id.to_string()).await
    }

    async fn link_integration(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
        now: i64,
    ) -> StoreResult<()> {
        self.link_rows(INTEGRATION_LINKS, integration.to_string(), organization, now).await
    }

    async fn unlink_integration(&self, integration: IntegrationId, organization: OrganizationId) -> StoreResult<bool> {
        unlink_row(&self.pool, INTEGRATION_LINKS, &integration.to_string(), &organization.to_string()).await
    }

    async fn integration_serves(&self, integration: IntegrationId, organization: OrganizationId) -> StoreResult<bool> {
        self.is_linked_row(INTEGRATION_LINKS, integration.to_string(), organization).await
    }

    async fn integration_organizations(&self, integration: IntegrationId) -> StoreResult<Vec<Organization>> {
        self.linked_rows(INTEGRATION_LINKS, integration.to_string()).await
    }
}
