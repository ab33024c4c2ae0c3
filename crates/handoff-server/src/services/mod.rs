//! The domain services, in one place below every surface: partner and admin authentication,
//! minting and redeeming links, sessions, inbound events and provisioning, launches, secret
//! rotation, the registry of organizations, partners, integrations and suppliers, users, limits,
//! the audit log (`audit`: one record, the export; `retention`: pruning it), the overview's
//! numbers (`stats`) and the web console's operator sessions. Each file adds its operations to [`Services`].
//!
//! Every audited service stamps its record once, at its boundary: an inner step returns a
//! `Result`, and [`Services::conclude`] audits the refusal (acceptances are stamped with
//! `AuditEvent::accepted` where they commit).
//!
//! Must not: import `http`, `openapi`, `router` or `app`, or use axum, utoipa or HTTP header
//! maps: services take domain inputs and return `ApiResult`s of domain values.

mod audit;
mod auth;
mod console;
mod context;
pub mod demo;
mod inbound;
mod launch;
mod limits;
mod mint;
mod provision;
mod redeem;
mod registry;
mod retention;
mod rotate;
mod sessions;
mod stats;
mod streams;
mod users;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use handoff_core::ids::PartnerId;
use handoff_core::model::{AuditEvent, Session};
use handoff_core::problem::ProblemKind;
use handoff_core::secret::SecretDigest;
use handoff_core::store::{Store, StoreError, Write};
use handoff_core::token::Jwks;
use handoff_core::Clock;

use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::infra::cached_store::CachedStore;
use crate::infra::group_commit::GroupCommit;
use crate::infra::keyring::Keyring;
use crate::infra::sealer::{Purpose, Sealer};
use crate::infra::telemetry;

pub use audit::AuditExport;
pub use auth::{PartnerCaller, PartnerCredentials, PARTNER_HEADERS};
pub use context::Ctx;
pub use inbound::SignedEvent;
pub use launch::{Launched, Step};
pub use redeem::{Checked, Redeemed};
pub use retention::{AuditPurge, PURGE_BATCH};
pub use rotate::Rotated;
pub use sessions::Identity;
pub use stats::Stats;
pub use streams::StreamStatus;

/// What the services run on: built once at boot.
pub struct Adapters {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Keyring,
    pub sealer: Sealer,
    pub admin_token: SecretDigest,
    /// Outbound HTTP (suppliers): follows no redirects.
    pub http: reqwest::Client,
}

pub struct Services {
    settings: Settings,
    store: CachedStore,
    clock: Arc<dyn Clock>,
    keys: Keyring,
    /// The group-commit writer for audit records, redemptions and event ids.
    commits: GroupCommit,
    sealer: Sealer,
    admin_token: SecretDigest,
    /// This second's requests per partner, for `partner_rate_limit` (per node).
    partner_windows: Mutex<HashMap<PartnerId, (i64, u32)>>,
    http: reqwest::Client,
    /// When the background purge last succeeded on this node (`stats::NEVER` before).
    last_purge: AtomicI64,
    /// This node's last audit purge (`retention`).
    last_audit_purge: Mutex<Option<AuditPurge>>,
    /// This node's name in stream leases: random at every start.
    node: String,
}

impl Services {
    /// The services over `adapters`; starts the group-commit writer.
    pub fn new(adapters: Adapters) -> Self {
        let Adapters { settings, store, clock, keys, sealer, admin_token, http } = adapters;
        Self {
            commits: GroupCommit::start(store.clone()),
            store: CachedStore::new(store),
            settings,
            clock,
            keys,
            sealer,
            admin_token,
            partner_windows: Mutex::default(),
            http,
            last_purge: AtomicI64::new(stats::NEVER),
            last_audit_purge: Mutex::default(),
            node: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// Commits `write` with whatever else is queued (group commit), its audit fields cut to their
    /// limits, and counts its audit record once it is committed. The caller answers only after
    /// this returns.
    async fn write(&self, mut write: Write) -> ApiResult<bool> {
        write.audit_mut().bound();
        let audit = write.audit();
        let labels = (audit.kind.clone(), audit.outcome, audit.reason.clone());
        let written = self.commits.write(write).await.map_err(|err| match err {
            // The writer logged the batch's failure once.
            StoreError::Backend(_) => ApiError::internal(),
            err => ApiError::from(err),
        })?;
        if written {
            telemetry::outcome(labels.0, labels.1, labels.2);
        }
        Ok(written)
    }

    /// Appends an audit event (committed when this returns).
    async fn audit(&self, event: AuditEvent) -> ApiResult<()> {
        self.write(Write::Audit(event)).await.map(|_| ())
    }

    /// Audits a refusal as `event` and returns the error marked as audited. If the audit write
    /// itself fails, the answer becomes a 500: a refusal is never silent.
    pub async fn refuse(&self, event: AuditEvent, mut error: ApiError) -> ApiError {
        let event = event.refused(self.now(), error.audit_reason(), &error.problem.detail);
        if let Err(audit_error) = self.audit(event).await {
            return audit_error;
        }
        error.audited = true;
        error
    }

    /// The one refusal exit of an audited service: a refusal of `outcome` is audited as `event`;
    /// internal errors (the cause is in the log) and refusals already audited, or that must not
    /// be, pass as they are.
    async fn conclude<T>(&self, event: &AuditEvent, outcome: ApiResult<T>) -> ApiResult<T> {
        match outcome {
            Err(error) if !error.audited && error.problem.kind != ProblemKind::Internal => {
                Err(self.refuse(event.clone(), error).await)
            }
            other => other,
        }
    }

    /// The form token for `purpose` and `subject` in `session` (see `infra::sealer`).
    pub fn form_token(&self, session: &Session, purpose: Purpose, subject: &str) -> String {
        self.sealer.form_token(session.id.as_uuid(), purpose, subject)
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> ApiResult<()> {
        self.store.fresh().ping().await.map_err(|err| {
            tracing::warn!(%err, "readiness check failed");
            ApiError::unavailable()
        })
    }

    /// The metrics read at scrape time: writes queued for the group commit, and the database
    /// pool's (open, idle) connections.
    pub fn load(&self) -> (usize, (u32, u32)) {
        (self.commits.queued(), self.store.fresh().connections())
    }

    /// The public keys that verify identity tokens and registration prefills.
    pub fn jwks(&self) -> Jwks {
        self.keys.jwks()
    }

    /// Sweeps expired sessions (portal and operator sessions) and consumed-token records
    /// (background).
    pub async fn purge_expired(&self) {
        let now = self.now();
        let store = self.store.fresh();
        match store.purge_expired(now, now - self.settings.session_idle_timeout).await {
            Ok(_) => self.last_purge.store(now, Ordering::Relaxed),
            Err(err) => tracing::warn!(%err, "purging expired sessions failed"),
        }
        if let Err(err) = store.purge_operator_sessions(now, now - self.settings.console_idle_timeout).await {
            tracing::warn!(%err, "purging expired operator sessions failed");
        }
    }

    /// Picks up keys created on other nodes (background).
    pub async fn reload_keys(&self) {
        if let Err(err) = self.keys.reload().await {
            tracing::warn!(%err, "refreshing the signing keys failed");
        }
    }
}
