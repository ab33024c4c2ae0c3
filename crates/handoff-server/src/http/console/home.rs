//! The console's home (`GET /admin`): who is signed in and how long the session lasts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::layout::page;
use super::Operator;
use crate::http::state::AppState;
use crate::http::views::rfc3339;

/// `GET /admin`
pub(super) async fn home(State(state): State<AppState>, operator: Operator) -> Response {
    let settings = state.settings();
    let session = &operator.session;
    let main = html! {
        h1 { "Overview" }
        section class="card" aria-labelledby="session" {
            h2 id="session" { "Your session" }
            dl class="facts" {
                dt { "Signed in as" } dd { "The operator, with the admin token" }
                dt { "Since" } dd { time datetime=(rfc3339(session.created_at)) { (rfc3339(session.created_at)) } }
                dt { "Ends" } dd {
                    "after " (settings.console_idle_timeout / 60) " minutes without activity, and at the latest at "
                    time datetime=(rfc3339(session.expires_at)) { (rfc3339(session.expires_at)) }
                }
            }
        }
        section class="card" aria-labelledby="more" {
            h2 id="more" { "Everything else" }
            p {
                "Until the console's other pages arrive, the admin API does everything else: see its "
                a href="/openapi" { "reference" } "."
            }
        }
    };
    page(StatusCode::OK, "Overview", "/admin", Some(&operator), main)
}
