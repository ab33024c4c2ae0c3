//! Request pieces every surface shares: the request's context, JSON bodies with documented
//! errors, the partner credential headers, the TCP peer and the admin bearer token.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use axum::http::Extensions;
use axum::http::StatusCode;
use handoff_core::problem::ProblemKind;
use serde::de::DeserializeOwned;

use crate::config::{AddrSet, Settings};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::services::{Ctx, PartnerCredentials, PARTNER_HEADERS};

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A body as axum hands it over: the bytes, or why they could not be read.
pub type RawBody = Result<Bytes, BytesRejection>;

/// The bytes of a body, or the documented refusal: 413 over [`BODY_LIMIT`], else 400.
pub fn body_bytes(body: RawBody) -> ApiResult<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ProblemKind::PayloadTooLarge, "The request body is over the 64 KiB limit.")
        } else {
            ApiError::invalid("The request body could not be read.")
        }
    })
}

/// Parses a JSON object body; `None` when the body is empty or `null`. Arrays and scalars are
/// refused even where serde would map them onto a struct. `application/json` and any
/// `application/*+json` are JSON.
pub fn optional_json<T: DeserializeOwned>(headers: &HeaderMap, body: RawBody) -> ApiResult<Option<T>> {
    let bytes = body_bytes(body)?;
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
pub fn json<T: DeserializeOwned>(headers: &HeaderMap, body: RawBody) -> ApiResult<T> {
    optional_json(headers, body)?.ok_or_else(|| ApiError::invalid("A JSON request body is required."))
}

/// A request's context: the client address through `trusted_proxies`, and the request id.
pub fn context(settings: &Settings, headers: &HeaderMap, extensions: &Extensions) -> Ctx {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let forwarded = headers.get_all(&settings.client_addr_header).iter().map(|v| v.to_str().unwrap_or_default());
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ctx::resolve(settings, peer, forwarded, request_id)
}

/// The context `respond::finish` resolved for this request (resolved here only for a request
/// that did not pass through it).
impl FromRequestParts<AppState> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Ctx>() {
            Some(ctx) => Ok(ctx.clone()),
            None => Ok(context(state.settings(), &parts.headers, &parts.extensions)),
        }
    }
}

/// The partner credential headers as sent.
impl<S: Sync> FromRequestParts<S> for PartnerCredentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let value = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        Ok(PartnerCredentials {
            values: PARTNER_HEADERS.map(value),
            repeated: PARTNER_HEADERS
                .into_iter()
                .filter(|name| headers.get_all(*name).iter().nth(1).is_some())
                .collect(),
            named_any: PARTNER_HEADERS.iter().any(|name| headers.contains_key(*name)),
        })
    }
}

/// The TCP peer's address — never one a header names: who may read `/metrics` or ask
/// `/auth/verify` is decided by who connected.
pub struct Peer(pub Option<IpAddr>);

impl Peer {
    /// A 403 unless the peer is in `allowed` (`setting` names the setting in the answer).
    pub fn check(&self, allowed: &AddrSet, setting: &str) -> ApiResult<()> {
        if allowed.allows(self.0) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("This address may not call this endpoint (see `{setting}`).")))
        }
    }
}

impl<S: Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}

/// Proof that the request carries the admin bearer token.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await.unwrap_or_else(|never| match never {});
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        state.authenticate_admin(&ctx, token).await.map(|()| AdminAuth)
    }
}
