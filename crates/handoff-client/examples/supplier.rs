//! A supplier endpoint receiving handoff's launches: verify, read the user, answer where to go.
//! `HANDOFF_WEBHOOK_SECRET=whsec_… cargo run -p handoff-client --features axum --example supplier`
//! (`HANDOFF_WEBHOOK_PROFILE` if not `standard-webhooks`; `LISTEN`, default 127.0.0.1:3000).
//! The test `standard_webhooks::the_sdk_supplier_example_receives_a_real_launch` runs [`app`].

use axum::{routing::post, Json, Router};
use handoff_client::webhooks::{axum::SignedEvent, Verifier};
use handoff_client::wire::{SsoEvent, WebhookRedirect};

async fn launch(SignedEvent(event): SignedEvent<SsoEvent>) -> Json<WebhookRedirect> {
    Json(WebhookRedirect { redirect_url: format!("https://app.supplier.example/welcome?user={}", event.data.email) })
}

pub fn app(verifier: Verifier) -> Router {
    Router::new().route("/handoff/launch", post(launch)).with_state(verifier)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profile = std::env::var("HANDOFF_WEBHOOK_PROFILE").unwrap_or_else(|_| "standard-webhooks".into()).parse()?;
    let verifier = Verifier::new(profile, [std::env::var("HANDOFF_WEBHOOK_SECRET")?], 15)?;
    let listener =
        tokio::net::TcpListener::bind(std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into())).await?;
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
