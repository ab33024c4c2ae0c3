//! Request pieces every surface shares: JSON bodies with documented errors, required headers,
//! and the admin bearer token.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use axum::http::StatusCode;
use handoff_core::problem::ProblemKind;
use handoff_core::secret::SecretDigest;
use serde::de::DeserializeOwned;

use crate::config::AddrSet;
use crate::error::ApiError;
use crate::state::{AppState, Ctx};

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A body as axum hands it over: the bytes, or why they could not be read.
pub type RawBody = Result<Bytes, BytesRejection>;

/// Parses a JSON object body; `None` when the body is empty or `null`. Arrays and scalars are
/// refused even where serde would map them onto a struct.
pub fn optional_json<T: DeserializeOwned>(headers: &HeaderMap, body: RawBody) -> Result<Option<T>, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ProblemKind::PayloadTooLarge, "The request body is over the 64 KiB limit.")
        } else {
            ApiError::invalid("The request body could not be read.")
        }
    })?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || (v.starts_with("application/") && v.ends_with("+json")));
    if !is_json {
        return Err(ApiError::new(ProblemKind::UnsupportedMediaType, "Content-Type must be application/json."));
    }
    match bytes.trim_ascii() {
        b"null" => Ok(None),
        object if object.starts_with(b"{") => {
            serde_json::from_slice(object).map(Some).map_err(|e| ApiError::invalid(format!("Malformed JSON body: {e}")))
        }
        _ => Err(ApiError::invalid("The JSON body must be an object.")),
    }
}

/// Parses a JSON body that must be present.
pub fn json<T: DeserializeOwned>(headers: &HeaderMap, body: RawBody) -> Result<T, ApiError> {
    optional_json(headers, body)?.ok_or_else(|| ApiError::invalid("A JSON request body is required."))
}

/// The named headers' values, or a 400 naming every missing one.
pub fn required_headers(headers: &HeaderMap, names: &[&str]) -> Result<Vec<String>, ApiError> {
    let mut missing = Vec::new();
    let mut values = Vec::with_capacity(names.len());
    for name in names {
        match headers.get(*name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => values.push(value.to_owned()),
            None => missing.push(*name),
        }
    }
    if missing.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::invalid(format!("Missing required headers: {}", missing.join(", "))))
    }
}

/// A 400 naming every one of `names` that the request carries more than once: a proxy reading
/// the last value would see another identity than handoff, which reads the first.
pub fn unrepeated_headers(headers: &HeaderMap, names: &[&str]) -> Result<(), ApiError> {
    let repeated: Vec<&str> =
        names.iter().copied().filter(|name| headers.get_all(*name).iter().nth(1).is_some()).collect();
    if repeated.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("Headers sent more than once: {}", repeated.join(", "))))
    }
}

/// The TCP peer's address — never one a header names: who may read `/metrics` or ask
/// `/auth/verify` is decided by who connected.
pub struct Peer(pub Option<IpAddr>);

impl<S: Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}

impl Peer {
    /// A 403 unless the peer is in `allowed` (`setting` names the setting in the answer).
    pub fn check(&self, allowed: &AddrSet, setting: &str) -> Result<(), ApiError> {
        if allowed.allows(self.0) {
            Ok(())
        } else {
            Err(ApiError::new(
                ProblemKind::Forbidden,
                format!("This address may not call this endpoint (see `{setting}`)."),
            ))
        }
    }
}

/// Proof that the request carries the admin bearer token.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_parts(parts, &state.settings);
        if let Some(wait) = state.throttled(&ctx).await? {
            return Err(AppState::rate_limited(wait));
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if SecretDigest::of(token).matches(&state.admin_token) {
            Ok(AdminAuth)
        } else {
            state.failed_authentication(&ctx).await;
            Err(ApiError::new(ProblemKind::AuthenticationRequired, "A valid admin bearer token is required."))
        }
    }
}
