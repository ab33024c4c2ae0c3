//! The refusal sets handlers name in their `#[utoipa::path(responses(…))]`, and the header
//! parameter helper: a leaf the surfaces import (the document itself, `openapi`, imports the
//! surfaces).

use std::collections::BTreeMap;

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Content, HeaderBuilder, ObjectBuilder, RefOr, Required, ResponseBuilder, Schema, Type};

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

/// A refusal with `status`; a `429` and a `503` also name `Retry-After`.
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
        503 => "The database is not reachable; try again after `Retry-After` seconds (`service-unavailable`).",
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
    if matches!(status, 429 | 503) {
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

// Every set names 503: each of these operations reads or writes the store.
refusals! {
    /// Every admin call: no or a wrong token, too many failed tries.
    AdminRefusals(Problem): 401, 429, 503;
    /// Admin lists: a malformed `limit` or `cursor` is a 400.
    AdminListRefusals(Problem): 400, 401, 429, 503;
    /// Admin lists under one resource by id.
    AdminByIdListRefusals(Problem): 400, 401, 404, 429, 503;
    /// Admin calls on one resource by id.
    AdminByIdRefusals(Problem): 401, 404, 429, 503;
    /// Admin calls with a JSON body.
    AdminBodyRefusals(Problem): 400, 401, 413, 415, 429, 503;
    /// Admin calls with a JSON body on one resource by id.
    AdminByIdBodyRefusals(Problem): 400, 401, 404, 413, 415, 429, 503;
    /// Secret rotations: also 409 when another rotation of the same secret won the race.
    RotationRefusals(Problem): 400, 401, 404, 409, 413, 415, 429, 503;
    /// Partner calls: missing headers, wrong credentials, not linked, limits.
    PartnerRefusals(Problem): 400, 401, 403, 429, 503;
    /// Partner calls with a JSON body.
    PartnerBodyRefusals(Problem): 400, 401, 403, 413, 415, 429, 503;
    /// Partner calls about one user (`x-user-id` or the path's `user_id`).
    PartnerUserRefusals(Problem): 400, 401, 403, 404, 429, 503;
    /// The same with a JSON body.
    PartnerUserBodyRefusals(Problem): 400, 401, 403, 404, 413, 415, 429, 503;
    /// Redeeming a sign-in link.
    RedeemRefusals(Page): 400, 403, 409, 410, 429, 503;
    /// Launching into a supplier.
    LaunchRefusals(Page): 401, 403, 404, 502, 503, 504;
    /// Signed webhooks: malformed, badly signed or stale, refused organization or user, replay.
    WebhookRefusals(Webhook): 400, 401, 403, 404, 409, 413, 415, 429, 503;
    /// The webhook sandbox: no such integration or sandbox off, too big, too many failed signatures.
    SandboxRefusals(Webhook): 404, 413, 429, 503;
    /// Calls whose other refusals are their own (the session's): the database out of reach.
    StoreRefusals(Problem): 503;
}
