//! `GET /metrics`: the Prometheus exposition (`infra::telemetry` owns the recorder and the
//! metric names), only to the addresses in `metrics_allow`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handoff_core::wire::ErrorEnvelope;
use utoipa::OpenApi;

use crate::http::extract::Peer;
use crate::http::state::AppState;
use crate::infra::telemetry;

#[derive(OpenApi)]
#[openapi(paths(render))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition.", content_type = "text/plain"),
        (status = 403, description = "The caller is not in `metrics_allow` (`forbidden`).", body = ErrorEnvelope,
            content_type = "application/problem+json")))]
async fn render(State(state): State<AppState>, peer: Peer) -> Response {
    if let Err(refused) = peer.check(&state.settings().metrics_allow, "metrics_allow") {
        return refused.into_response();
    }
    let (queued, connections) = state.load();
    let audit = telemetry::AuditGauges {
        retention_days: state.settings().audit_retention_days,
        oldest_age_seconds: state.oldest_audit_age().await,
    };
    let streams = state.stream_gauges().await;
    match telemetry::render(queued, connections, &audit, &streams) {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
