//! The application state every handler shares, and the request context extractor.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use handoff_core::crypto::MasterKey;
use handoff_core::ids::{IntegrationId, OrganizationId, PartnerId, SessionId, UserId};
use handoff_core::model::{AuditEvent, InboundIntegration, Organization, Outcome, Partner, Session, User};
use handoff_core::problem::ProblemKind;
use handoff_core::secret::SecretDigest;
use handoff_core::store::{Store, Write};
use handoff_core::Clock;

use crate::cache::Caches;
use crate::config::Settings;
use crate::error::ApiError;
use crate::journal::Journal;
use crate::keyring::Keyring;
use crate::metrics;
use crate::proxy::Upstream;
use crate::ratelimit;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Keyring,
    /// The group-commit writer for audit records, redemptions and event ids.
    pub journal: Journal,
    /// Seals webhook secrets at rest.
    pub master: MasterKey,
    pub admin_token: SecretDigest,
    /// Hot-path read caches.
    pub caches: Caches,
    /// This second's requests per partner, for `partner_rate_limit` (per node).
    pub partner_windows: Mutex<HashMap<PartnerId, (i64, u32)>>,
    /// The protected application, when reverse-proxying.
    pub upstream: Option<Upstream>,
    /// Outbound HTTP (suppliers): follows no redirects.
    pub http: reqwest::Client,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// Appends an audit event; the caller answers only after this returns (it is committed).
    pub async fn audit(&self, event: AuditEvent) -> Result<(), ApiError> {
        self.write(Write::Audit(event)).await.map(|_| ())
    }

    /// Commits `write` with whatever else is queued (group commit), its audit fields cut to their
    /// limits, and counts its audit record once it is committed.
    pub async fn write(&self, mut write: Write) -> Result<bool, ApiError> {
        write.audit_mut().bound();
        let audit = write.audit();
        let labels = (audit.kind.clone(), audit.outcome, audit.reason.clone());
        let written = self.journal.write(write).await.map_err(|()| ApiError::internal())?;
        if written {
            metrics::outcome(labels.0, labels.1, labels.2);
        }
        Ok(written)
    }

    /// `Some(seconds to wait)` when the client behind `ctx` used up its failed authentications.
    pub async fn throttled(&self, ctx: &Ctx) -> Result<Option<u64>, ApiError> {
        self.throttled_key(ctx.limiter_key(), self.settings.failed_auth_limit).await
    }

    /// `Some(seconds to wait)` when failures counted under `key` reached `limit` in this window.
    pub async fn throttled_key(&self, key: &str, limit: u32) -> Result<Option<u64>, ApiError> {
        // Cached for the cache's lifetime, and dropped at every local failure: a failure counted
        // on another node shows here at the next local failure, or within the cache lifetime.
        let window = self.caches.failures.get_or_load(key.to_owned(), self.store.failures(key)).await?;
        Ok(window.and_then(|(start, count)| ratelimit::retry_after(start, count, limit, self.now())))
    }

    /// Counts one failed authentication of the client behind `ctx`.
    pub async fn failed_authentication(&self, ctx: &Ctx) {
        self.count_failure(ctx.limiter_key()).await;
    }

    /// Counts one failure under `key` (a client address or a partner).
    pub async fn count_failure(&self, key: &str) {
        self.caches.failures.remove(&key.to_owned());
        if let Err(err) = self.store.record_failure(key, self.now(), ratelimit::WINDOW_SECONDS).await {
            tracing::error!(%err, "counting a failed authentication failed");
        }
    }

    /// Admits one request of `partner` into this second's budget (`partner_rate_limit`).
    pub fn admit_partner(&self, partner: PartnerId) -> bool {
        let mut windows = self.partner_windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ratelimit::admit(windows.entry(partner).or_default(), self.now(), self.settings.partner_rate_limit)
    }

    /// The 429 answer for a partner over its request budget.
    pub fn over_budget() -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(ProblemKind::RateLimited, "Too many requests from this partner; retry in a second.")
        }
    }

    /// The 429 answer for a client that must wait `seconds`.
    pub fn rate_limited(seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(ProblemKind::RateLimited, "Too many failed authentication attempts; retry later.")
        }
    }

    /// The partner `id`, through the cache.
    pub async fn partner(&self, id: PartnerId) -> Result<Option<Arc<Partner>>, ApiError> {
        let load = async { Ok(self.store.partner(id).await?.map(Arc::new)) };
        Ok(self.caches.partners.get_or_load(id, load).await?)
    }

    /// The organization `id`, through the cache.
    pub async fn organization(&self, id: OrganizationId) -> Result<Option<Arc<Organization>>, ApiError> {
        let load = async { Ok(self.store.organization(id).await?.map(Arc::new)) };
        Ok(self.caches.organizations.get_or_load(id, load).await?)
    }

    /// Whether `partner` may act for `organization`, through the cache.
    pub async fn linked(&self, partner: PartnerId, organization: OrganizationId) -> Result<bool, ApiError> {
        let load = self.store.is_linked(partner, organization);
        Ok(self.caches.links.get_or_load((partner, organization), load).await?)
    }

    /// The user `id`, through the cache.
    pub async fn user(&self, id: UserId) -> Result<Option<Arc<User>>, ApiError> {
        let load = async { Ok(self.store.user(id).await?.map(Arc::new)) };
        Ok(self.caches.users.get_or_load(id, load).await?)
    }

    /// The session `id`, through the cache.
    pub async fn session(&self, id: SessionId) -> Result<Option<Arc<Session>>, ApiError> {
        let load = async { Ok(self.store.session(id).await?.map(Arc::new)) };
        Ok(self.caches.sessions.get_or_load(id, load).await?)
    }

    /// The user with `email` in `organization`, through the cache.
    pub async fn user_by_email(
        &self,
        organization: OrganizationId,
        email: &str,
    ) -> Result<Option<Arc<User>>, ApiError> {
        let load = async { Ok(self.store.user_by_email(organization, email).await?.map(Arc::new)) };
        Ok(self.caches.users_by_email.get_or_load((organization, email.to_owned()), load).await?)
    }

    /// The organization with `org_number`, through the cache.
    pub async fn organization_by_number(&self, org_number: &str) -> Result<Option<Arc<Organization>>, ApiError> {
        let load = async { Ok(self.store.organization_by_number(org_number).await?.map(Arc::new)) };
        Ok(self.caches.organizations_by_number.get_or_load(org_number.to_owned(), load).await?)
    }

    /// The inbound integration `slug`, through the cache.
    pub async fn integration(&self, slug: &str) -> Result<Option<Arc<InboundIntegration>>, ApiError> {
        let load = async { Ok(self.store.integration_by_slug(slug).await?.map(Arc::new)) };
        Ok(self.caches.integrations.get_or_load(slug.to_owned(), load).await?)
    }

    /// Whether the inbound integration may sign in users of `organization`, through the cache.
    pub async fn integration_serves(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
    ) -> Result<bool, ApiError> {
        let load = self.store.integration_serves(integration, organization);
        Ok(self.caches.integration_links.get_or_load((integration, organization), load).await?)
    }

    /// After a change to `user` on this node: forget it, and every cached session.
    pub fn forget_user(&self, user: UserId) {
        self.caches.users.remove(&user);
        self.caches.users_by_email.clear();
        self.caches.forget_sessions();
    }

    /// After an organization was created, changed or deleted on this node.
    pub fn forget_organization(&self, organization: OrganizationId) {
        self.caches.organizations.remove(&organization);
        self.caches.organizations_by_number.clear();
    }

    /// Seals a webhook secret for storage under `context` (which names its owner).
    pub fn seal(&self, secret: &str, context: &str) -> Result<Vec<u8>, ApiError> {
        self.master.seal(secret.as_bytes(), context).map_err(|err| {
            tracing::error!(%err, "sealing a secret failed");
            ApiError::internal()
        })
    }

    /// Opens a secret sealed under `context`.
    pub fn unseal(&self, sealed: &[u8], context: &str) -> Result<String, ApiError> {
        let bytes = self.master.open(sealed, context).map_err(|err| {
            tracing::error!(%err, context, "cannot unseal a secret");
            ApiError::internal()
        })?;
        String::from_utf8(bytes).map_err(|_| ApiError::internal())
    }

    /// Audits a refusal and returns the error marked as audited. If the audit write itself
    /// fails, the answer becomes a 500: a refusal is never silent.
    pub async fn refuse(&self, event: AuditEvent, error: ApiError) -> ApiError {
        let reason = error.problem.kind.slug();
        self.refuse_because(event, error, reason).await
    }

    /// Like [`AppState::refuse`], with a `reason` of its own where the problem slug alone would
    /// not tell this refusal from others of its kind (e.g. `organization-not-linked`).
    pub async fn refuse_because(&self, mut event: AuditEvent, mut error: ApiError, reason: &str) -> ApiError {
        event.at = self.now();
        event.outcome = Some(Outcome::Refused);
        event.reason = reason.to_owned();
        if event.detail.is_none() {
            event.detail = Some(error.problem.detail.clone());
        }
        if let Err(audit_error) = self.audit(event).await {
            return audit_error;
        }
        error.audited = true;
        error
    }
}

/// One entry of a forwarding header: `203.0.113.7`, `2001:db8::7`, and with a port
/// `203.0.113.7:4711` or `[2001:db8::7]:4711`.
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// Who is asking: the client address and the request id, for audit records and logs.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    /// What failed authentications of this client are counted under: its address, or for IPv6
    /// its /64.
    limiter: String,
}

impl Ctx {
    /// The context of a request. The client address is the TCP peer's, unless the peer is one of
    /// `trusted_proxies`: then it is the right-most entry of `client_addr_header` that is not
    /// itself a trusted proxy. Entries further left are whatever the client claimed, so the walk
    /// stops at the first entry that is no address (`unknown`, garbage): then the proxy's own
    /// address stands, never a claim from further left.
    pub fn from_parts(parts: &Parts, settings: &Settings) -> Self {
        let trusted = &settings.trusted_proxies;
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_canonical());
        let client = match peer {
            Some(peer) if trusted.contains(&peer) => parts
                .headers
                .get_all(&settings.client_addr_header)
                .iter()
                .map(|v| v.to_str().unwrap_or_default())
                .flat_map(|v| v.split(','))
                .rev()
                .map(forwarded_addr)
                .take_while(Option::is_some)
                .flatten()
                .map(|ip| ip.to_canonical())
                .find(|ip| !trusted.contains(ip))
                .or(Some(peer)),
            other => other,
        };
        let limiter = match client.map(ratelimit::client_key) {
            Some(IpAddr::V6(prefix)) => format!("{prefix}/64"),
            Some(v4) => v4.to_string(),
            None => "unknown".to_owned(),
        };
        Self {
            limiter,
            client_addr: client.map(|ip| ip.to_string()),
            request_id: parts.headers.get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned),
        }
    }

    /// An audit event of `kind` carrying this context.
    pub fn event(&self, kind: &str) -> AuditEvent {
        AuditEvent {
            kind: kind.to_owned(),
            client_addr: self.client_addr.clone(),
            request_id: self.request_id.clone(),
            ..AuditEvent::default()
        }
    }

    /// The key failed authentications are counted under.
    pub fn limiter_key(&self) -> &str {
        &self.limiter
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, &state.settings))
    }
}
