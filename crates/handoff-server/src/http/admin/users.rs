//! The operator's users: create and list in an organization, read, disable or enable, delete,
//! end every session.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::wire::{CreateUser, EndedSessions, ErrorEnvelope, Page, UpdateUser, UserView};

use crate::error::ApiResult;
use crate::http::extract::{json, AdminAuth, RawBody};
use crate::http::query::ListQuery;
use crate::http::refusals::{AdminByIdBodyRefusals, AdminByIdListRefusals, AdminByIdRefusals};
use crate::http::state::AppState;
use crate::http::views;
use crate::services::Ctx;

/// Creates a user in the organization.
#[utoipa::path(post, path = "/admin/v1/organizations/{id}/users", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = CreateUser, content_type = "application/json"),
    responses((status = 201, description = "The new user.", body = UserView), (status = 409, description = "A user with this email exists in the organization (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminByIdBodyRefusals))]
pub async fn users_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let user = state.create_user(&ctx, &id, json::<CreateUser>(&headers, body)).await?;
    Ok((StatusCode::CREATED, Json(views::user(&user))))
}

/// Lists the organization's users.
#[utoipa::path(get, path = "/admin/v1/organizations/{id}/users", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ListQuery),
    responses((status = 200, description = "A page of users.", body = Page<UserView>), AdminByIdListRefusals))]
pub async fn users_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    let (page, limit) = match q.page() {
        Ok((page, limit)) => (Ok(page), limit),
        Err(error) => (Err(error), 0),
    };
    let users = state.users(&id, q.email.as_deref(), page).await?;
    Ok(Json(views::page(users, limit, views::user, |u| u.id.to_string())))
}

/// Reads a user.
#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The user.", body = UserView), AdminByIdRefusals))]
pub async fn users_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(views::user(&state.admin_user(&id).await?)))
}

/// Disables or enables a user. The operator's disable stands against partners: only the operator
/// can enable the user again.
#[utoipa::path(patch, path = "/admin/v1/users/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = UpdateUser, content_type = "application/json"),
    responses((status = 200, description = "The user as updated.", body = UserView), AdminByIdBodyRefusals))]
pub async fn users_update(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<UserView>> {
    let user = state.set_user_status(&ctx, json::<UpdateUser>(&headers, body)?, &id).await?;
    Ok(Json(views::user(&user)))
}

/// Deletes a user and their sessions.
#[utoipa::path(delete, path = "/admin/v1/users/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
pub async fn users_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.delete_user(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the user at once (server-side revocation).
#[utoipa::path(delete, path = "/admin/v1/users/{id}/sessions", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "How many sessions ended.", body = EndedSessions), AdminByIdRefusals))]
pub async fn users_sessions_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<EndedSessions>> {
    Ok(Json(EndedSessions { ended_sessions: state.end_user_sessions(&ctx, &id).await? }))
}
