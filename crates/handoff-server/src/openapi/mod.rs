//! The OpenAPI 3.1 document of every JSON endpoint, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types: served at `/openapi.json`, and as a reference page for people
//! at `/openapi`. Each surface lists its own operations (`Api`); this one puts them together (a
//! test in `tests/it/schema.rs` checks that every annotated operation is in it). The refusal sets
//! the surfaces name live in the leaf `http::refusals`, so nothing below imports this.

mod page;

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handoff_core::wire::{ErrorEnvelope, ProblemBody, WebhookError};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::http::pages::page;
use crate::http::state::AppState;
use crate::http::{admin, inbound, metrics, ops, outbound, partner, portal};

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(json)).route("/openapi", get(reference))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "handoff",
        description = "Partner single sign-on: partner API links, signed webhooks, identity for the \
                       protected application, and the admin API. Every error of the JSON APIs is \
                       `{\"success\": false, \"error\": {type, title, status, detail, request_id}}`; \
                       webhook errors are `{\"error\": \"<sentence>\"}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorEnvelope, ProblemBody, WebhookError)),
    modifiers(&AdminToken),
    tags(
        (name = "partner", description = "Partner API (seed 000): mint sign-in links, manage the organization's users."),
        (name = "inbound", description = "Inbound webhook SSO (seed 002): a trusted portal posts signed user events."),
        (name = "portal", description = "The user's browser and the protected application: redeem links, sessions, forward-auth, launches."),
        (name = "admin", description = "Administration, with `Authorization: Bearer <admin token>`."),
        (name = "operations", description = "Health, readiness, keys, metrics and this document."),
    )
)]
struct Root;

/// The `admin_token` bearer scheme the admin operations name.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, doc: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The admin token (`admin_token`, or the generated `handoff.admin-token` file)."))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("admin_token", SecurityScheme::Http(scheme));
    }
}

/// The whole document, without `servers` (those depend on the instance).
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = Root::openapi();
        for part in [
            partner::Api::openapi(),
            inbound::Api::openapi(),
            portal::Api::openapi(),
            outbound::Api::openapi(),
            admin::Api::openapi(),
            ops::Api::openapi(),
            metrics::Api::openapi(),
            Api::openapi(),
        ] {
            doc.merge(part);
        }
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc
    })
}

/// The document with this instance's public URL as its server.
fn instance_document(state: &AppState) -> Document {
    let mut doc = document().clone();
    doc.servers = Some(vec![Server::new(state.settings().public_url.base.clone())]);
    doc
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json")))]
async fn json(State(state): State<AppState>) -> Response {
    let body = instance_document(&state).to_json().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[utoipa::path(get, path = "/openapi", tag = "operations",
    responses((status = 200, description = "The API reference page: every operation, its parameters and answers.", content_type = "text/html")))]
async fn reference(State(state): State<AppState>) -> Html<String> {
    Html(page("handoff API reference", &page::render(&instance_document(&state))))
}

#[derive(OpenApi)]
#[openapi(paths(json, reference))]
struct Api;
