//! `/admin/v1/inbound-integrations`: create (the secret shown once), list, read, delete, rotate
//! the secret.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::wire::{
    CreateInboundIntegration, ErrorEnvelope, InboundIntegrationView, Page, RotateSecret, RotatedSecret,
};

use super::rotated;
use crate::error::ApiResult;
use crate::http::extract::{json, optional_json, AdminAuth, RawBody};
use crate::http::query::PageQuery;
use crate::http::refusals::{AdminBodyRefusals, AdminByIdRefusals, AdminListRefusals, RotationRefusals};
use crate::http::state::AppState;
use crate::http::views;
use crate::services::Ctx;

/// Creates an inbound webhook integration; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/inbound-integrations", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateInboundIntegration, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = InboundIntegrationView), (status = 409, description = "The slug is taken (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminBodyRefusals))]
pub async fn integrations_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<InboundIntegrationView>)> {
    let body = json::<CreateInboundIntegration>(&headers, body)?;
    let (integration, secret) = state.create_integration(&ctx, body).await?;
    let view = InboundIntegrationView {
        secret: Some(secret.expose().to_owned()),
        ..views::integration(&integration, &state.settings().public_url)
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists inbound integrations.
#[utoipa::path(get, path = "/admin/v1/inbound-integrations", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of integrations.", body = Page<InboundIntegrationView>), AdminListRefusals))]
pub async fn integrations_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<InboundIntegrationView>>> {
    let (page, limit) = q.page()?;
    let items = state.integrations(&page).await?;
    let public_url = &state.settings().public_url;
    Ok(Json(views::page(items, limit, |i| views::integration(i, public_url), |i| i.id.to_string())))
}

/// Reads an inbound integration (never its secret).
#[utoipa::path(get, path = "/admin/v1/inbound-integrations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The integration.", body = InboundIntegrationView), AdminByIdRefusals))]
pub async fn integrations_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InboundIntegrationView>> {
    Ok(Json(views::integration(&state.admin_integration(&id).await?, &state.settings().public_url)))
}

/// Deletes an inbound integration; its endpoint answers 404 from then on.
#[utoipa::path(delete, path = "/admin/v1/inbound-integrations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
pub async fn integrations_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.delete_integration(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new current secret; the old one stays valid for the overlap (at most two are ever active).
#[utoipa::path(post, path = "/admin/v1/inbound-integrations/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when the old one stops being accepted.", body = RotatedSecret), RotationRefusals))]
pub async fn integrations_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    Ok(rotated(state.rotate_integration_secret(&ctx, &id, optional_json(&headers, body)).await?))
}
