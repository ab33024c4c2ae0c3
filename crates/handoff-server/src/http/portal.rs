//! The portal's sign-in surface: `GET /auth/sso` redeems a link into a session (or, where another
//! user is signed in, asks first and `POST /auth/sso` redeems on confirmation); `GET /auth/session`
//! says who is signed in; `GET /auth/verify` answers forward-auth sub-requests; `POST /auth/logout`
//! ends the session (only when sent from the portal's or the embed partner's pages).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handoff_core::model::User;
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::is_embed_path;
use handoff_core::wire::{ErrorEnvelope, SessionView};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::http::cookies::{any_identity, identify, not_signed_in, session_cookie, set_cookie};
use crate::http::extract::Peer;
use crate::http::origin::{portal_origin, posted_from, posted_from_portal};
use crate::http::pages::{escape, page};
use crate::http::refusals::{RedeemRefusals, StoreRefusals};
use crate::http::respond::{wants_json, FrameAncestors};
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::infra::sealer::Purpose;
use crate::services::{Checked, Ctx, Identity, Redeemed};

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
        let checked = state.check_link(&ctx, token, query.redirect.as_deref(), &mut frame).await?;
        match other_user(&state, &headers, &checked).await? {
            None => Ok(signed_in(&state, state.consume(checked).await?)),
            Some(_) if wants_json(&headers) => {
                let error = ApiError::new(
                    ProblemKind::Conflict,
                    "The browser is signed in as another user; sign out first, or open the link in a browser to \
                     confirm the switch.",
                );
                Err(state.refuse_link(checked, error).await)
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
        let checked = state.check_link(&ctx, Some(&form.token), None, &mut frame).await?;
        let current = identify(&state, &headers, false).await?;
        let from_portal = posted_from_portal(&headers, &portal_origin(state.settings()));
        let redeemed = state.switch(checked, current, from_portal, &form.confirm).await?;
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
async fn other_user(state: &AppState, headers: &HeaderMap, checked: &Checked) -> ApiResult<Option<Identity>> {
    if checked.path.is_embed() {
        return Ok(None);
    }
    Ok(identify(state, headers, false).await?.filter(|current| current.user.id != checked.claims.sub))
}

/// The 303 to the signed path with the new session's cookie.
fn signed_in(state: &AppState, redeemed: Redeemed) -> Response {
    let embed = redeemed.embed;
    let settings = state.settings();
    let cookie = set_cookie(settings, embed, &redeemed.cookie_value, settings.session_absolute_timeout);
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
fn switch_page(state: &AppState, current: &Identity, checked: &Checked, token: &str) -> Response {
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
        confirm = state.form_token(&current.session, Purpose::Switch, &checked.claims.jti),
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
        StoreRefusals,
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
        StoreRefusals,
    ))]
async fn verify(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> ApiResult<Response> {
    peer.check(&state.settings().forward_auth_allow, "forward_auth_allow")?;
    let embed = is_embed_path(&original_path(&headers));
    let Some(identity) = identify(&state, &headers, embed).await? else {
        return Ok(not_signed_in());
    };
    let mut response = StatusCode::OK.into_response();
    for (name, value) in state.identity_headers(&identity) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
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
        StoreRefusals,
    ))]
async fn logout(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> ApiResult<Response> {
    let settings = state.settings();
    let mut cookies = Vec::new();
    let mut sessions = Vec::new();
    for embed in [false, true] {
        if let Some(value) = session_cookie(settings, &headers, embed) {
            cookies.push(embed);
            sessions.push(state.session_named(value).await?);
        }
    }
    let embed_partner = cookies.iter().zip(&sessions).find_map(|(embed, s)| s.as_ref().filter(|_| *embed)?.partner_id);
    let partner_origins = state.embed_origins(embed_partner).await?;
    let from_allowed_page = posted_from(&headers, &portal_origin(settings), &partner_origins);
    let origin = headers.get(header::ORIGIN).map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
    state.logout(&ctx, &sessions, from_allowed_page, origin).await?;
    let mut response = if wants_json(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    };
    for embed in cookies {
        if let Ok(clear) = HeaderValue::from_str(&set_cookie(settings, embed, "", 0)) {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
    }
    Ok(response)
}
