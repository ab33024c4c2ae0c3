//! The baseline: the same HTTP stack as handoff (axum on tokio, same runtime flavour) answering
//! a trivial handler that takes the same request shape as `POST /v1/sso` — the five headers and
//! the JSON body — and answers a small JSON body. Its throughput is the practical limit of one
//! such request on this machine.

use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Body {
    #[allow(dead_code)]
    redirect_path: Option<String>,
}

const HEADERS: [&str; 5] =
    ["x-partner-id", "x-partner-secret", "x-organization-id", "x-organization-secret", "x-user-id"];

async fn handler(headers: HeaderMap, Json(_body): Json<Body>) -> Json<Value> {
    let present = HEADERS.iter().all(|name| headers.get(*name).is_some_and(|v| !v.is_empty()));
    Json(json!({"success": present, "data": {"ok": true}}))
}

pub fn serve() -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        println!("listening {}", listener.local_addr().map_err(|e| e.to_string())?);
        axum::serve(listener, Router::new().route("/v1/sso", post(handler))).await.map_err(|e| e.to_string())
    })
}
