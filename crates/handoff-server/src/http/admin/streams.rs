//! `/admin/v1/streams`: audit event streams — create (a webhook's secret shown once), list,
//! read with their status, pause, resume, delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::wire::{CreateStream, ErrorEnvelope, Page, StreamView};

use crate::error::ApiResult;
use crate::http::extract::{json, AdminAuth, RawBody};
use crate::http::refusals::{AdminBodyRefusals, AdminByIdRefusals, AdminRefusals};
use crate::http::state::AppState;
use crate::http::views;
use crate::services::Ctx;

/// Creates a stream of the audit records committed from now on; a webhook stream's answer
/// carries its signing secret, shown once.
#[utoipa::path(post, path = "/admin/v1/streams", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateStream, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` (webhook) is shown only here.", body = StreamView), (status = 409, description = "The name is taken (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminBodyRefusals))]
pub async fn streams_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<StreamView>)> {
    let (status, secret) = state.create_stream(&ctx, json::<CreateStream>(&headers, body)?).await?;
    Ok((StatusCode::CREATED, Json(StreamView { secret, ..views::stream(&status, state.now()) })))
}

/// Lists every stream with its status, by name.
#[utoipa::path(get, path = "/admin/v1/streams", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "Every stream (one page).", body = Page<StreamView>), AdminRefusals))]
pub async fn streams_list(_: AdminAuth, State(state): State<AppState>) -> ApiResult<Json<Page<StreamView>>> {
    let now = state.now();
    let items = state.streams().await?.iter().map(|s| views::stream(s, now)).collect();
    Ok(Json(Page { items, next_cursor: None }))
}

/// Reads a stream and its status (never its secret).
#[utoipa::path(get, path = "/admin/v1/streams/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The stream.", body = StreamView), AdminByIdRefusals))]
pub async fn streams_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<StreamView>> {
    Ok(Json(views::stream(&state.admin_stream(&id).await?, state.now())))
}

/// Deletes a stream; the records it did not deliver stay in the audit log.
#[utoipa::path(delete, path = "/admin/v1/streams/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
pub async fn streams_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.delete_stream(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a stream: nothing is delivered until it is resumed (its cursor stays).
#[utoipa::path(post, path = "/admin/v1/streams/{id}/pause", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The paused stream.", body = StreamView), AdminByIdRefusals))]
pub async fn streams_pause(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<StreamView>> {
    Ok(Json(views::stream(&state.pause_stream(&ctx, &id, true).await?, state.now())))
}

/// Resumes a stream from its cursor, at once (a failing stream's backoff is cleared).
#[utoipa::path(post, path = "/admin/v1/streams/{id}/resume", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The resumed stream.", body = StreamView), AdminByIdRefusals))]
pub async fn streams_resume(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<StreamView>> {
    Ok(Json(views::stream(&state.pause_stream(&ctx, &id, false).await?, state.now())))
}
