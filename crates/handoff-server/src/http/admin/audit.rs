//! The audit log, newest first, filtered and paged.

use axum::extract::{Query, State};
use axum::Json;
use handoff_core::model::{AuditFilter, Outcome};
use handoff_core::wire::{AuditRecordView, Page};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::http::extract::AdminAuth;
use crate::http::refusals::AdminListRefusals;
use crate::http::state::AppState;
use crate::http::views;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records of this kind, e.g. `sso.mint`.
    kind: Option<String>,
    /// `accepted` or `refused`.
    outcome: Option<String>,
    partner_id: Option<String>,
    organization_id: Option<String>,
    user_id: Option<String>,
    /// From this time on: RFC 3339 or Unix seconds.
    since: Option<String>,
    /// Before this time: RFC 3339 or Unix seconds.
    until: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page [default: 100].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

fn time_param(name: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|v| {
            views::parse_time(v).ok_or_else(|| ApiError::invalid(format!("{name} must be RFC 3339 or Unix seconds.")))
        })
        .transpose()
}

impl AuditQuery {
    /// The store filter for a page of `limit` records (one more, to know whether another follows).
    fn filter(self) -> ApiResult<(AuditFilter, u32)> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid("limit must be between 1 and 1000."));
        }
        let outcome = self
            .outcome
            .as_deref()
            .map(|o| Outcome::parse(o).ok_or_else(|| ApiError::invalid("outcome must be accepted or refused.")))
            .transpose()?;
        let before = self
            .cursor
            .as_deref()
            .map(|c| c.parse::<i64>().map_err(|_| ApiError::invalid("cursor is not valid.")))
            .transpose()?;
        let filter = AuditFilter {
            kind: self.kind,
            outcome,
            partner_id: self.partner_id,
            organization_id: self.organization_id,
            user_id: self.user_id,
            since: time_param("since", self.since.as_deref())?,
            until: time_param("until", self.until.as_deref())?,
            before,
            limit: limit + 1,
        };
        Ok((filter, limit))
    }
}

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
