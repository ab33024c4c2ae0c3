//! Signing in to the console with the admin token, and signing out. A refused sign-in shows the
//! form again with the reason (the service audited it and counted a wrong token towards the
//! failed-authentication limit); a refused sign-out is a problem page.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handoff_core::problem::ProblemKind;
use maud::html;

use super::layout::page;
use super::{form_field, from_console, see_other, signed_in, Operator, FORM_TOKEN};
use crate::error::{ApiError, ApiResult};
use crate::http::cookies::set_console_cookie;
use crate::http::state::AppState;
use crate::services::Ctx;

/// `GET /admin/sign-in`: the form, or the console's home for an operator signed in already.
pub(super) async fn form(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if signed_in(&state, &headers).await?.is_some() {
        return Ok(see_other("/admin", None));
    }
    Ok(sign_in_page(None))
}

/// `POST /admin/sign-in`: opens an operator session for the admin token and sends the browser to
/// the console's home with its cookie.
pub(super) async fn sign_in(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let token = form_field(&body, "token");
    match state.sign_in_operator(&ctx, &token, from_console(&state, &headers)).await {
        Ok(signed_in) => {
            let settings = state.settings();
            let cookie = set_console_cookie(settings, &signed_in.cookie_value, settings.console_absolute_timeout);
            see_other("/admin", Some(cookie))
        }
        Err(error) if error.problem.kind == ProblemKind::Internal => error.into_response(),
        Err(error) => sign_in_page(Some(&error)),
    }
}

/// `POST /admin/sign-out`: ends the operator session (the form must carry its token and come
/// from the console's page) and sends the browser to the sign-in form.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    ctx: Ctx,
    operator: Operator,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let token = form_field(&body, FORM_TOKEN);
    state.sign_out_operator(&ctx, &operator.session, from_console(&state, &headers), &token).await?;
    Ok(see_other("/admin/sign-in", Some(set_console_cookie(state.settings(), "", 0))))
}

/// The sign-in form, with the reason of a refused attempt (its status, and `Retry-After` when the
/// limit was reached).
fn sign_in_page(refused: Option<&ApiError>) -> Response {
    let status = refused.map_or(StatusCode::OK, |error| {
        StatusCode::from_u16(error.problem.kind.status()).unwrap_or(StatusCode::BAD_REQUEST)
    });
    let main = html! {
        div class="card narrow" {
            h1 { "Sign in to the console" }
            @if let Some(error) = refused {
                p class="error" role="alert" { (error.problem.detail) }
            }
            form method="post" action="/admin/sign-in" {
                label for="token" { "Admin token" }
                input id="token" name="token" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p class="hint" {
                "The admin token is the " code { "admin_token" } " setting, or else the file "
                code { "handoff.admin-token" } " in the data directory. Wrong tokens count towards the \
                failed-authentication limit."
            }
        }
    };
    let mut response = page(status, "Sign in", "/admin/sign-in", None, main);
    if let Some(seconds) = refused.and_then(|error| error.retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
