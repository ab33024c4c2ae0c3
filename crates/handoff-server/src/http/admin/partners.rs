//! `/admin/v1/partners`: create (the secret shown once), list, read, delete, rotate the secret.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::wire::{CreatePartner, Page, PartnerView, RotateSecret, RotatedSecret};

use super::rotated;
use crate::error::ApiResult;
use crate::http::extract::{json, optional_json, AdminAuth, RawBody};
use crate::http::query::PageQuery;
use crate::http::refusals::{AdminBodyRefusals, AdminByIdRefusals, AdminListRefusals, RotationRefusals};
use crate::http::state::AppState;
use crate::http::views;
use crate::services::Ctx;

/// Creates a partner; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/partners", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreatePartner, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = PartnerView), AdminBodyRefusals))]
pub async fn partners_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<PartnerView>)> {
    let (partner, secret) = state.create_partner(&ctx, json::<CreatePartner>(&headers, body)?).await?;
    let view = PartnerView { secret: Some(secret.expose().to_owned()), ..views::partner(&partner) };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists partners, a page at a time.
#[utoipa::path(get, path = "/admin/v1/partners", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of partners.", body = Page<PartnerView>), AdminListRefusals))]
pub async fn partners_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<PartnerView>>> {
    let (page, limit) = q.page()?;
    let items = state.partners(&page).await?;
    Ok(Json(views::page(items, limit, views::partner, |p| p.id.to_string())))
}

/// Reads a partner (never its secret).
#[utoipa::path(get, path = "/admin/v1/partners/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The partner.", body = PartnerView), AdminByIdRefusals))]
pub async fn partners_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PartnerView>> {
    Ok(Json(views::partner(&state.admin_partner(&id).await?)))
}

/// Deletes a partner with its links and the sessions it started.
#[utoipa::path(delete, path = "/admin/v1/partners/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
pub async fn partners_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.delete_partner(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new partner secret; the old one keeps working during the overlap.
#[utoipa::path(post, path = "/admin/v1/partners/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when the old one stops working.", body = RotatedSecret), RotationRefusals))]
pub async fn partners_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    Ok(rotated(state.rotate_partner_secret(&ctx, &id, optional_json(&headers, body)).await?))
}
