//! Every surface's routes merged, with the layers every request passes: request ids (a client's
//! kept only when safe), tracing, `respond::finish` (context, problems, audit, security headers,
//! metrics), the timeout and the body limit. The protected application is the fallback.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderName;
use axum::Router;
use handoff_core::model::{bounded, AUDIT_FIELD_LIMIT};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http::extract::BODY_LIMIT;
use crate::http::state::AppState;
use crate::http::{admin, console, inbound, metrics, ops, outbound, partner, portal, proxy, respond};
use crate::infra::telemetry;
use crate::openapi;

/// Longest time one request may take before the server answers 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(respond::REQUEST_ID);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
        // The path only (query strings carry tokens, which never reach the log), and bounded.
        let id = request.headers().get(respond::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        let path = bounded(request.uri().path(), AUDIT_FIELD_LIMIT);
        tracing::info_span!("request", method = telemetry::method_label(request.method()), path = %path, request_id = %id)
    });
    Router::new()
        .merge(partner::routes())
        .merge(inbound::routes())
        .merge(outbound::routes())
        .merge(portal::routes())
        .merge(admin::routes())
        .merge(console::routes())
        .merge(ops::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .fallback(proxy::application)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::map_request(respond::drop_unsafe_request_id))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(trace)
                .layer(axum::middleware::from_fn_with_state(state.clone(), respond::finish))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .with_state(state)
}
