//! The signing keys: which sign on this node and which verify; rotation of all three kinds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use handoff_core::wire::{KeysView, RotatedKeys};

use crate::error::ApiResult;
use crate::http::extract::AdminAuth;
use crate::http::refusals::AdminRefusals;
use crate::http::state::AppState;
use crate::services::Ctx;

/// The signing keys by kind: which one signs on this node, and every one that verifies.
#[utoipa::path(get, path = "/admin/v1/keys", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "The keys of each kind.", body = KeysView), AdminRefusals))]
pub async fn keys_list(_: AdminAuth, State(state): State<AppState>) -> ApiResult<Json<KeysView>> {
    Ok(Json(state.keys().await?))
}

/// Creates a new SSO-token key, a new identity key and a new prefill key. They sign on this node at once and on the
/// others within the key refresh interval; every older key keeps verifying.
#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "admin", security(("admin_token" = [])),
    responses((status = 201, description = "The new keys' ids.", body = RotatedKeys), AdminRefusals))]
pub async fn keys_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<(StatusCode, Json<RotatedKeys>)> {
    Ok((StatusCode::CREATED, Json(state.rotate_keys(&ctx).await?)))
}
