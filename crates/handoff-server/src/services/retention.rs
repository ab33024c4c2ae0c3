//! Audit retention: the records older than `audit_retention_days` are deleted in the background,
//! [`PURGE_BATCH`] at a time, each batch its own short transaction with a pause after it, so the
//! journal's writer (and with it every sign-in) waits at most for one batch, never for the purge.
//! On PostgreSQL one node at a time prunes (the store's advisory lock): a node that finds another
//! pruning leaves it the rest. A run that deleted records is itself audited (`audit.purge`, with
//! how many and the cutoff) and logged.
//!
//! Owns: the cutoff, the batching, this node's last run. Must not: delete anything but audit
//! records — sessions, single-use claims and remembered event ids are `purge_expired`'s, and the
//! hourly rollup is kept (counts without people in them, so the overview stays true for the
//! 30 days it shows whatever the retention).

use std::time::Duration;

use handoff_core::export::rfc3339;
use handoff_core::model::AuditEvent;
use handoff_core::stats::DAY;
use handoff_core::store::Pruned;

use super::Services;
use crate::infra::telemetry;

/// Records per delete statement (and transaction).
pub const PURGE_BATCH: u32 = 1000;
/// The pause after each full batch: the journal's batches get the database in between.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// What one run of [`Services::purge_audit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPurge {
    /// When the run started (Unix seconds).
    pub at: i64,
    /// The records written before this were deleted: `at` less the retention.
    pub cutoff: i64,
    pub removed: u64,
    /// Delete statements it took, each of at most [`PURGE_BATCH`] records.
    pub batches: u32,
    /// Whether it stopped because another node held the prune lock (that node deletes the rest).
    pub other_node: bool,
}

impl Services {
    /// Deletes the audit records older than `audit_retention_days` (background, with the other
    /// purges; nothing when it is 0). Returns the run, which is also this node's last audit
    /// purge; `None` when retention is off or the database failed (the cause goes to the log).
    pub async fn purge_audit(&self) -> Option<AuditPurge> {
        let days = self.settings.audit_retention_days;
        if days == 0 {
            return None;
        }
        let at = self.now();
        let mut run = AuditPurge { at, cutoff: at - i64::from(days) * DAY, removed: 0, batches: 0, other_node: false };
        let store = self.store.fresh();
        let failed = loop {
            match store.prune_audit(run.cutoff, PURGE_BATCH).await {
                Ok(Pruned::Removed(removed)) => {
                    run.batches += 1;
                    run.removed += removed;
                    telemetry::audit_purged(removed);
                    if removed < u64::from(PURGE_BATCH) {
                        break false;
                    }
                }
                Ok(Pruned::Busy) => {
                    run.other_node = true;
                    break false;
                }
                Err(err) => {
                    tracing::warn!(%err, removed = run.removed, "purging old audit records failed");
                    break true;
                }
            }
            tokio::time::sleep(BATCH_PAUSE).await;
        };
        if run.removed > 0 {
            let cutoff = rfc3339(run.cutoff);
            tracing::info!(removed = run.removed, before = %cutoff, batches = run.batches, "purged old audit records");
            let detail = format!(
                "removed={} before={cutoff} audit_retention_days={days}{}",
                run.removed,
                if failed { " incomplete" } else { "" }
            );
            let event = AuditEvent { kind: "audit.purge".into(), detail: Some(detail), ..AuditEvent::default() };
            if self.audit(event.accepted(at, "purged")).await.is_err() {
                tracing::warn!(removed = run.removed, "the audit record of an audit purge could not be written");
            }
        }
        if failed {
            return None;
        }
        telemetry::audit_purge_finished(at);
        if let Ok(mut last) = self.last_audit_purge.lock() {
            *last = Some(run);
        }
        Some(run)
    }

    /// This node's last audit purge, if one ran since it started.
    pub fn last_audit_purge(&self) -> Option<AuditPurge> {
        self.last_audit_purge.lock().ok().and_then(|last| *last)
    }

    /// How old the oldest audit record is, for `/metrics` (0 when the log is empty); `None` when
    /// the database did not answer (logged).
    pub async fn oldest_audit_age(&self) -> Option<i64> {
        match self.store.fresh().oldest_audit().await {
            Ok(oldest) => Some(oldest.map_or(0, |at| (self.now() - at).max(0))),
            Err(err) => {
                tracing::warn!(%err, "reading the oldest audit record failed");
                None
            }
        }
    }
}
