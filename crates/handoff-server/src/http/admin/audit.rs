//! The audit log, newest first, filtered and paged (the filters are `http::query::AuditQuery`,
//! shared with the console's audit pages).

use axum::extract::{Query, State};
use axum::Json;
use handoff_core::wire::{AuditRecordView, Page};

use crate::error::ApiResult;
use crate::http::extract::AdminAuth;
use crate::http::query::AuditQuery;
use crate::http::refusals::AdminListRefusals;
use crate::http::state::AppState;
use crate::http::views;

/// The audit log, newest first.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin", security(("admin_token" = [])),
    params(AuditQuery),
    responses((status = 200, description = "A page of audit records.", body = Page<AuditRecordView>), AdminListRefusals))]
pub async fn audit_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditRecordView>>> {
    let (filter, limit) = q.filter()?;
    let records = state.audit_records(&filter).await?;
    Ok(Json(views::page(records, limit, views::audit_record, |r| r.id.to_string())))
}
