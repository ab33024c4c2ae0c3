//! The numbers behind the console's overview and `GET /admin/v1/stats`: SSO volume from the
//! audit rollup, bucketed by `handoff_core::stats`, live sessions, and this node's health
//! (database, journal queue, signing-key ages, last purge) with the audit log's retention (the
//! oldest record, the last audit purge).
//!
//! Owns: gathering them in one call. Must not: count from the audit log itself (the rollup
//! exists so that this stays fast at any size), or render them (surfaces do).

use std::sync::atomic::Ordering;

use handoff_core::stats::{overview, Overview, Span};
use handoff_core::store::StoredKey;
use handoff_core::token::KeyKind;

use super::{AuditPurge, Services};
use crate::error::ApiResult;

/// What [`Services::stats`] reports.
pub struct Stats {
    pub overview: Overview,
    pub active_sessions: u64,
    pub health: Health,
}

pub struct Health {
    pub database: bool,
    pub journal_queue: usize,
    /// The newest key of each kind (the one that signs), by kind.
    pub signing_keys: Vec<SigningKey>,
    /// When this node's background purge last succeeded (Unix seconds).
    pub last_purge_at: Option<i64>,
    /// `audit_retention_days` (0: every record is kept).
    pub audit_retention_days: u32,
    /// When the oldest audit record was written, if there is one.
    pub oldest_audit_at: Option<i64>,
    /// This node's last audit purge since it started.
    pub last_audit_purge: Option<AuditPurge>,
}

pub struct SigningKey {
    pub kind: KeyKind,
    pub kid: String,
    pub age_seconds: i64,
}

/// `last_purge` before any purge has run.
pub(super) const NEVER: i64 = i64::MIN;

impl Services {
    /// The overview at this moment. The store's reads run side by side; any of them failing is an
    /// internal error (its cause goes to the log), except the ping, which is reported.
    pub async fn stats(&self) -> ApiResult<Stats> {
        let now = self.now();
        let (hours, days) = (Span::hourly(now), Span::daily(now));
        let store = self.store.fresh();
        let idle_cutoff = now - self.settings.session_idle_timeout;
        let (ping, hourly, daily, active_sessions, keys, oldest_audit) = tokio::join!(
            store.ping(),
            store.audit_counts(hours.since, hours.until, hours.width),
            store.audit_counts(days.since, days.until, days.width),
            store.active_sessions(now, idle_cutoff),
            store.keys(),
            store.oldest_audit(),
        );
        if let Err(err) = &ping {
            tracing::warn!(%err, "the database did not answer the stats ping");
        }
        let last_purge = self.last_purge.load(Ordering::Relaxed);
        Ok(Stats {
            overview: overview(&hourly?, &daily?, now),
            active_sessions: active_sessions?,
            health: Health {
                database: ping.is_ok(),
                journal_queue: self.commits.queued(),
                signing_keys: signing_keys(keys?, now),
                last_purge_at: (last_purge != NEVER).then_some(last_purge),
                audit_retention_days: self.settings.audit_retention_days,
                oldest_audit_at: oldest_audit?,
                last_audit_purge: self.last_audit_purge(),
            },
        })
    }
}

/// The newest key of each kind, in the order of `KeyKind`'s variants.
fn signing_keys(keys: Vec<StoredKey>, now: i64) -> Vec<SigningKey> {
    [KeyKind::SsoHmac, KeyKind::Identity, KeyKind::Prefill]
        .into_iter()
        .filter_map(|kind| {
            let newest = keys.iter().filter(|k| k.kind == kind).max_by_key(|k| k.created_at)?;
            Some(SigningKey { kind, kid: newest.kid.clone(), age_seconds: now - newest.created_at })
        })
        .collect()
}
