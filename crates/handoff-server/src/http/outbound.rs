//! Launching into a supplier (seed 002, portal side): `GET /launch/{supplier}` from the portal's
//! own pages (`Sec-Fetch-Site: same-origin`, or else an `Origin`/`Referer` on `public_url`)
//! launches; any other request gets a confirmation page whose form (`POST /launch/{supplier}`)
//! carries a token bound to the session: a cross-site link cannot launch by itself (launch CSRF).
//! The launch itself is the launch service's.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handoff_core::model::Supplier;
use utoipa::{OpenApi, ToSchema};

use crate::error::ApiResult;
use crate::http::cookies::{any_identity, not_signed_in};
use crate::http::origin::{from_portal, portal_origin, posted_from_portal};
use crate::http::pages::{escape, page};
use crate::http::refusals::LaunchRefusals;
use crate::http::state::AppState;
use crate::infra::sealer::Purpose;
use crate::services::{Ctx, Identity, Launched, Step};

#[derive(OpenApi)]
#[openapi(paths(launch, launch_confirmed), components(schemas(LaunchForm)))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new().route("/launch/{slug}", get(launch).post(launch_confirmed))
}

/// The confirmation page's form.
#[derive(Debug, ToSchema)]
struct LaunchForm {
    /// The confirmation page's token, bound to the session and the supplier.
    token: String,
}

impl LaunchForm {
    fn parse(body: &[u8]) -> Option<Self> {
        url::form_urlencoded::parse(body).find(|(key, _)| key == "token").map(|(_, token)| Self { token: token.into() })
    }
}

/// Launches the signed-in user into a supplier: from the portal's own pages, signs and sends the
/// event, then redirects to the `redirectUrl` the supplier answers; from anywhere else (another
/// site, a bookmark), shows a confirmation page instead and sends nothing.
#[utoipa::path(get, path = "/launch/{slug}", tag = "portal",
    params(("slug" = String, Path, description = "The supplier's slug."),
        ("Sec-Fetch-Site" = Option<String>, Header, description = "`same-origin` launches; anything else gets the confirmation page. Without it, `Origin` or `Referer` on the portal's origin launches.")),
    responses(
        (status = 200, description = "The confirmation page (\"Open …?\"), for a request that did not come from the portal's pages; nothing was sent.", body = String, content_type = "text/html"),
        (status = 303, description = "To the supplier's `redirectUrl`.", headers(("Location" = String))),
        LaunchRefusals,
    ))]
async fn launch(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let step = if from_portal(&headers, &portal_origin(state.settings())) { Step::Send } else { Step::Confirm };
    run(&state, &ctx, &headers, &slug, step).await
}

/// The confirmation page's button: launches like a GET from the portal's pages, if the token is
/// this session's for this supplier and the browser says the form was the portal's.
#[utoipa::path(post, path = "/launch/{slug}", tag = "portal",
    params(("slug" = String, Path, description = "The supplier's slug.")),
    request_body(content = LaunchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the supplier's `redirectUrl`.", headers(("Location" = String))),
        LaunchRefusals,
    ))]
async fn launch_confirmed(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let from_portal = posted_from_portal(&headers, &portal_origin(state.settings()));
    let token = LaunchForm::parse(&body).map(|form| form.token);
    run(&state, &ctx, &headers, &slug, Step::Confirmed { from_portal, token }).await
}

/// One launch for the signed-in user, answered with the confirmation page or a 303 to the
/// supplier's `redirectUrl`.
async fn run(state: &AppState, ctx: &Ctx, headers: &HeaderMap, slug: &str, step: Step) -> ApiResult<Response> {
    let Some(identity) = any_identity(state, headers).await? else {
        return Ok(not_signed_in());
    };
    Ok(match state.launch(ctx, &identity, slug, step).await? {
        Launched::Confirm(supplier) => confirmation(state, &supplier, &identity),
        Launched::Sent(url) => (StatusCode::SEE_OTHER, [(header::LOCATION, url.as_str())]).into_response(),
    })
}

/// "Open {supplier}?": a button that POSTs the session's token back to `/launch/{slug}`. The
/// page's `Referrer-Policy: same-origin` makes the browser send the portal's `Origin` with it
/// (the default `no-referrer` would send `Origin: null`).
fn confirmation(state: &AppState, supplier: &Supplier, identity: &Identity) -> Response {
    let name = escape(&supplier.name);
    let body = format!(
        "<h1>Open {name}?</h1><p>You are signed in as <strong>{email}</strong>. Continuing signs you in to \
         {name}: handoff sends it your name, your email address and your organization number.</p>\
         <form method=\"post\" action=\"/launch/{slug}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button>Open {name}</button></form>\
         <p class=\"muted\">If you did not mean to open {name}, close this page.</p>",
        email = escape(&identity.user.email),
        slug = escape(&supplier.slug),
        token = state.form_token(&identity.session, Purpose::Launch, &supplier.slug),
    );
    let mut response = Html(page(&format!("Open {}?", supplier.name), &body)).into_response();
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}
