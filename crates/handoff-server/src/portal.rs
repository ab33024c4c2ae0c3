//! The portal's sign-in surface: `GET /auth/sso` redeems a link into a session; `GET /auth/session`
//! says who is signed in; `GET /auth/verify` answers forward-auth sub-requests; `POST /auth/logout`
//! ends the session; every other portal path shows the built-in placeholder page when no upstream
//! is configured.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handoff_core::ids::SessionId;
use handoff_core::model::{Session, User, UserStatus};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::is_embed_path;
use handoff_core::secret::SecretDigest;
use handoff_core::token::IdentityClaims;
use handoff_core::wire::{ErrorEnvelope, SessionView};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::error::{ApiError, ApiResult};
use crate::extract::Peer;
use crate::openapi::RedeemRefusals;
use crate::sso;
use crate::state::{AppState, Ctx};
use crate::views::rfc3339;
use crate::web::{escape, page, route_miss, wants_json, FrameAncestors, NoAudit};

/// Seconds between two `last_seen_at` writes of one session.
const TOUCH_INTERVAL: i64 = 60;
/// Lifetime of the `X-Handoff-Token` identity token.
const IDENTITY_TOKEN_TTL: i64 = 60;

#[derive(OpenApi)]
#[openapi(paths(sso_redeem, sso_probe, session_read, verify, logout))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/sso", get(sso_redeem).head(sso_probe))
        .route("/auth/session", get(session_read))
        .route("/auth/verify", get(verify))
        .route("/auth/logout", post(logout))
}

/// Every name a handoff session cookie can have; never forwarded to the application.
pub const SESSION_COOKIES: [&str; 3] = ["__Host-handoff", "handoff", "__Host-handoff-embed"];

/// The session cookie's name: `__Host-` prefixed whenever it can be `Secure`.
fn cookie_name(state: &AppState, embed: bool) -> &'static str {
    match (embed, state.settings.public_url.https) {
        (true, _) => "__Host-handoff-embed",
        (false, true) => "__Host-handoff",
        (false, false) => "handoff",
    }
}

/// A `Set-Cookie` value. Embed sessions are `SameSite=None; Secure; Partitioned` (browsers allow
/// `Secure` on loopback http too); top-level sessions are `SameSite=Lax`, `Secure` unless the
/// portal is plain-http loopback development.
fn set_cookie(state: &AppState, embed: bool, value: &str, max_age: i64) -> String {
    let name = cookie_name(state, embed);
    if embed {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None; Partitioned")
    } else if state.settings.public_url.https {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax")
    } else {
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A live session with its (active) user.
pub struct Identity {
    pub session: Arc<Session>,
    pub user: Arc<User>,
}

/// The cookie value of a new session: its id and its secret.
pub fn session_cookie_value(id: SessionId, secret: &str) -> String {
    format!("{}.{secret}", id.as_uuid().simple())
}

/// The session a cookie value names, if its secret half matches (constant time).
async fn session_of(state: &AppState, value: &str) -> ApiResult<Option<Arc<Session>>> {
    let Some((id, secret)) = value.split_once('.') else {
        return Ok(None);
    };
    let Ok(id) = id.parse::<SessionId>() else {
        return Ok(None);
    };
    let session = state.session(id).await?;
    Ok(session.filter(|s| s.secret_digest.matches(&SecretDigest::of(secret))))
}

/// The session behind the request's cookie for the embed or top-level context, if it is alive.
pub async fn identify(state: &AppState, headers: &HeaderMap, embed: bool) -> ApiResult<Option<Identity>> {
    let Some(value) = cookie_value(headers, cookie_name(state, embed)) else {
        return Ok(None);
    };
    let Some(session) = session_of(state, value).await? else {
        return Ok(None);
    };
    let Some(Identity { session, user }) = alive(state, session).await? else {
        return Ok(None);
    };
    let now = state.now();
    if now - session.last_seen_at >= TOUCH_INTERVAL {
        state.store.touch_session(session.id, now).await?;
        let touched = Arc::new(Session { last_seen_at: now, ..(*session).clone() });
        state.caches.sessions.put(session.id, Some(touched.clone()));
        return Ok(Some(Identity { session: touched, user }));
    }
    Ok(Some(Identity { session, user }))
}

/// Whether session `id` and its user are still alive, without counting as activity: what an open
/// WebSocket tunnel re-checks. Sees a logout, a disable or an end-sessions on this node at once
/// (they invalidate the cache), on another node within the cache's TTL.
pub async fn still_alive(state: &AppState, id: SessionId) -> ApiResult<bool> {
    let Some(session) = state.session(id).await? else {
        return Ok(false);
    };
    Ok(alive(state, session).await?.is_some())
}

/// `session` with its user, if the session has not expired (idle or absolute; an expired one is
/// deleted) and the user is active.
async fn alive(state: &AppState, session: Arc<Session>) -> ApiResult<Option<Identity>> {
    let now = state.now();
    if now >= session.expires_at || now >= session.last_seen_at + state.settings.session_idle_timeout {
        state.store.delete_session(session.id).await?;
        state.caches.sessions.remove(&session.id);
        return Ok(None);
    }
    let user = state.user(session.user_id).await?.filter(|u| u.status == UserStatus::Active);
    Ok(user.map(|user| Identity { session, user }))
}

pub fn not_signed_in() -> Response {
    let mut response = ApiError::new(ProblemKind::AuthenticationRequired, "You are not signed in.").into_response();
    response.extensions_mut().insert(NoAudit);
    response
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SsoQuery {
    /// The SSO token of the link.
    token: Option<String>,
    /// The path the token was minted for (it must match the signed one).
    redirect: Option<String>,
}

/// Redeems a sign-in link (once): starts a session and sends the browser to the signed path.
#[utoipa::path(get, path = "/auth/sso", tag = "portal",
    params(SsoQuery),
    responses(
        (status = 303, description = "Signed in: `Location` is the signed path, `Set-Cookie` the session.",
            headers(("Location" = String), ("Set-Cookie" = String))),
        RedeemRefusals,
    ))]
async fn sso_redeem(State(state): State<AppState>, ctx: Ctx, Query(query): Query<SsoQuery>) -> Response {
    let mut frame = None;
    let result = sso::redeem(&state, &ctx, query.token.as_deref(), query.redirect.as_deref(), &mut frame).await;
    let mut response = match result {
        Ok(redeemed) => {
            let cookie = set_cookie(
                &state,
                redeemed.session.embed,
                &redeemed.cookie_value,
                state.settings.session_absolute_timeout,
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            if let (Ok(location), Ok(cookie)) =
                (HeaderValue::from_str(redeemed.path.as_str()), HeaderValue::from_str(&cookie))
            {
                headers.insert(header::LOCATION, location);
                headers.insert(header::SET_COOKIE, cookie);
            }
            if redeemed.session.embed {
                response.extensions_mut().insert(FrameAncestors(redeemed.embed_origins));
            }
            response
        }
        Err(error) => error.into_response(),
    };
    if let Some(origins) = frame {
        response.extensions_mut().insert(FrameAncestors(origins));
    }
    response
}

/// `HEAD` never redeems: link checkers and previewers that only probe a link leave it usable.
#[utoipa::path(head, path = "/auth/sso", tag = "portal", params(SsoQuery),
    responses((status = 200, description = "Always: a probe never redeems, so link previewers leave the link usable.")))]
async fn sso_probe() -> StatusCode {
    StatusCode::OK
}

/// Top-level session first, then the embed session.
pub async fn any_identity(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Identity>> {
    match identify(state, headers, false).await? {
        Some(identity) => Ok(Some(identity)),
        None => identify(state, headers, true).await,
    }
}

fn session_view(identity: &Identity) -> SessionView {
    let Identity { session, user } = identity;
    SessionView {
        user_id: user.id.to_string(),
        organization_id: user.organization_id.to_string(),
        email: user.email.clone(),
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        partner_id: session.partner_id.map(|p| p.to_string()),
        embed: session.embed,
        expires_at: rfc3339(session.expires_at),
    }
}

/// Who is signed in (the top-level session, else the embed session).
#[utoipa::path(get, path = "/auth/session", tag = "portal",
    responses(
        (status = 200, description = "The session's user.", body = SessionView),
        (status = 401, description = "No live session (`authentication-required`).", body = ErrorEnvelope,
            content_type = "application/problem+json"),
    ))]
async fn session_read(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    Ok(match any_identity(&state, &headers).await? {
        Some(identity) => Json(session_view(&identity)).into_response(),
        None => not_signed_in(),
    })
}

/// The path the proxy is asking about: `X-Original-URI` (nginx), `X-Forwarded-Uri` (Traefik,
/// Caddy), else `/`.
fn original_path(headers: &HeaderMap) -> String {
    let uri = ["x-original-uri", "x-forwarded-uri"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .unwrap_or("/");
    uri.parse::<Uri>().map(|u| u.path().to_owned()).unwrap_or_else(|_| "/".to_owned())
}

/// The identity headers the protected application receives, including a signed token.
pub fn identity_headers(state: &AppState, identity: &Identity) -> Vec<(HeaderName, String)> {
    let Identity { session, user } = identity;
    let now = state.now();
    let claims = IdentityClaims {
        iss: state.settings.public_url.base.clone(),
        aud: state.settings.public_url.base.clone(),
        sub: user.id,
        org: user.organization_id,
        ptn: session.partner_id,
        email: user.email.clone(),
        emb: session.embed,
        iat: now,
        exp: now + IDENTITY_TOKEN_TTL,
    };
    let mut headers = vec![
        (HeaderName::from_static("x-handoff-user-id"), user.id.to_string()),
        (HeaderName::from_static("x-handoff-organization-id"), user.organization_id.to_string()),
        (HeaderName::from_static("x-handoff-email"), user.email.clone()),
        (HeaderName::from_static("x-handoff-embed"), session.embed.to_string()),
    ];
    if let Some(partner) = session.partner_id {
        headers.push((HeaderName::from_static("x-handoff-partner-id"), partner.to_string()));
    }
    // One signature serves a session for a while: Ed25519 signing is the costliest step here.
    let cached = state.caches.identity_tokens.get(&session.id).filter(|(_, exp)| exp - now > IDENTITY_TOKEN_TTL / 2);
    let token = match cached {
        Some((token, _)) => Some(token),
        None => match state.keys.identity().sign(&claims) {
            Ok(token) => {
                let token: Arc<str> = token.into();
                state.caches.identity_tokens.put(session.id, (token.clone(), claims.exp));
                Some(token)
            }
            Err(err) => {
                tracing::error!(%err, "signing an identity token failed");
                None
            }
        },
    };
    if let Some(token) = token {
        headers.push((HeaderName::from_static("x-handoff-token"), token.to_string()));
    }
    headers
}

/// Forward-auth: 200 with the identity headers for a live session, else 401.
#[utoipa::path(get, path = "/auth/verify", tag = "portal",
    params(
        ("X-Original-URI" = Option<String>, Header, description = "The request the proxy asks about (nginx); `/embed/` paths use the embed session."),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "The same for Traefik and Caddy."),
    ),
    responses(
        (status = 200, description = "Signed in; pass the identity headers on to the application.",
            headers(("X-Handoff-User-Id" = String), ("X-Handoff-Organization-Id" = String), ("X-Handoff-Email" = String),
                ("X-Handoff-Embed" = String), ("X-Handoff-Partner-Id" = Option<String>),
                ("X-Handoff-Token" = String, description = "Ed25519-signed JWT of the identity; keys at `/.well-known/jwks.json`."))),
        (status = 401, description = "No live session (`authentication-required`).", body = ErrorEnvelope,
            content_type = "application/problem+json"),
        (status = 403, description = "The caller is not in `forward_auth_allow` (`forbidden`).", body = ErrorEnvelope,
            content_type = "application/problem+json"),
    ))]
async fn verify(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> ApiResult<Response> {
    peer.check(&state.settings.forward_auth_allow, "forward_auth_allow")?;
    let embed = is_embed_path(&original_path(&headers));
    let Some(identity) = identify(&state, &headers, embed).await? else {
        return Ok(not_signed_in());
    };
    let mut response = StatusCode::OK.into_response();
    for (name, value) in identity_headers(&state, &identity) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// Ends the session(s) of this browser. JSON clients get 204; a browser form is sent to `/`.
#[utoipa::path(post, path = "/auth/logout", tag = "portal",
    responses(
        (status = 204, description = "Signed out (with `Accept: application/json`)."),
        (status = 303, description = "Signed out; a browser goes to `/`.", headers(("Location" = String))),
    ))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let mut response = if wants_json(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    };
    for embed in [false, true] {
        if let Some(value) = cookie_value(&headers, cookie_name(&state, embed)) {
            if let Some(session) = session_of(&state, value).await? {
                state.store.delete_session(session.id).await?;
                state.caches.sessions.remove(&session.id);
                state.caches.identity_tokens.remove(&session.id);
            }
            if let Ok(clear) = HeaderValue::from_str(&set_cookie(&state, embed, "", 0)) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
        }
    }
    Ok(response)
}

/// Every portal path that is not handoff's own: with a session, reverse-proxied to `upstream`, or
/// with no upstream configured, a small page naming the signed-in user, framed like a proxied
/// page would be. Without a session: 401, and the upstream is never called.
pub async fn application(State(state): State<AppState>, ctx: Ctx, request: Request) -> ApiResult<Response> {
    let path = request.uri().path().to_owned();
    let reserved = ["/v1/", "/admin/", "/auth/", "/errors/", "/.well-known/", "/launch/"];
    if reserved.iter().any(|prefix| path.starts_with(prefix)) {
        return Ok(route_miss(ApiError::not_found("No such resource.")));
    }
    let embed = is_embed_path(&path);
    let Some(identity) = identify(&state, request.headers(), embed).await? else {
        return Ok(not_signed_in());
    };
    match &state.upstream {
        Some(upstream) => Ok(upstream.forward(&state, &ctx, &identity, request).await),
        None if matches!(*request.method(), Method::GET | Method::HEAD) => {
            placeholder(&state, &identity, &request.uri().to_string(), embed).await
        }
        None => Err(ApiError::new(ProblemKind::MethodNotAllowed, "The built-in page only answers GET.")),
    }
}

async fn placeholder(state: &AppState, identity: &Identity, uri: &str, embed: bool) -> ApiResult<Response> {
    let Identity { session, user } = identity;
    let partner = match session.partner_id {
        Some(id) => state.partner(id).await?,
        None => None,
    };
    let via = partner.as_ref().map(|p| format!(" via <strong>{}</strong>", escape(&p.name))).unwrap_or_default();
    let body = format!(
        "<h1>Signed in as {given} {family}</h1><p>{email}{via}</p><p>This is handoff's built-in landing page: \
         no upstream application is configured. You asked for <code>{path}</code>.</p>\
         <p class=\"muted\">Organization <code>{org}</code>{mode}</p>\
         <form method=\"post\" action=\"/auth/logout\"><button>Sign out</button></form>",
        given = escape(&user.given_name),
        family = escape(&user.family_name),
        email = escape(&user.email),
        path = escape(uri),
        org = user.organization_id,
        mode = if embed { " · embedded session" } else { "" },
    );
    let mut response = Html(page("Signed in", &body)).into_response();
    if embed {
        response.extensions_mut().insert(FrameAncestors(partner.map(|p| p.embed_origins.clone()).unwrap_or_default()));
    }
    Ok(response)
}
