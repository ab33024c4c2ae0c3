//! Reverse proxy to the protected application (`upstream`): requests with a live session are
//! forwarded with the identity headers; bodies stream both ways without being buffered, and
//! WebSocket (any `Upgrade`) connections are joined once the upstream agrees.
//!
//! Must not: forward a client's own `X-Handoff-*` headers, handoff's session cookies, or
//! hop-by-hop headers; or call the upstream for a request without a session (the caller checks).

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use handoff_core::problem::ProblemKind;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::error::ApiError;
use crate::portal::{identity_headers, Identity, SESSION_COOKIES};
use crate::state::{AppState, Ctx};
use crate::web::{FrameAncestors, Proxied};

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

    /// Forwards `request` for `identity`, streaming, and returns the upstream's answer.
    pub async fn forward(&self, state: &AppState, ctx: &Ctx, identity: &Identity, mut request: Request) -> Response {
        let upgrade = request.headers().get(header::UPGRADE).cloned();
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = Uri::builder()
            .scheme(self.base.scheme_str().unwrap_or("http"))
            .authority(self.base.authority().map_or("", |a| a.as_str()))
            .path_and_query(path_and_query)
            .build()
        else {
            return ApiError::invalid("The request target cannot be forwarded.").into_response();
        };
        let original_host = parts.headers.get(header::HOST).cloned();
        let headers = &mut parts.headers;
        remove_hop_by_hop(headers);
        headers.remove(header::HOST);
        let forged: Vec<HeaderName> =
            headers.keys().filter(|n| n.as_str().starts_with("x-handoff-")).cloned().collect();
        for name in forged {
            headers.remove(name);
        }
        strip_session_cookies(headers);
        for (name, value) in identity_headers(state, identity) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        if let Some(addr) = ctx.client_addr.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            headers.insert("x-forwarded-for", addr);
        }
        let proto = if state.settings.public_url.https { "https" } else { "http" };
        headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
        if let Some(host) = original_host {
            headers.insert("x-forwarded-host", host);
        }
        if let Some(upgrade) = upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, upgrade);
        }
        parts.uri = uri;

        let mut response = match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(err) => {
                tracing::warn!(%err, "upstream request failed");
                return ApiError::new(ProblemKind::BadGateway, "The application behind handoff is not reachable.")
                    .into_response();
            }
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(async move {
                    if let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) {
                        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        }
        let (mut parts, body) = response.into_parts();
        if parts.status != StatusCode::SWITCHING_PROTOCOLS {
            remove_hop_by_hop(&mut parts.headers);
        }
        let mut response = Response::from_parts(parts, Body::new(body));
        response.extensions_mut().insert(Proxied);
        if identity.session.embed {
            let origins = match identity.session.partner_id {
                Some(id) => state.partner(id).await.ok().flatten().map(|p| p.embed_origins.clone()).unwrap_or_default(),
                None => Vec::new(),
            };
            response.extensions_mut().insert(FrameAncestors(origins));
        }
        response
    }
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

/// Removes handoff's own session cookies from `Cookie`, keeping the application's.
fn strip_session_cookies(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !SESSION_COOKIES.iter().any(|name| pair.split('=').next() == Some(*name)))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}
