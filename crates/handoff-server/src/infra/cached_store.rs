//! The store as the services see it: the hot-path reads through this node's TTL caches, and
//! every write that a cached answer depends on invalidating that answer in the same method.
//! Changes made through this node show at once; changes made on another node within
//! [`cache::TTL`](crate::infra::cache::TTL).
//!
//! Must not: cache what the admin API reads (it reads [`CachedStore::fresh`], so an operator sees
//! other nodes' changes at once), or let a caller write past the invalidation.

use std::sync::Arc;

use handoff_core::ids::{IntegrationId, OrganizationId, PartnerId, SessionId, UserId};
use handoff_core::model::{
    InboundIntegration, Organization, Partner, SealedSecrets, Session, StatusSetter, User, UserStatus,
};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{StatusChange, Store, StoreResult};

use crate::infra::cache::Caches;

pub struct CachedStore {
    store: Arc<dyn Store>,
    caches: Caches,
}

impl CachedStore {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, caches: Caches::default() }
    }

    /// The store itself: for reads no cache holds (admin reads, lists, suppliers, keys, the
    /// audit log) and writes no cached answer depends on (new partners and suppliers, supplier
    /// changes, key rows, the group commit).
    pub fn fresh(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub async fn partner(&self, id: PartnerId) -> StoreResult<Option<Arc<Partner>>> {
        let load = async { Ok(self.store.partner(id).await?.map(Arc::new)) };
        self.caches.partners.get_or_load(id, load).await
    }

    pub async fn organization(&self, id: OrganizationId) -> StoreResult<Option<Arc<Organization>>> {
        let load = async { Ok(self.store.organization(id).await?.map(Arc::new)) };
        self.caches.organizations.get_or_load(id, load).await
    }

    pub async fn organization_by_number(&self, org_number: &str) -> StoreResult<Option<Arc<Organization>>> {
        let load = async { Ok(self.store.organization_by_number(org_number).await?.map(Arc::new)) };
        self.caches.organizations_by_number.get_or_load(org_number.to_owned(), load).await
    }

    /// Whether `partner` may act for `organization`.
    pub async fn linked(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool> {
        let load = self.store.is_linked(partner, organization);
        self.caches.links.get_or_load((partner, organization), load).await
    }

    pub async fn user(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        let load = async { Ok(self.store.user(id).await?.map(Arc::new)) };
        self.caches.users.get_or_load(id, load).await
    }

    pub async fn user_by_email(&self, organization: OrganizationId, email: &str) -> StoreResult<Option<Arc<User>>> {
        let load = async { Ok(self.store.user_by_email(organization, email).await?.map(Arc::new)) };
        self.caches.users_by_email.get_or_load((organization, email.to_owned()), load).await
    }

    pub async fn session(&self, id: SessionId) -> StoreResult<Option<Arc<Session>>> {
        let load = async { Ok(self.store.session(id).await?.map(Arc::new)) };
        self.caches.sessions.get_or_load(id, load).await
    }

    pub async fn integration_by_slug(&self, slug: &str) -> StoreResult<Option<Arc<InboundIntegration>>> {
        let load = async { Ok(self.store.integration_by_slug(slug).await?.map(Arc::new)) };
        self.caches.integrations.get_or_load(slug.to_owned(), load).await
    }

    /// Whether the inbound integration may sign in users of `organization`.
    pub async fn integration_serves(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
    ) -> StoreResult<bool> {
        let load = self.store.integration_serves(integration, organization);
        self.caches.integration_links.get_or_load((integration, organization), load).await
    }

    /// The failure window counted under `key`: cached for the cache's lifetime and dropped at
    /// every local failure, so a failure counted on another node shows here at the next local
    /// failure, or within the cache lifetime.
    pub async fn failures(&self, key: &str) -> StoreResult<Option<(i64, i64)>> {
        self.caches.failures.get_or_load(key.to_owned(), self.store.failures(key)).await
    }

    pub async fn record_failure(&self, key: &str, now: i64, window_seconds: i64) -> StoreResult<(i64, i64)> {
        self.caches.failures.remove(&key.to_owned());
        self.store.record_failure(key, now, window_seconds).await
    }

    /// A session's identity token while it is valid until after `fresh_until`.
    pub fn identity_token(&self, session: SessionId, fresh_until: i64) -> Option<Arc<str>> {
        let cached = self.caches.identity_tokens.get(&session);
        cached.filter(|(_, exp)| *exp > fresh_until).map(|(token, _)| token)
    }

    pub fn keep_identity_token(&self, session: SessionId, token: Arc<str>, expires_at: i64) {
        self.caches.identity_tokens.put(session, (token, expires_at));
    }

    pub async fn create_organization(&self, organization: &Organization) -> StoreResult<()> {
        let created = self.store.create_organization(organization).await;
        self.forget_organization(organization.id);
        created
    }

    pub async fn set_organization_credential(
        &self,
        id: OrganizationId,
        expected: &SecretDigest,
        credential: &Credential,
    ) -> StoreResult<bool> {
        let stored = self.store.set_organization_credential(id, expected, credential).await;
        self.forget_organization(id);
        stored
    }

    /// Deletes the organization with its users, links and sessions.
    pub async fn delete_organization(&self, id: OrganizationId) -> StoreResult<bool> {
        let deleted = self.store.delete_organization(id).await;
        self.forget_organization(id);
        self.caches.links.clear();
        self.caches.integration_links.clear();
        self.caches.users.clear();
        self.caches.users_by_email.clear();
        self.forget_sessions();
        deleted
    }

    pub async fn set_partner_credential(
        &self,
        id: PartnerId,
        expected: &SecretDigest,
        credential: &Credential,
    ) -> StoreResult<bool> {
        let stored = self.store.set_partner_credential(id, expected, credential).await;
        self.caches.partners.remove(&id);
        stored
    }

    /// Deletes the partner with its links and the sessions it opened.
    pub async fn delete_partner(&self, id: PartnerId) -> StoreResult<bool> {
        let deleted = self.store.delete_partner(id).await;
        self.caches.partners.remove(&id);
        self.caches.links.clear();
        self.forget_sessions();
        deleted
    }

    pub async fn link(&self, partner: PartnerId, organization: OrganizationId, now: i64) -> StoreResult<()> {
        let linked = self.store.link(partner, organization, now).await;
        self.caches.links.remove(&(partner, organization));
        linked
    }

    /// Removes the link and ends the partner's sessions in the organization.
    pub async fn unlink(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool> {
        let unlinked = self.store.unlink(partner, organization).await;
        self.caches.links.remove(&(partner, organization));
        self.forget_sessions();
        unlinked
    }

    pub async fn create_user(&self, user: &User) -> StoreResult<()> {
        let created = self.store.create_user(user).await;
        self.caches.users_by_email.clear();
        created
    }

    pub async fn set_user_status(&self, id: UserId, status: UserStatus, by: StatusSetter) -> StoreResult<StatusChange> {
        let change = self.store.set_user_status(id, status, by).await;
        self.forget_user(id);
        change
    }

    pub async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let deleted = self.store.delete_user(id).await;
        self.forget_user(id);
        deleted
    }

    /// Ends every session of the user; how many ended.
    pub async fn delete_user_sessions(&self, id: UserId) -> StoreResult<u64> {
        let ended = self.store.delete_user_sessions(id).await;
        self.forget_user(id);
        ended
    }

    /// Records activity on `session` at `now`; the touched session.
    pub async fn touch_session(&self, session: &Session, now: i64) -> StoreResult<Arc<Session>> {
        self.store.touch_session(session.id, now).await?;
        let touched = Arc::new(Session { last_seen_at: now, ..session.clone() });
        self.caches.sessions.put(session.id, Some(touched.clone()));
        Ok(touched)
    }

    pub async fn delete_session(&self, id: SessionId) -> StoreResult<bool> {
        let deleted = self.store.delete_session(id).await;
        self.caches.sessions.remove(&id);
        self.caches.identity_tokens.remove(&id);
        deleted
    }

    pub async fn create_integration(&self, integration: &InboundIntegration) -> StoreResult<()> {
        let created = self.store.create_integration(integration).await;
        self.caches.integrations.clear();
        created
    }

    pub async fn set_integration_secrets(
        &self,
        id: IntegrationId,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool> {
        let stored = self.store.set_integration_secrets(id, expected, secrets).await;
        self.caches.integrations.clear();
        stored
    }

    pub async fn delete_integration(&self, id: IntegrationId) -> StoreResult<bool> {
        let deleted = self.store.delete_integration(id).await;
        self.caches.integrations.clear();
        self.caches.integration_links.clear();
        deleted
    }

    pub async fn link_integration(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
        now: i64,
    ) -> StoreResult<()> {
        let linked = self.store.link_integration(integration, organization, now).await;
        self.caches.integration_links.remove(&(integration, organization));
        linked
    }

    pub async fn unlink_integration(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
    ) -> StoreResult<bool> {
        let unlinked = self.store.unlink_integration(integration, organization).await;
        self.caches.integration_links.remove(&(integration, organization));
        unlinked
    }

    /// After a change to `user`: forget it, every lookup by email, and every cached session.
    fn forget_user(&self, user: UserId) {
        self.caches.users.remove(&user);
        self.caches.users_by_email.clear();
        self.forget_sessions();
    }

    fn forget_organization(&self, organization: OrganizationId) {
        self.caches.organizations.remove(&organization);
        self.caches.organizations_by_number.clear();
    }

    /// Forgets everything about sessions (after sessions were ended or a user disabled).
    fn forget_sessions(&self) {
        self.caches.sessions.clear();
        self.caches.identity_tokens.clear();
    }
}
