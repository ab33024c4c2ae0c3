//! A protected application for the proxy tests, on its own loopback port: it echoes what it
//! received, counts calls, streams uploads without keeping them, and speaks a raw `Upgrade: echo`
//! protocol to prove upgrades pass through.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
pub struct Calls(AtomicUsize);

pub struct App {
    pub url: String,
    pub calls: Arc<Calls>,
}

impl App {
    pub fn calls(&self) -> usize {
        self.calls.0.load(Ordering::SeqCst)
    }
}

pub async fn start() -> App {
    let calls = Arc::new(Calls::default());
    let router = Router::new().fallback(handle).with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    App { url, calls }
}

async fn handle(State(calls): State<Arc<Calls>>, mut request: Request) -> Response {
    calls.0.fetch_add(1, Ordering::SeqCst);
    if request.headers().get("upgrade").is_some_and(|v| v == "echo") {
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buffer = [0u8; 64];
                while let Ok(n) = io.read(&mut buffer).await {
                    if n == 0 || io.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        response.headers_mut().insert("connection", HeaderValue::from_static("upgrade"));
        response.headers_mut().insert("upgrade", HeaderValue::from_static("echo"));
        return response;
    }
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").to_owned()))
        .collect();
    let (method, path) = (request.method().to_string(), request.uri().to_string());
    // Count the body as it streams in; never hold it.
    let mut body = request.into_body();
    let mut bytes = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        bytes += frame.data_ref().map_or(0, |data| data.len());
    }
    let mut response =
        Json(json!({"method": method, "path": path, "headers": headers, "bytes": bytes})).into_response();
    response.headers_mut().insert("x-app", HeaderValue::from_static("yes"));
    response
}
