//! The OpenAPI 3.1 document of every JSON endpoint, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types: served at `/openapi.json`, and as a reference page for people
//! at `/openapi`. Each module lists its own operations (`Api`); this one puts them together.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handoff_core::wire::{ErrorEnvelope, ProblemBody, WebhookError};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{
    Content, HeaderBuilder, ObjectBuilder, OpenApi as Document, RefOr, Required, ResponseBuilder, Schema, Type,
};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;
use crate::web::{escape, page};
use crate::{admin, inbound, metrics, ops, outbound, partner_api, portal};

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
            partner_api::Api::openapi(),
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
    doc.servers = Some(vec![Server::new(state.settings.public_url.base.clone())]);
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
    Html(page("handoff API reference", &render(&instance_document(&state))))
}

#[derive(OpenApi)]
#[openapi(paths(json, reference))]
struct Api;

/// The reference page's body: one section per operation, in the document's order.
fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1>handoff API reference</h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {}). \
         Error types: <a href=\"/errors/invalid-request\">/errors/…</a>.</p>",
        escape(doc.info.description.as_deref().unwrap_or_default()),
        escape(&serde_json::to_value(&doc.openapi).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
    );
    out.push_str("<ul>");
    for (path, item) in &doc.paths.paths {
        for (method, operation) in operations(item) {
            let summary = operation.summary.as_deref().map(|s| format!(" {}", escape(s))).unwrap_or_default();
            let _ = write!(
                out,
                "<li><a href=\"#{}\"><code>{method} {}</code></a>{summary}</li>",
                anchor(method, path),
                escape(path)
            );
        }
    }
    out.push_str("</ul>");
    for (path, item) in &doc.paths.paths {
        for (method, operation) in operations(item) {
            section(&mut out, method, path, operation);
        }
    }
    out
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", &item.get),
        ("HEAD", &item.head),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|operation| (method, operation)))
    .collect()
}

fn anchor(method: &str, path: &str) -> String {
    format!("{}{}", method.to_ascii_lowercase(), path.replace(['/', '{', '}', '.'], "-"))
}

fn section(out: &mut String, method: &str, path: &str, operation: &Operation) {
    let _ = write!(out, "<h2 id=\"{}\"><code>{method} {}</code></h2>", anchor(method, path), escape(path));
    for text in [&operation.summary, &operation.description].into_iter().flatten() {
        let _ = write!(out, "<p>{}</p>", escape(text));
    }
    if operation.security.is_some() {
        out.push_str("<p>Needs <code>Authorization: Bearer &lt;admin token&gt;</code>.</p>");
    }
    if let Some(parameters) = &operation.parameters {
        out.push_str("<p>Parameters:</p><ul>");
        for parameter in parameters {
            let RefOr::T(parameter) = parameter else { continue };
            let location = serde_json::to_value(&parameter.parameter_in).ok();
            let _ = write!(
                out,
                "<li><code>{}</code> ({}{}){}</li>",
                escape(&parameter.name),
                location.as_ref().and_then(|v| v.as_str()).unwrap_or_default(),
                if matches!(parameter.required, Required::True) { ", required" } else { "" },
                parameter.description.as_deref().map(|d| format!(": {}", escape(d))).unwrap_or_default(),
            );
        }
        out.push_str("</ul>");
    }
    if let Some(RefOr::T(body)) = &operation.request_body {
        let _ = write!(out, "<p>Body: {}</p>", contents(&body.content));
    }
    out.push_str("<p>Answers:</p><ul>");
    for (status, response) in &operation.responses.responses {
        if let RefOr::T(response) = response {
            let _ = write!(
                out,
                "<li><code>{}</code> {} {}</li>",
                escape(status),
                escape(&response.description),
                contents(&response.content)
            );
        }
    }
    out.push_str("</ul>");
}

/// `application/json: OrganizationView` for each media type.
fn contents<'a>(content: impl IntoIterator<Item = (&'a String, &'a RefOr<Content>)>) -> String {
    content
        .into_iter()
        .map(|(media, content)| {
            let schema = match content {
                RefOr::T(content) => &content.schema,
                RefOr::Ref(_) => &None,
            };
            let schema = match schema {
                Some(RefOr::Ref(reference)) => reference.ref_location.rsplit('/').next().unwrap_or_default().to_owned(),
                Some(RefOr::T(_)) => "object".to_owned(),
                None => String::new(),
            };
            format!("<code>{}</code> {}", escape(media), escape(&schema))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A required string header parameter.
pub fn header_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))))
        .build()
}

/// How a refusal is written: which body, in which media types.
#[derive(Clone, Copy)]
enum Style {
    /// `application/problem+json` with an `ErrorEnvelope`.
    Problem,
    /// The same, or an HTML page for a browser (unless it sends `Accept: application/json`).
    Page,
    /// Seed 002's `{"error": "<sentence>"}`.
    Webhook,
}

/// A refusal with `status`; a `429` also names `Retry-After`.
fn refusal(status: u16, style: Style) -> (String, RefOr<utoipa::openapi::Response>) {
    let description = match status {
        400 => "A missing or malformed header, parameter or field (`invalid-request`), or a damaged sign-in link (`invalid-token`).",
        401 => "Missing or wrong credentials (`authentication-required`).",
        403 => "Authenticated, but not allowed (`forbidden`).",
        404 => "No such resource, or no such user in the organization (`not-found`).",
        409 => "In conflict with what exists or with a concurrent change (`conflict`), or a sign-in link already used (`token-already-used`).",
        410 => "The sign-in link has expired (`expired-token`).",
        413 => "The body is over 64 KiB (`payload-too-large`).",
        415 => "The body is not `application/json` (`unsupported-media-type`).",
        429 => "Too many requests or failed attempts (`rate-limited`).",
        502 => "The supplier failed: unreachable, not 200, or a `redirectUrl` that is not allowed (`bad-gateway`).",
        504 => "The supplier did not answer in time (`gateway-timeout`).",
        _ => "Refused.",
    };
    let schema = |name: &str| Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name))));
    let mut response = ResponseBuilder::new().description(description);
    response = match style {
        Style::Problem => response.content("application/problem+json", schema("ErrorEnvelope")),
        Style::Page => response.content("application/problem+json", schema("ErrorEnvelope")).content(
            "text/html",
            Content::new(Some(Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()))),
        ),
        Style::Webhook => response.content("application/json", schema("WebhookError")),
    };
    if status == 429 {
        let seconds = Schema::Object(ObjectBuilder::new().schema_type(Type::Integer).build());
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(seconds))
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
    (status.to_string(), RefOr::T(response.build()))
}

/// Declares a set of refusals for `responses(…)`: `refusals!(Name(Style): 400, 401;)`.
macro_rules! refusals {
    ($($(#[$doc:meta])* $name:ident($style:ident): $($status:literal),+;)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                [$($status),+].into_iter().map(|status| refusal(status, Style::$style)).collect()
            }
        }
    )+};
}

refusals! {
    /// Every admin call: no or a wrong token, too many failed tries.
    AdminRefusals(Problem): 401, 429;
    /// Admin lists: a malformed `limit` or `cursor` is a 400.
    AdminListRefusals(Problem): 400, 401, 429;
    /// Admin lists under one resource by id.
    AdminByIdListRefusals(Problem): 400, 401, 404, 429;
    /// Admin calls on one resource by id.
    AdminByIdRefusals(Problem): 401, 404, 429;
    /// Admin calls with a JSON body.
    AdminBodyRefusals(Problem): 400, 401, 413, 415, 429;
    /// Admin calls with a JSON body on one resource by id.
    AdminByIdBodyRefusals(Problem): 400, 401, 404, 413, 415, 429;
    /// Secret rotations: also 409 when another rotation of the same secret won the race.
    RotationRefusals(Problem): 400, 401, 404, 409, 413, 415, 429;
    /// Partner calls: missing headers, wrong credentials, not linked, limits.
    PartnerRefusals(Problem): 400, 401, 403, 429;
    /// Partner calls with a JSON body.
    PartnerBodyRefusals(Problem): 400, 401, 403, 413, 415, 429;
    /// Partner calls about one user (`x-user-id` or the path's `user_id`).
    PartnerUserRefusals(Problem): 400, 401, 403, 404, 429;
    /// The same with a JSON body.
    PartnerUserBodyRefusals(Problem): 400, 401, 403, 404, 413, 415, 429;
    /// Redeeming a sign-in link.
    RedeemRefusals(Page): 400, 403, 409, 410, 429;
    /// Launching into a supplier.
    LaunchRefusals(Page): 401, 403, 404, 502, 504;
    /// Signed webhooks: malformed, badly signed or stale, refused organization or user, replay.
    WebhookRefusals(Webhook): 400, 401, 403, 404, 409, 413, 415, 429;
    /// The webhook sandbox: no such integration or sandbox off, too big, too many failed signatures.
    SandboxRefusals(Webhook): 404, 413, 429;
}
