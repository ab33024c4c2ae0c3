//! The portal's sign-in surface: `GET /auth/sso` redeems a link into a session (or, where another
//! user is signed in, asks first and `POST /auth/sso` redeems on confirmation); `GET /auth/session`
//! says who is signed in; `GET /auth/verify` answers forward-auth sub-requests; `POST /auth/logout`
//! ends the session (only when sent from the portal's or the embed partner's pages); every other
//! portal path shows the built-in placeholder page when no upstream is configured.

use std::sync::Arc;

use axum::body::Bytes;
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
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::csrf::{form_token, form_token_matches, portal_origin, posted_from, posted_from_portal, Purpose};
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
#[openapi(paths(sso_redeem, sso_confirm, sso_probe, session_read, verify, logout), components(schemas(SwitchForm)))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/sso", get(sso_redeem).head(sso_probe).post(sso_confirm))
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

/// Redeems a sign-in link (once): starts a session and sends the browser to the signed path. If
/// the browser is signed in at the top level as another user, the link is not consumed: the
/// browser gets a page asking whether to switch (login CSRF: someone may have sent the user a
/// link to *their* account), a JSON client a 409.
#[utoipa::path(get, path = "/auth/sso", tag = "portal",
    params(SsoQuery),
    responses(
        (status = 200, description = "The browser is signed in as another user: a page asking \"continue as …?\" \
            whose form posts to `POST /auth/sso`. The link is not consumed.", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in: `Location` is the signed path, `Set-Cookie` the session.",
            headers(("Location" = String), ("Set-Cookie" = String))),
        RedeemRefusals,
    ))]
async fn sso_redeem(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(query): Query<SsoQuery>,
) -> Response {
    let mut frame = None;
    let token = query.token.as_deref();
    let result = async {
        let checked = sso::check(&state, &ctx, token, query.redirect.as_deref(), &mut frame).await?;
        match other_user(&state, &headers, &checked).await? {
            None => Ok(signed_in(&state, sso::consume(&state, checked).await?)),
            Some(_) if wants_json(&headers) => {
                let error = ApiError::new(
                    ProblemKind::Conflict,
                    "The browser is signed in as another user; sign out first, or open the link in a browser to \
                     confirm the switch.",
                );
                Err(checked.refuse(&state, error).await)
            }
            Some(current) => Ok(switch_page(&state, &current, &checked, token.unwrap_or_default())),
        }
    }
    .await;
    framed(result, frame)
}

/// The switch confirmation's form.
#[derive(Debug, ToSchema)]
struct SwitchForm {
    /// The sign-in link's SSO token.
    token: String,
    /// The confirmation page's token, bound to the current session and the link.
    confirm: String,
}

impl SwitchForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self { token: String::new(), confirm: String::new() };
        for (key, value) in url::form_urlencoded::parse(body) {
            match &*key {
                "token" => form.token = value.into_owned(),
                "confirm" => form.confirm = value.into_owned(),
                _ => {}
            }
        }
        form
    }
}

/// The switch confirmation's button: redeems the link, if the form's token is the current
/// session's for this link and the browser says the form was the portal's; then ends the
/// session it replaces, as a sign-out would. Any refusal leaves the link unused.
#[utoipa::path(post, path = "/auth/sso", tag = "portal",
    request_body(content = SwitchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in as the link's user: `Location` is the signed path, `Set-Cookie` \
            the session; the previous session has ended.", headers(("Location" = String), ("Set-Cookie" = String))),
        RedeemRefusals,
    ))]
async fn sso_confirm(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = SwitchForm::parse(&body);
    let mut frame = None;
    let result = async {
        let mut checked = sso::check(&state, &ctx, Some(&form.token), None, &mut frame).await?;
        let current = identify(&state, &headers, false).await?;
        let from_portal = posted_from_portal(&headers, &portal_origin(&state));
        let Some(current) = current.filter(|current| {
            from_portal
                && form_token_matches(
                    &state.master,
                    &current.session,
                    Purpose::Switch,
                    &checked.claims.jti,
                    &form.confirm,
                )
        }) else {
            let error = ApiError::new(
                ProblemKind::Forbidden,
                "The confirmation was not sent from the portal's page for this session; open the link again.",
            );
            return Err(checked.refuse(&state, error).await);
        };
        checked.event.detail =
            Some(format!("jti={}; replaces the session of user {}", checked.claims.jti, current.user.id));
        let redeemed = sso::consume(&state, checked).await?;
        end_session(&state, &current.session).await?;
        Ok::<_, ApiError>(signed_in(&state, redeemed))
    }
    .await;
    framed(result, frame)
}

/// A redemption's answer, framed by the partner's embed origins when the link is an embed link
/// (refusals too, so that they show inside the partner's frame).
fn framed(result: ApiResult<Response>, frame: Option<Vec<String>>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(origins) = frame {
        response.extensions_mut().insert(FrameAncestors(origins));
    }
    response
}

/// The live top-level session of another user than the link's, which redeeming would replace.
/// Embed links never replace it: embed sessions have their own cookie, partitioned per site.
async fn other_user(state: &AppState, headers: &HeaderMap, checked: &sso::Checked) -> ApiResult<Option<Identity>> {
    if checked.path.is_embed() {
        return Ok(None);
    }
    Ok(identify(state, headers, false).await?.filter(|current| current.user.id != checked.claims.sub))
}

/// The 303 to the signed path with the new session's cookie.
fn signed_in(state: &AppState, redeemed: sso::Redeemed) -> Response {
    let embed = redeemed.session.embed;
    let cookie = set_cookie(state, embed, &redeemed.cookie_value, state.settings.session_absolute_timeout);
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let (Ok(location), Ok(cookie)) = (HeaderValue::from_str(redeemed.path.as_str()), HeaderValue::from_str(&cookie))
    {
        headers.insert(header::LOCATION, location);
        headers.insert(header::SET_COOKIE, cookie);
    }
    if embed {
        response.extensions_mut().insert(FrameAncestors(redeemed.embed_origins));
    }
    response
}

/// "Continue as B?": a button that POSTs the link's token and a form token bound to the current
/// session to `/auth/sso`, and a way back to `/` that keeps the current session. No link on the
/// page carries the token. `Referrer-Policy: strict-origin` makes the browser send the portal's
/// `Origin` with the form (`no-referrer` would send `Origin: null`) without ever sending this
/// page's URL, which holds the token, as a `Referer`.
fn switch_page(state: &AppState, current: &Identity, checked: &sso::Checked, token: &str) -> Response {
    let name = |user: &User| escape(&format!("{} {}", user.given_name, user.family_name));
    let (now, next) = (&current.user, &checked.user);
    let body = format!(
        "<h1>Continue as {next_name}?</h1><p>You are signed in as <strong>{now_name}</strong> ({now_email}). \
         This sign-in link is for <strong>{next_name}</strong> ({next_email}).</p>\
         <p>Continuing signs {now_name} out and signs you in as {next_name}. If you did not open this link \
         to sign in as {next_name}, cancel: someone may have sent it to you to sign you in to their account.</p>\
         <form method=\"post\" action=\"/auth/sso\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <input type=\"hidden\" name=\"confirm\" value=\"{confirm}\"><button>Continue as {next_name}</button></form>\
         <p><a href=\"/\">Cancel and stay signed in as {now_name}</a></p>",
        now_name = name(now),
        now_email = escape(&now.email),
        next_name = name(next),
        next_email = escape(&next.email),
        token = escape(token),
        confirm = form_token(&state.master, &current.session, Purpose::Switch, &checked.claims.jti),
    );
    let mut response = Html(page("Switch account?", &body)).into_response();
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin"));
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

/// Ends `session`: deleted, and forgotten by this node's caches.
async fn end_session(state: &AppState, session: &Session) -> ApiResult<()> {
    state.store.delete_session(session.id).await?;
    state.caches.sessions.remove(&session.id);
    state.caches.identity_tokens.remove(&session.id);
    Ok(())
}

/// Ends the session(s) of this browser. JSON clients get 204; a browser form is sent to `/`.
/// The embed cookie is `SameSite=None`, so any site could post here with it: a request that names
/// a session must come from the portal's pages or, with an embed session, from one of its
/// partner's embed origins (logout CSRF). A request without `Origin` or `Sec-Fetch-Site` is no
/// browser's and proceeds.
#[utoipa::path(post, path = "/auth/logout", tag = "portal",
    params(("Origin" = Option<String>, Header, description = "The portal's origin, or for an embed session one of \
        its partner's embed origins; any other (`null` too) is refused unless `Sec-Fetch-Site` is `same-origin`.")),
    responses(
        (status = 204, description = "Signed out (with `Accept: application/json`)."),
        (status = 303, description = "Signed out; a browser goes to `/`.", headers(("Location" = String))),
        (status = 403, description = "Sent from another site's page (`forbidden`); no session ended.", body = ErrorEnvelope,
            content_type = "application/problem+json"),
    ))]
async fn logout(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> ApiResult<Response> {
    let mut sessions = Vec::new();
    for embed in [false, true] {
        if let Some(value) = cookie_value(&headers, cookie_name(&state, embed)) {
            sessions.push((embed, session_of(&state, value).await?));
        }
    }
    if !sessions.is_empty() {
        let embed_partner = sessions.iter().find_map(|(embed, s)| s.as_ref().filter(|_| *embed)?.partner_id);
        let partner_origins = match embed_partner {
            Some(id) => state.partner(id).await?.map(|p| p.embed_origins.clone()).unwrap_or_default(),
            None => Vec::new(),
        };
        if !posted_from(&headers, &portal_origin(&state), &partner_origins) {
            let mut event = ctx.event("auth.logout");
            if let Some(session) = sessions.iter().find_map(|(_, s)| s.as_ref()) {
                event.user_id = Some(session.user_id.to_string());
                event.organization_id = Some(session.organization_id.to_string());
                event.partner_id = session.partner_id.map(|p| p.to_string());
            }
            let origin = headers.get(header::ORIGIN).map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
            event.detail = Some(format!("sign-out from another site refused; origin={}", origin.unwrap_or_default()));
            let error = ApiError::new(ProblemKind::Forbidden, "Sign-out was sent from another site's page.");
            return Err(state.refuse(event, error).await);
        }
    }
    let mut response = if wants_json(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    };
    for (embed, session) in sessions {
        if let Some(session) = session {
            end_session(&state, &session).await?;
        }
        if let Ok(clear) = HeaderValue::from_str(&set_cookie(&state, embed, "", 0)) {
            response.headers_mut().append(header::SET_COOKIE, clear);
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
