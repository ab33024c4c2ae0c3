//! `/admin/v1/suppliers`: register (the secret shown once), list, read, delete, rotate the secret.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::wire::{CreateSupplier, ErrorEnvelope, Page, RotateSecret, RotatedSecret, SupplierView};

use super::rotated;
use crate::error::ApiResult;
use crate::http::extract::{json, optional_json, AdminAuth, RawBody};
use crate::http::query::PageQuery;
use crate::http::refusals::{AdminBodyRefusals, AdminByIdRefusals, AdminListRefusals, RotationRefusals};
use crate::http::state::AppState;
use crate::http::views;
use crate::services::Ctx;

/// Registers a supplier to launch users into; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/suppliers", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateSupplier, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = SupplierView), (status = 409, description = "The slug is taken (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminBodyRefusals))]
pub async fn suppliers_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<SupplierView>)> {
    let (supplier, secret) = state.create_supplier(&ctx, json::<CreateSupplier>(&headers, body)?).await?;
    let view = SupplierView {
        secret: Some(secret.expose().to_owned()),
        ..views::supplier(&supplier, &state.settings().public_url)
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists suppliers.
#[utoipa::path(get, path = "/admin/v1/suppliers", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of suppliers.", body = Page<SupplierView>), AdminListRefusals))]
pub async fn suppliers_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<SupplierView>>> {
    let (page, limit) = q.page()?;
    let items = state.suppliers(&page).await?;
    let public_url = &state.settings().public_url;
    Ok(Json(views::page(items, limit, |s| views::supplier(s, public_url), |s| s.id.to_string())))
}

/// Reads a supplier (never its secret).
#[utoipa::path(get, path = "/admin/v1/suppliers/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The supplier.", body = SupplierView), AdminByIdRefusals))]
pub async fn suppliers_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SupplierView>> {
    Ok(Json(views::supplier(&state.admin_supplier(&id).await?, &state.settings().public_url)))
}

/// Deletes a supplier; its launch URL answers 404 from then on.
#[utoipa::path(delete, path = "/admin/v1/suppliers/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
pub async fn suppliers_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.delete_supplier(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret signs from now on; give it to the supplier, who should accept both for a while.
#[utoipa::path(post, path = "/admin/v1/suppliers/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when handoff starts signing with it.", body = RotatedSecret), RotationRefusals))]
pub async fn suppliers_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    Ok(rotated(state.rotate_supplier_secret(&ctx, &id, optional_json(&headers, body)).await?))
}
