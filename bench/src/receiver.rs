//! The receiver of the stream scenario: a Standard Webhooks endpoint on this machine that checks
//! each delivery's signature (as a real receiver would, with handoff-webhook), counts the records
//! of the JSON array and answers `204`. The stream's `whsec_…` secret exists only once the stream
//! does, which needs this address first: `run` hands it over with `PUT /secret`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use handoff_webhook::{Request, SignatureProfile};

#[derive(Default)]
struct Receiver {
    secret: OnceLock<String>,
    records: AtomicU64,
}

async fn deliver(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(secret) = receiver.secret.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let request = Request::from_headers(SignatureProfile::StandardWebhooks, header, &body);
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if SignatureProfile::StandardWebhooks.verify(&[secret.as_str()], &request, now, 300).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    // A JSON array, counted without building its values (a SIEM's parse is not handoff's cost).
    let Ok(records) = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    receiver.records.fetch_add(records.len() as u64, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn set_secret(State(receiver): State<Arc<Receiver>>, secret: String) -> StatusCode {
    match receiver.secret.set(secret) {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::CONFLICT,
    }
}

async fn count(State(receiver): State<Arc<Receiver>>) -> String {
    receiver.records.load(Ordering::Relaxed).to_string()
}

pub fn serve() -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        println!("listening {}", listener.local_addr().map_err(|e| e.to_string())?);
        let app = Router::new()
            .route("/", post(deliver))
            .route("/secret", put(set_secret))
            .route("/count", get(count))
            .with_state(Arc::new(Receiver::default()));
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}
