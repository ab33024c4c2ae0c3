//! The protected application: every portal path that is not handoff's own. With a live session
//! the request is reverse-proxied to `upstream` with the identity headers (see
//! `infra::upstream` for what is stripped and set), or, with no upstream configured, answered by
//! a small page naming the signed-in user. Without a session: 401, and the upstream is never
//! called. An open WebSocket tunnel re-checks its session every [`RECHECK`] (no touch: a tunnel
//! is no activity) and closes once the session ended (logout, disabled user, ended sessions,
//! idle or absolute expiry).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use handoff_core::ids::SessionId;
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::is_embed_path;
use tokio::time::MissedTickBehavior;

use crate::error::{ApiError, ApiResult};
use crate::http::cookies::{identify, not_signed_in, SESSION_COOKIES};
use crate::http::pages::{escape, page};
use crate::http::respond::{route_miss, FrameAncestors, Proxied, Surface};
use crate::http::state::AppState;
use crate::infra::upstream::Upstream;
use crate::services::{Ctx, Identity, Services};

/// How often an open WebSocket tunnel re-checks its session.
const RECHECK: Duration = Duration::from_secs(2);

/// The fallback route: the protected application.
pub async fn application(State(state): State<AppState>, ctx: Ctx, request: Request) -> ApiResult<Response> {
    let path = request.uri().path();
    if Surface::of(path).reserved {
        return Ok(route_miss(ApiError::not_found("No such resource.")));
    }
    let embed = is_embed_path(path);
    let Some(identity) = identify(&state, request.headers(), embed).await? else {
        return Ok(not_signed_in());
    };
    let mut response = match state.upstream() {
        Some(upstream) => forward(&state, upstream, &ctx, &identity, request).await?,
        None if matches!(*request.method(), Method::GET | Method::HEAD) => {
            placeholder(&state, &identity, &request.uri().to_string(), embed).await?
        }
        None => return Err(ApiError::new(ProblemKind::MethodNotAllowed, "The built-in page only answers GET.")),
    };
    // An embed path is only ever signed in by an embed session (its own cookie).
    if embed {
        let origins = state.embed_origins(identity.session.partner_id).await.unwrap_or_default();
        response.extensions_mut().insert(FrameAncestors(origins));
    }
    Ok(response)
}

/// Forwards `request` for `identity`; joins the WebSocket tunnel the upstream accepted.
async fn forward(
    state: &AppState,
    upstream: &Upstream,
    ctx: &Ctx,
    identity: &Identity,
    request: Request,
) -> ApiResult<Response> {
    let public = &state.settings().public_url;
    let forwarded_host = public.base.split_once("://").map(|(_, host)| host.to_owned());
    let added = state
        .identity_headers(identity)
        .into_iter()
        .chain(ctx.client_addr.clone().map(|addr| ("x-forwarded-for", addr)))
        .chain([("x-forwarded-proto", (if public.https { "https" } else { "http" }).to_owned())])
        .chain(forwarded_host.map(|host| ("x-forwarded-host", host)))
        .filter_map(|(name, value)| Some((HeaderName::from_static(name), HeaderValue::from_str(&value).ok()?)))
        .collect();
    let (mut response, tunnel) = upstream.forward(request, added, &SESSION_COOKIES).await?;
    if let Some(tunnel) = tunnel {
        let (services, session) = (state.clone(), identity.session.id);
        tokio::spawn(async move { tunnel.run(session_ended(&services, session)).await });
    }
    response.extensions_mut().insert(Proxied);
    Ok(response)
}

/// Returns once `session` is no longer alive (or cannot be checked: a tunnel fails closed).
async fn session_ended(services: &Services, session: SessionId) {
    let mut checks = tokio::time::interval(RECHECK);
    checks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        checks.tick().await;
        match services.still_alive(session).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(%session, "WebSocket tunnel closed: its session ended");
                return;
            }
            Err(err) => {
                tracing::warn!(%session, detail = %err.problem.detail, "cannot re-check a tunnel's session");
                return;
            }
        }
    }
}

/// The built-in page for a signed-in user when no upstream is configured, framed like a proxied
/// page would be.
async fn placeholder(state: &AppState, identity: &Identity, uri: &str, embed: bool) -> ApiResult<Response> {
    let Identity { session, user } = identity;
    let partner = state.partner_of(session.partner_id).await?;
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
    Ok(Html(page("Signed in", &body)).into_response())
}
