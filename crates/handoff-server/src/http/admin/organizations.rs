//! `/admin/v1/organizations`: create (the secret shown once), list, read, delete, rotate the secret.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::wire::{CreateOrganization, ErrorEnvelope, OrganizationView, Page, RotateSecret, RotatedSecret};

use super::rotated;
use crate::error::ApiResult;
use crate::http::extract::{json, optional_json, AdminAuth, RawBody};
use crate::http::query::PageQuery;
use crate::http::refusals::{AdminBodyRefusals, AdminByIdRefusals, AdminListRefusals, RotationRefusals};
use crate::http::state::AppState;
use crate::http::views;
use crate::services::Ctx;

/// Creates an organization; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/organizations", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateOrganization, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = OrganizationView),
        (status = 409, description = "An org number belongs to another organization (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"),
        AdminBodyRefusals))]
pub async fn organizations_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<OrganizationView>)> {
    let (organization, secret) = state.create_organization(&ctx, json::<CreateOrganization>(&headers, body)?).await?;
    let view = OrganizationView { secret: Some(secret.expose().to_owned()), ..views::organization(&organization) };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists organizations, a page at a time.
#[utoipa::path(get, path = "/admin/v1/organizations", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of organizations.", body = Page<OrganizationView>), AdminListRefusals))]
pub async fn organizations_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<OrganizationView>>> {
    let (page, limit) = q.page()?;
    let items = state.organizations(&page).await?;
    Ok(Json(views::page(items, limit, views::organization, |o| o.id.to_string())))
}

/// Reads an organization (never its secret).
#[utoipa::path(get, path = "/admin/v1/organizations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The organization.", body = OrganizationView), AdminByIdRefusals))]
pub async fn organizations_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<OrganizationView>> {
    Ok(Json(views::organization(&state.admin_organization(&id).await?)))
}

/// Deletes an organization with its users, links and sessions.
#[utoipa::path(delete, path = "/admin/v1/organizations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
pub async fn organizations_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.delete_organization(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new organization secret; the old one keeps working during the overlap.
#[utoipa::path(post, path = "/admin/v1/organizations/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when the old one stops working.", body = RotatedSecret), RotationRefusals))]
pub async fn organizations_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    Ok(rotated(state.rotate_organization_secret(&ctx, &id, optional_json(&headers, body)).await?))
}
