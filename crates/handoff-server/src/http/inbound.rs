//! Inbound webhook SSO (seed 002): `POST /v1/inbound/{slug}/sso` and its sandbox
//! `/v1/inbound/{slug}/sso/test`. Reads the two header spellings and the raw body and hands them
//! to the inbound service, which runs the checks in their fixed order.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use handoff_core::webhook::SsoEvent;
use handoff_core::wire::{SandboxReport, WebhookRedirect};
use handoff_webhook::ALL_HEADER_NAMES;
use utoipa::OpenApi;

use crate::error::ApiResult;
use crate::http::extract::{body_bytes, RawBody};
use crate::http::refusals::{SandboxRefusals, WebhookRefusals};
use crate::http::respond::LinkJson;
use crate::http::state::AppState;
use crate::services::{Ctx, SignedEvent};

#[derive(OpenApi)]
#[openapi(paths(sso_event, sandbox))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/inbound/{slug}/sso", post(sso_event)).route("/v1/inbound/{slug}/sso/test", post(sandbox))
}

/// The webhook as it arrived: every signature header of any profile whose value is text (the
/// integration's profile picks its own in the service).
fn signed_event(headers: &HeaderMap, body: RawBody) -> SignedEvent {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    SignedEvent {
        content_type: text("content-type"),
        headers: ALL_HEADER_NAMES.iter().filter_map(|name| Some((*name, text(name)?))).collect(),
        body: body_bytes(body).map(Vec::from),
    }
}

/// Verifies a signed SSO event and answers a one-time sign-in link for its user.
#[utoipa::path(post, path = "/v1/inbound/{slug}/sso", tag = "inbound",
    params(
        ("slug" = String, Path, description = "The integration's slug."),
        ("Vinst-Timestamp" = Option<String>, Header, description = "Unix seconds or RFC 3339, as signed (also `X-Vinst-Timestamp`)."),
        ("Vinst-Signature" = Option<String>, Header, description = "The signature per the integration's profile, e.g. lowercase hex of HMAC-SHA256 over `{timestamp}.{body}`; a `sha256=` prefix is accepted (also `X-Vinst-Signature`)."),
        ("webhook-id" = Option<String>, Header, description = "Profile `standard-webhooks`: the message id, signed and remembered against replays."),
        ("webhook-timestamp" = Option<String>, Header, description = "Profile `standard-webhooks`: Unix seconds, signed."),
        ("webhook-signature" = Option<String>, Header, description = "Profile `standard-webhooks`: space-separated `v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>` entries; one valid entry suffices."),
    ),
    request_body(content = SsoEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "Open `redirectUrl` in the user's browser, once, within 5 minutes.", body = WebhookRedirect),
        WebhookRefusals,
    ))]
async fn sso_event(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<LinkJson<WebhookRedirect>> {
    let redirect_url = state.inbound_sso(&ctx, &slug, signed_event(&headers, body)).await?;
    Ok(LinkJson(WebhookRedirect { redirect_url }))
}

/// Runs every check without signing anyone in or remembering the event, and reports each. A
/// failed signature counts towards the failed-authentication limits, as at the real endpoint.
#[utoipa::path(post, path = "/v1/inbound/{slug}/sso/test", tag = "inbound",
    params(
        ("slug" = String, Path, description = "The integration's slug."),
        ("Vinst-Timestamp" = Option<String>, Header, description = "Unix seconds or RFC 3339, as signed (also `X-Vinst-Timestamp`)."),
        ("Vinst-Signature" = Option<String>, Header, description = "The signature per the integration's profile, e.g. lowercase hex of HMAC-SHA256 over `{timestamp}.{body}`; a `sha256=` prefix is accepted (also `X-Vinst-Signature`)."),
        ("webhook-id" = Option<String>, Header, description = "Profile `standard-webhooks`: the message id, signed and remembered against replays."),
        ("webhook-timestamp" = Option<String>, Header, description = "Profile `standard-webhooks`: Unix seconds, signed."),
        ("webhook-signature" = Option<String>, Header, description = "Profile `standard-webhooks`: space-separated `v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>` entries; one valid entry suffices."),
    ),
    request_body(content = Option<serde_json::Value>, content_type = "application/json",
        description = "Anything: the event as the portal would send it. The report says what is wrong with it."),
    responses(
        (status = 200, description = "Each check and whether it passed; `ok` when all did.", body = SandboxReport),
        SandboxRefusals,
    ))]
async fn sandbox(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<SandboxReport>> {
    Ok(Json(state.inbound_sandbox(&ctx, &slug, signed_event(&headers, body)).await?))
}
