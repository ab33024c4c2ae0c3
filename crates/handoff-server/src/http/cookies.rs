//! The session cookies of the portal and of the web console: their names (`__Host-` prefixed
//! whenever they can be `Secure`), their attributes, and the live portal session a request's
//! cookie names.

use axum::http::header::{self, HeaderMap};
use axum::response::{IntoResponse, Response};
use handoff_core::problem::ProblemKind;

use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::http::respond::NoAudit;
use crate::services::{Identity, Services};

/// Every name a handoff session cookie can have, the console's too; never forwarded to the
/// application.
pub const SESSION_COOKIES: [&str; 5] =
    ["__Host-handoff", "handoff", "__Host-handoff-embed", "__Host-handoff-admin", "handoff-admin"];

/// The session cookie's name for the embed or top-level context.
pub fn cookie_name(settings: &Settings, embed: bool) -> &'static str {
    match (embed, settings.public_url.https) {
        (true, _) => "__Host-handoff-embed",
        (false, true) => "__Host-handoff",
        (false, false) => "handoff",
    }
}

/// A `Set-Cookie` value. Embed sessions are `SameSite=None; Secure; Partitioned` (browsers allow
/// `Secure` on loopback http too); top-level sessions are `SameSite=Lax`, `Secure` unless the
/// portal is plain-http loopback development.
pub fn set_cookie(settings: &Settings, embed: bool, value: &str, max_age: i64) -> String {
    let name = cookie_name(settings, embed);
    if embed {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None; Partitioned")
    } else if settings.public_url.https {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax")
    } else {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    }
}

/// The web console's operator session cookie: `__Host-` prefixed and `Secure`, unless the portal
/// is plain-http loopback development (as for portal sessions).
pub fn console_cookie_name(settings: &Settings) -> &'static str {
    if settings.public_url.https {
        "__Host-handoff-admin"
    } else {
        "handoff-admin"
    }
}

/// The console cookie's `Set-Cookie` value: `HttpOnly`, `SameSite=Strict` (no other site's page
/// ever sends it, not even a link), `Secure` unless plain-http loopback development.
pub fn set_console_cookie(settings: &Settings, value: &str, max_age: i64) -> String {
    let name = console_cookie_name(settings);
    let secure = if settings.public_url.https { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly{secure}; SameSite=Strict")
}

/// The value of the console cookie, if the request has one.
pub fn console_cookie<'a>(settings: &Settings, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, console_cookie_name(settings))
}

/// The value of the session cookie for the embed or top-level context, if the request has one.
pub fn session_cookie<'a>(settings: &Settings, headers: &'a HeaderMap, embed: bool) -> Option<&'a str> {
    cookie(headers, cookie_name(settings, embed))
}

/// The value of the first cookie called `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The live session behind the request's cookie for the embed or top-level context.
pub async fn identify(services: &Services, headers: &HeaderMap, embed: bool) -> ApiResult<Option<Identity>> {
    match session_cookie(services.settings(), headers, embed) {
        Some(value) => services.identify(value).await,
        None => Ok(None),
    }
}

/// Top-level session first, then the embed session.
pub async fn any_identity(services: &Services, headers: &HeaderMap) -> ApiResult<Option<Identity>> {
    match identify(services, headers, false).await? {
        Some(identity) => Ok(Some(identity)),
        None => identify(services, headers, true).await,
    }
}

/// The 401 for a request without a live session; not audited (it names no one).
pub fn not_signed_in() -> Response {
    let mut response = ApiError::new(ProblemKind::AuthenticationRequired, "You are not signed in.").into_response();
    response.extensions_mut().insert(NoAudit);
    response
}
