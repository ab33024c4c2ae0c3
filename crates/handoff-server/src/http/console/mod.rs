//! The web console at `/admin`: server-rendered pages for operators over the same services the
//! admin API uses. This file holds the routes and what every console page shares: the signed-in
//! [`Operator`] (no session: to the sign-in form), where a form came from, and reading a form.
//! `layout` is the page shell (navigation, the stylesheet and the script), `sign_in` signing in
//! and out, `home` the overview (its charts drawn by `chart`), `audit` the audit log,
//! `organizations`, `partners`, `users`, `integrations`, `suppliers`, `streams` and `keys` the resource
//! pages (`forms` what they share).
//!
//! Must not: hold a rule of its own (the services do), or put inline script or style on a page
//! (the console's CSP allows neither). Its HTML routes are not in the OpenAPI document, which
//! describes the JSON API.

mod audit;
mod chart;
mod forms;
mod home;
mod integrations;
mod keys;
mod layout;
mod organizations;
mod partners;
mod sign_in;
mod streams;
mod suppliers;
mod users;

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use handoff_core::model::OperatorSession;

use crate::error::ApiResult;
use crate::http::cookies::{console_cookie, set_console_cookie};
use crate::http::origin::{portal_origin, posted_from};
use crate::http::state::AppState;

// The resource pages' shared pieces, spoken for by this folder (a page imports no sibling).
use forms::{
    age, confirm_delete, console_ctx, delete_card, linked_organizations, next_page, overlap, refusal, rotated_box,
    secret_card, secret_once, shown_on_form, status_of, token_field, Form, Posted, LINK_CHOICES,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home::home))
        .route("/admin/audit", get(audit::audit_log))
        .route("/admin/audit/export", get(audit::audit_export))
        .route("/admin/audit/{id}", get(audit::audit_detail))
        .route("/admin/sign-in", get(sign_in::form).post(sign_in::sign_in))
        .route("/admin/sign-out", post(sign_in::sign_out))
        .route(layout::STYLESHEET, get(layout::stylesheet))
        .route(layout::SCRIPT, get(layout::script))
        .merge(resources())
}

/// The resource pages: organizations, partners, users, inbound integrations, suppliers, audit
/// streams and the signing keys.
fn resources() -> Router<AppState> {
    Router::new()
        .route("/admin/organizations", get(organizations::list).post(organizations::create))
        .route("/admin/organizations/{id}", get(organizations::detail))
        .route("/admin/organizations/{id}/users", post(organizations::create_user))
        .route("/admin/organizations/{id}/secret", post(organizations::rotate))
        .route("/admin/organizations/{id}/delete", get(organizations::confirm).post(organizations::delete))
        .route("/admin/partners", get(partners::list).post(partners::create))
        .route("/admin/partners/{id}", get(partners::detail))
        .route("/admin/partners/{id}/links", post(partners::link))
        .route("/admin/partners/{id}/links/{organization}/delete", post(partners::unlink))
        .route("/admin/partners/{id}/secret", post(partners::rotate))
        .route("/admin/partners/{id}/delete", get(partners::confirm).post(partners::delete))
        .route("/admin/users/{id}", get(users::detail))
        .route("/admin/users/{id}/status", post(users::set_status))
        .route("/admin/users/{id}/sessions", post(users::end_sessions))
        .route("/admin/users/{id}/delete", get(users::confirm).post(users::delete))
        .route("/admin/integrations", get(integrations::list).post(integrations::create))
        .route("/admin/integrations/{id}", get(integrations::detail))
        .route("/admin/integrations/{id}/links", post(integrations::link))
        .route("/admin/integrations/{id}/links/{organization}/delete", post(integrations::unlink))
        .route("/admin/integrations/{id}/secret", post(integrations::rotate))
        .route("/admin/integrations/{id}/delete", get(integrations::confirm).post(integrations::delete))
        .route("/admin/suppliers", get(suppliers::list).post(suppliers::create))
        .route("/admin/suppliers/{id}", get(suppliers::detail))
        .route("/admin/suppliers/{id}/secret", post(suppliers::rotate))
        .route("/admin/suppliers/{id}/delete", get(suppliers::confirm).post(suppliers::delete))
        .route("/admin/streams", get(streams::list).post(streams::create))
        .route("/admin/streams/{id}", get(streams::detail))
        .route("/admin/streams/{id}/pause", post(streams::pause))
        .route("/admin/streams/{id}/resume", post(streams::resume))
        .route("/admin/streams/{id}/delete", get(streams::confirm).post(streams::delete))
        .route("/admin/keys", get(keys::list))
        .route("/admin/keys/rotate", get(keys::confirm).post(keys::rotate))
}

/// The field every console form carries its session's form token in.
const FORM_TOKEN: &str = "form_token";

/// A signed-in operator: the live operator session the request's console cookie names, and the
/// form token of that session. Without one, a console page answers with the way to sign in.
pub struct Operator {
    pub session: OperatorSession,
    pub form_token: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match signed_in(state, &parts.headers).await.map_err(IntoResponse::into_response)? {
            Some(session) => Ok(Operator { form_token: state.console_form_token(&session), session }),
            None => Err(to_sign_in(state, &parts.headers)),
        }
    }
}

/// The live operator session behind the request's console cookie, if any.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<OperatorSession>> {
    match console_cookie(state.settings(), headers) {
        Some(value) => state.identify_operator(value).await,
        None => Ok(None),
    }
}

/// The 303 to the sign-in form; clears a console cookie the request sent (it names no live
/// session).
fn to_sign_in(state: &AppState, headers: &HeaderMap) -> Response {
    let clear = console_cookie(state.settings(), headers).map(|_| set_console_cookie(state.settings(), "", 0));
    see_other("/admin/sign-in", clear)
}

/// A 303 to `location` (a console path), setting `cookie` when given.
fn see_other(location: &str, cookie: Option<String>) -> Response {
    let Ok(location) = HeaderValue::from_str(location) else {
        return crate::error::ApiError::internal().into_response();
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    if let Some(cookie) = cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Whether a form was posted from the console's own pages (or by no browser at all): checked
/// together with the session's form token, which no other site's page can know.
fn from_console(state: &AppState, headers: &HeaderMap) -> bool {
    posted_from(headers, &portal_origin(state.settings()), &[])
}

/// The value of field `name` in a form body (empty when absent).
fn form_field(body: &[u8], name: &str) -> String {
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}
