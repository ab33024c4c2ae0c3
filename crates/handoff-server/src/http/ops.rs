//! Operations and public documents: liveness, readiness, the JWKS and the error reference.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use handoff_core::problem::ProblemKind;
use handoff_core::token::Jwks;
use handoff_core::wire::{ErrorEnvelope, Health};
use utoipa::OpenApi;

use crate::error::{ApiError, ApiResult};
use crate::http::pages::{escape, page};
use crate::http::state::AppState;

#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, jwks, error_reference))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/errors/{slug}", get(error_reference))
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive.", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 503, description = "The database is not reachable (`service-unavailable`).", body = ErrorEnvelope,
            content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.ready().await?;
    Ok(Json(Health { status: "ready".into() }))
}

/// The public keys that verify `X-Handoff-Token` and registration prefills.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200, description = "The JSON Web Key Set (Ed25519).", body = Jwks)))]
async fn jwks(State(state): State<AppState>) -> Response {
    let keys: Jwks = state.jwks();
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(keys)).into_response()
}

/// The error reference page of each problem type, from `docs/errors/`.
fn reference(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::InvalidRequest => include_str!("../../../../docs/errors/invalid-request.md"),
        ProblemKind::AuthenticationRequired => include_str!("../../../../docs/errors/authentication-required.md"),
        ProblemKind::Forbidden => include_str!("../../../../docs/errors/forbidden.md"),
        ProblemKind::NotFound => include_str!("../../../../docs/errors/not-found.md"),
        ProblemKind::MethodNotAllowed => include_str!("../../../../docs/errors/method-not-allowed.md"),
        ProblemKind::RequestTimeout => include_str!("../../../../docs/errors/request-timeout.md"),
        ProblemKind::Conflict => include_str!("../../../../docs/errors/conflict.md"),
        ProblemKind::PayloadTooLarge => include_str!("../../../../docs/errors/payload-too-large.md"),
        ProblemKind::UnsupportedMediaType => include_str!("../../../../docs/errors/unsupported-media-type.md"),
        ProblemKind::RateLimited => include_str!("../../../../docs/errors/rate-limited.md"),
        ProblemKind::InvalidToken => include_str!("../../../../docs/errors/invalid-token.md"),
        ProblemKind::ExpiredToken => include_str!("../../../../docs/errors/expired-token.md"),
        ProblemKind::TokenAlreadyUsed => include_str!("../../../../docs/errors/token-already-used.md"),
        ProblemKind::BadGateway => include_str!("../../../../docs/errors/bad-gateway.md"),
        ProblemKind::GatewayTimeout => include_str!("../../../../docs/errors/gateway-timeout.md"),
        ProblemKind::ServiceUnavailable => include_str!("../../../../docs/errors/service-unavailable.md"),
        ProblemKind::Internal => include_str!("../../../../docs/errors/internal.md"),
    }
}

/// The reference page of an error type (the `type` URI of every problem).
#[utoipa::path(get, path = "/errors/{slug}", tag = "operations",
    params(("slug" = String, Path, description = "The problem type, e.g. `invalid-request`.")),
    responses(
        (status = 200, description = "The page.", content_type = "text/html"),
        (status = 404, description = "No such error type.", content_type = "text/html"),
    ))]
async fn error_reference(Path(slug): Path<String>) -> ApiResult<Response> {
    let kind = ProblemKind::from_slug(&slug).ok_or_else(|| ApiError::not_found("No such error type."))?;
    let body = format!("<pre style=\"white-space:pre-wrap\">{}</pre>", escape(reference(kind)));
    Ok(([(header::CACHE_CONTROL, "public, max-age=3600")], Html(page(kind.title(), &body))).into_response())
}
