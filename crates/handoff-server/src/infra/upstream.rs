//! The streaming HTTP client to the protected application (`upstream`): forwards a request with
//! the headers the caller adds (identity and forwarding headers), bodies streaming both ways
//! without being buffered, and joins WebSocket tunnels. Knows no session: the proxy surface
//! decides who may pass and when a tunnel must close.
//!
//! What the application is told comes from handoff, never from the client. Of the client's
//! headers these are dropped: every name holding `_` (WSGI and CGI servers fold `_` into `-`, so
//! `X_Handoff_User_Id` would read as `HTTP_X_HANDOFF_USER_ID`; nginx drops them too), every
//! `x-handoff-*`, the forwarding headers ([`FORWARDING`], any `x-forwarded-*` or `x-original-*`),
//! the hop-by-hop headers and the cookies the caller names (handoff's session cookies). Set
//! instead: the headers the caller adds.
//!
//! Upgrades: only a WebSocket handshake (`Upgrade: websocket`, RFC 6455) is forwarded as one. Any
//! other `Upgrade` is dropped and the request goes on as a plain one (RFC 9110 §7.8 lets a server
//! ignore it); a WebSocket handshake that is no GET, or lacks `Connection: upgrade` or a valid
//! `Sec-WebSocket-Key`, is a 400. The tunnel is joined only when the upstream answers 101 with
//! `Upgrade: websocket` and the `Sec-WebSocket-Accept` of the client's key; any other 101 is a
//! 502. An open tunnel runs until a side closes or the caller's `ended` future completes.
//!
//! Must not: let a client header through that could pass for one handoff sets; join a tunnel
//! the upstream did not accept.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri, Version};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use handoff_core::problem::ProblemKind;
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha1::{Digest as _, Sha1};
use std::future::Future;

use crate::error::ApiError;
use crate::infra::connections::Slot;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Client headers claiming who the client is or what it first asked for: only handoff says that
/// (as do `x-forwarded-*` and `x-original-*`, matched by prefix).
const FORWARDING: [&str; 5] = ["forwarded", "x-real-ip", "x-rewrite-url", "true-client-ip", "x-client-ip"];

/// The GUID that `Sec-WebSocket-Accept` hashes with the client's key (RFC 6455 §1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub struct Upstream {
    client: Client<HttpConnector, Body>,
    base: Uri,
}

impl Upstream {
    pub fn new(base: Uri) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Self { client, base }
    }

    /// Forwards `request` with the headers in `add`, streaming, without the cookies named in
    /// `strip_cookies`; returns the upstream's answer, and the tunnel to join when it accepted a
    /// WebSocket handshake.
    pub async fn forward(
        &self,
        mut request: Request,
        add: Vec<(HeaderName, HeaderValue)>,
        strip_cookies: &[&str],
    ) -> Result<(Response, Option<Tunnel>), ApiError> {
        let websocket_key = websocket_key(&request)?;
        let client_upgrade = websocket_key.is_some().then(|| hyper::upgrade::on(&mut request));
        // The tunnel keeps the client's socket after this exchange: it keeps its place too.
        let slot = request.extensions().get::<Slot>().cloned();
        let (mut parts, body) = request.into_parts();
        parts.uri = self.target(&parts.uri)?;
        // The hop to the application is HTTP/1.1 whatever the client spoke (an HTTP/2 request
        // would be refused by the HTTP/1.1 client). Its `Host` is the upstream's, which the client
        // writes from `uri`, whether the client sent `Host` or `:authority`; the proxy surface
        // names the public host in `X-Forwarded-Host`.
        parts.version = Version::HTTP_11;
        let headers = &mut parts.headers;
        remove_hop_by_hop(headers);
        headers.remove(header::HOST);
        let client_only: Vec<HeaderName> = headers.keys().filter(|name| reserved(name)).cloned().collect();
        for name in client_only {
            headers.remove(name);
        }
        strip_cookies_named(headers, strip_cookies);
        for (name, value) in add {
            headers.insert(name, value);
        }
        if websocket_key.is_some() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        let mut response = self.client.request(Request::from_parts(parts, body)).await.map_err(|err| {
            tracing::warn!(%err, "upstream request failed");
            ApiError::new(ProblemKind::BadGateway, "The application behind handoff is not reachable.")
        })?;
        let tunnel = if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            match (client_upgrade, &websocket_key) {
                (Some(client), Some(key)) if accepts(response.headers(), key) => {
                    Some(Tunnel { client, upstream: hyper::upgrade::on(&mut response), slot })
                }
                _ => {
                    tracing::warn!("the upstream switched protocols without accepting a WebSocket handshake");
                    return Err(ApiError::new(
                        ProblemKind::BadGateway,
                        "The application behind handoff answered the WebSocket handshake wrongly.",
                    ));
                }
            }
        } else {
            None
        };
        let (mut parts, body) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers);
        if tunnel.is_some() {
            parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        Ok((Response::from_parts(parts, Body::new(body)), tunnel))
    }

    /// The upstream URI for a request to `uri`: the upstream's scheme and authority, the request's
    /// path and query.
    fn target(&self, uri: &Uri) -> Result<Uri, ApiError> {
        Uri::builder()
            .scheme(self.base.scheme_str().unwrap_or("http"))
            .authority(self.base.authority().map_or("", |a| a.as_str()))
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| ApiError::invalid("The request target cannot be forwarded."))
    }
}

/// A WebSocket the upstream accepted: both upgrades, and the client connection's place under
/// the connection caps.
pub struct Tunnel {
    client: OnUpgrade,
    upstream: OnUpgrade,
    slot: Option<Slot>,
}

impl Tunnel {
    /// Pipes both ways until a side closes or `ended` completes; then drops both sides and the
    /// connection's place.
    pub async fn run(self, ended: impl Future<Output = ()>) {
        let Self { client, upstream, slot: _slot } = self;
        let (Ok(client), Ok(upstream)) = (client.await, upstream.await) else {
            return;
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            () = ended => {}
        }
    }
}

/// Whether a client's header is one only handoff may set, or could pass for one once a WSGI or
/// CGI server read its `_` as `-`: such headers never reach the application.
fn reserved(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.contains('_')
        || name.starts_with("x-handoff-")
        || name.starts_with("x-forwarded-")
        || name.starts_with("x-original-")
        || FORWARDING.contains(&name)
}

/// The client's `Sec-WebSocket-Key` when the request is a WebSocket handshake (its `Upgrade`
/// names `websocket`); `None` for any other request, whose `Upgrade` goes with the hop-by-hop
/// headers. A handshake RFC 6455 §4.2.1 refuses is a 400.
fn websocket_key(request: &Request) -> Result<Option<HeaderValue>, ApiError> {
    let headers = request.headers();
    if !has_token(headers, &header::UPGRADE, "websocket") {
        return Ok(None);
    }
    let key = single(headers, &header::SEC_WEBSOCKET_KEY)
        .filter(|key| BASE64.decode(key.as_bytes()).is_ok_and(|nonce| nonce.len() == 16));
    match key {
        Some(key)
            if request.method() == Method::GET
                && request.version() == Version::HTTP_11
                && has_token(headers, &header::CONNECTION, "upgrade") =>
        {
            Ok(Some(key.clone()))
        }
        _ => Err(ApiError::invalid(
            "A WebSocket handshake is an HTTP/1.1 GET with `Connection: upgrade` and one valid `Sec-WebSocket-Key`.",
        )),
    }
}

/// Whether an upstream's 101 accepts the client's handshake with `key` (RFC 6455 §4.1):
/// `Upgrade: websocket`, `Connection: upgrade` and the `Sec-WebSocket-Accept` derived from `key`.
fn accepts(headers: &HeaderMap, key: &HeaderValue) -> bool {
    has_token(headers, &header::UPGRADE, "websocket")
        && has_token(headers, &header::CONNECTION, "upgrade")
        && single(headers, &header::SEC_WEBSOCKET_ACCEPT)
            .is_some_and(|accept| accept.as_bytes() == websocket_accept(key.as_bytes()).as_bytes())
}

/// `Sec-WebSocket-Accept` for `key`: base64 of the SHA-1 of the key and the GUID.
fn websocket_accept(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha1.finalize())
}

/// The value of `name` if it is present exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    values.next().filter(|_| values.next().is_none())
}

/// Whether a comma-separated header `name` holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
        headers.remove(name);
    }
}

/// Removes the cookies named `names` from `Cookie`, keeping the application's.
fn strip_cookies_named(headers: &mut HeaderMap, names: &[&str]) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !names.iter().any(|name| pair.split('=').next() == Some(*name)))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_the_one_of_rfc_6455() {
        assert_eq!(websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn headers_that_fold_into_reserved_ones_are_reserved() {
        for name in ["x_handoff_user_id", "x-handoff_partner-id", "x_forwarded_host", "x-forwarded-port", "forwarded"] {
            assert!(reserved(&HeaderName::from_static(name)), "{name}");
        }
        assert!(!reserved(&HeaderName::from_static("x-app-thing")));
    }
}
