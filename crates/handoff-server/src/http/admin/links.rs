//! Which organizations a partner may sign users into, and which an inbound integration serves:
//! list, link (idempotent), unlink.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::ids;
use crate::error::ApiResult;
use crate::http::extract::AdminAuth;
use crate::http::refusals::AdminByIdRefusals;
use crate::http::state::AppState;
use crate::services::Ctx;

/// The ids of the organizations the partner may sign users into.
#[utoipa::path(get, path = "/admin/v1/partners/{id}/organizations", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "Organization ids.", body = Vec<String>), AdminByIdRefusals))]
pub async fn links_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(ids(state.partner_links(&id).await?))
}

/// Lets the partner mint links for the organization's users (idempotent).
#[utoipa::path(put, path = "/admin/v1/partners/{partner_id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("partner_id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Linked."), AdminByIdRefusals))]
pub async fn links_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((partner_id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.link_partner(&ctx, &partner_id, &organization_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the link and ends the sessions the partner opened in the organization.
#[utoipa::path(delete, path = "/admin/v1/partners/{partner_id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("partner_id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Unlinked; the partner's sessions in the organization have ended."), AdminByIdRefusals))]
pub async fn links_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((partner_id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.unlink_partner(&ctx, &partner_id, &organization_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The ids of the organizations whose users the integration may sign in.
#[utoipa::path(get, path = "/admin/v1/inbound-integrations/{id}/organizations", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "Organization ids.", body = Vec<String>), AdminByIdRefusals))]
pub async fn integration_links_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(ids(state.integration_links(&id).await?))
}

/// Lets the integration sign in (and provision) the organization's users (idempotent). An event
/// naming an organization the integration is not linked to is refused with 403.
#[utoipa::path(put, path = "/admin/v1/inbound-integrations/{id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Linked."), AdminByIdRefusals))]
pub async fn integration_links_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.link_integration(&ctx, &id, &organization_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the link: the integration's events for the organization are refused from now on.
#[utoipa::path(delete, path = "/admin/v1/inbound-integrations/{id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Unlinked."), AdminByIdRefusals))]
pub async fn integration_links_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.unlink_integration(&ctx, &id, &organization_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
