//! Reading the audit log for the console: one record by its id, and the export of a filtered
//! set, which pages through the store in chunks ([`EXPORT_CHUNK`] records) so the set is never
//! held in memory. An export is an operator action: it is audited (`console.audit_export`, with
//! its filters) before its first record is read.
//!
//! Must not: format records (the surface renders them in the wire shape), or read more than one
//! chunk ahead of the caller.

use std::ops::Deref;

use handoff_core::model::{AuditFilter, AuditRecord};

use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};

/// Records per store read of an export (the store's largest page).
pub const EXPORT_CHUNK: u32 = 1000;

impl Services {
    /// The audit record with `id`.
    pub async fn audit_record(&self, id: &str) -> ApiResult<AuditRecord> {
        let not_found = || ApiError::not_found("No audit record with this id.");
        let id: i64 = id.parse().map_err(|_| not_found())?;
        let filter = AuditFilter { before: id.checked_add(1), limit: 1, ..AuditFilter::default() };
        let records = self.store.fresh().audit(&filter).await?;
        records.into_iter().find(|record| record.id == id).ok_or_else(not_found)
    }
}

/// An export of the records a filter selects, newest first, as they were when it started:
/// records written later (its own audit record among them) are not in it.
pub struct AuditExport<S> {
    services: S,
    filter: AuditFilter,
    done: bool,
}

impl<S: Deref<Target = Services>> AuditExport<S> {
    /// Starts exporting what `filter` selects (its `limit` is ignored), as `format` (named in
    /// the audit record): fixes the set, then audits the export.
    pub async fn start(services: S, ctx: &Ctx, mut filter: AuditFilter, format: &str) -> ApiResult<Self> {
        let newest = services.store.fresh().audit(&AuditFilter { limit: 1, ..AuditFilter::default() }).await?;
        let end = newest.first().map_or(1, |record| record.id + 1);
        filter.before = Some(filter.before.map_or(end, |before| before.min(end)));
        filter.limit = EXPORT_CHUNK;
        let detail = describe(&filter, format);
        services.admin_accepted(ctx, "console.audit_export", |e| e.detail = Some(detail)).await?;
        Ok(Self { services, filter, done: false })
    }

    /// The next chunk of records (at most [`EXPORT_CHUNK`]), or `None` once all were read.
    pub async fn next_chunk(&mut self) -> ApiResult<Option<Vec<AuditRecord>>> {
        if self.done {
            return Ok(None);
        }
        let records = self.services.store.fresh().audit(&self.filter).await?;
        self.done = records.len() < EXPORT_CHUNK as usize;
        match records.last() {
            Some(last) => self.filter.before = Some(last.id),
            None => return Ok(None),
        }
        Ok(Some(records))
    }
}

/// The export's format and filters for its audit record: `format=csv kind=sso.mint …`.
fn describe(filter: &AuditFilter, format: &str) -> String {
    let texts = [
        ("kind", filter.kind.clone()),
        ("outcome", filter.outcome.map(|o| o.as_str().to_owned())),
        ("reason", filter.reason.clone()),
        ("partner_id", filter.partner_id.clone()),
        ("organization_id", filter.organization_id.clone()),
        ("user_id", filter.user_id.clone()),
        ("since", filter.since.map(|t| t.to_string())),
        ("until", filter.until.map(|t| t.to_string())),
        ("before", filter.before.map(|id| id.to_string())),
    ];
    let mut detail = format!("format={format}");
    for (name, value) in texts {
        if let Some(value) = value {
            detail.push_str(&format!(" {name}={value}"));
        }
    }
    detail
}
