//! What the console's resource pages share: a posted form (checked against the session's form
//! token and the page it came from before anything else is read), how a service's refusal is
//! shown (on the form, or as a problem page), the one-time secret box, the overlap choice of a
//! rotation, and the confirmation page of a delete.
//!
//! Must not: decide anything about the resources themselves (the services do); a secret passes
//! through here only into the answer to the POST that made it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handoff_core::model::Organization;
use handoff_core::problem::ProblemKind;
use handoff_core::secret::SecretDigest;
use maud::{html, Markup};

use super::layout::page;
use super::{from_console, Operator, FORM_TOKEN};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::{Ctx, Rotated};

/// How many organizations a link form offers to pick from; with more it takes an id.
pub const LINK_CHOICES: u32 = 200;

/// A console form's fields, once its form token and origin passed.
pub struct Form(Vec<(String, String)>);

/// A form posted by a signed-in operator, checked before the handler runs: it carries the
/// session's form token and came from the console's own pages (else 403, audited as a
/// `console.request`; not signed in: to the sign-in form). Every console POST takes one, so no
/// handler can skip the check.
pub struct Posted {
    pub operator: Operator,
    pub form: Form,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        let form = Form::genuine(state, &operator, &headers, &body).map_err(IntoResponse::into_response)?;
        Ok(Self { operator, form })
    }
}

impl Form {
    /// The form in `body`, if it carries `operator`'s form token and came from the console's own
    /// pages; otherwise a 403 (the refusal is audited as a `console.request`).
    fn genuine(state: &AppState, operator: &Operator, headers: &HeaderMap, body: &[u8]) -> ApiResult<Self> {
        let fields: Vec<(String, String)> =
            url::form_urlencoded::parse(body).map(|(key, value)| (key.into_owned(), value.into_owned())).collect();
        let token = fields.iter().find(|(key, _)| key == FORM_TOKEN).map_or("", |(_, value)| value.as_str());
        // Compared as digests: constant time, whatever the posted token's length.
        let token_matches = SecretDigest::of(token).matches(&SecretDigest::of(&operator.form_token));
        if !(token_matches && from_console(state, headers)) {
            return Err(ApiError::forbidden("The form was not sent from the console's page for this session."));
        }
        Ok(Self(fields))
    }

    /// Field `name`, trimmed (empty when absent).
    pub fn field(&self, name: &str) -> String {
        self.0.iter().find(|(key, _)| key == name).map_or_else(String::new, |(_, value)| value.trim().to_owned())
    }

    /// Field `name` as a list: one entry per line or comma (the services drop empty entries).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.field(name).split(['\n', ',']).map(|entry| entry.trim().to_owned()).collect()
    }
}

/// The console's own audit context: admin records of its changes say `via=console`.
pub fn console_ctx(ctx: Ctx) -> Ctx {
    ctx.via("console")
}

/// Whether a refusal belongs on the form that was sent (a field the service refused, or a
/// conflict with what exists): everything else is a problem page.
pub fn shown_on_form(error: &ApiError) -> bool {
    matches!(error.problem.kind, ProblemKind::InvalidRequest | ProblemKind::Conflict)
}

/// The status a form shown again with `error` answers with: 400 for a refused field, 409 for a
/// conflict.
pub fn status_of(error: Option<&ApiError>) -> StatusCode {
    error.map_or(StatusCode::OK, |error| {
        StatusCode::from_u16(error.problem.kind.status()).unwrap_or(StatusCode::BAD_REQUEST)
    })
}

/// The refusal shown at the top of a form.
pub fn refusal(error: Option<&ApiError>) -> Markup {
    html! {
        @if let Some(error) = error {
            p class="error" role="alert" { (error.problem.detail) }
        }
    }
}

/// The session's form token, in every POST form.
pub fn token_field(operator: &Operator) -> Markup {
    html! { input type="hidden" name=(FORM_TOKEN) value=(operator.form_token); }
}

/// A secret shown once, on the answer to the POST that made it: the warning, the secret (with
/// the script's copy button), and when the one it replaced stops working.
pub fn secret_once(label: &str, secret: &str, replaced_until: Option<i64>) -> Markup {
    html! {
        section class="card secret" aria-labelledby="secret-once" role="status" {
            h2 id="secret-once" { (label) }
            p class="warning" {
                strong { "Copy it now: it is shown only this once." }
                " handoff keeps only a hash of it; if it is lost, rotate it again."
            }
            p class="secret-value" { code data-copy { (secret) } }
            @if let Some(until) = replaced_until {
                p class="hint" {
                    "The previous secret keeps working until "
                    time datetime=(rfc3339(until)) { (rfc3339(until)) } "."
                }
            }
        }
    }
}

/// The answer to a rotation: `secret_once` above the page the rotation was asked from.
pub fn rotated_box(rotated: &Rotated, now: i64) -> Markup {
    secret_once("The new secret", rotated.secret.expose(), (rotated.until > now).then_some(rotated.until))
}

/// The overlap choices a rotation form offers (the service checks the value), in seconds.
const OVERLAPS: [(i64, &str); 4] =
    [(0, "none: the old secret stops at once"), (3600, "1 hour"), (86_400, "1 day"), (604_800, "7 days")];

/// The rotation form: how long the old secret keeps working, posted to `action`.
pub fn rotate_form(operator: &Operator, action: &str) -> Markup {
    html! {
        form method="post" action=(action) class="inline-form" {
            (token_field(operator))
            label for="overlap_seconds" { "Old secret keeps working for" }
            select id="overlap_seconds" name="overlap_seconds" {
                @for (seconds, label) in OVERLAPS {
                    option value=(seconds) selected[seconds == 86_400] { (label) }
                }
            }
            button type="submit" { "Rotate the secret" }
        }
    }
}

/// The overlap a rotation form chose: `None` (the service's default) when the field is absent;
/// anything that is no number is refused by the service's own range check.
pub fn overlap(form: &Form) -> handoff_core::wire::RotateSecret {
    let field = form.field("overlap_seconds");
    let seconds = (!field.is_empty()).then(|| field.parse::<i64>().unwrap_or(-1));
    handoff_core::wire::RotateSecret { overlap_seconds: seconds }
}

/// The card of a resource's linked organizations, each with a button that unlinks it
/// (`{base}/links/{id}/delete`), and the form that links another (`{base}/links`); `hint` says
/// what a link allows, `refused` is a refused link (its error and the id that was typed).
pub fn linked_organizations(
    operator: &Operator,
    base: &str,
    hint: &str,
    linked: &[Organization],
    choices: &[Organization],
    refused: Option<(&ApiError, &str)>,
) -> Markup {
    // With up to LINK_CHOICES organizations the form offers the unlinked ones to pick; with more
    // it takes an id (the organizations page has a search).
    let pick = choices.len() <= LINK_CHOICES as usize;
    let offer: Vec<&Organization> = choices.iter().filter(|o| !linked.iter().any(|l| l.id == o.id)).collect();
    let typed = refused.map(|(_, typed)| typed).unwrap_or_default();
    html! {
        section class="card" aria-labelledby="links" {
            h2 id="links" { "Linked organizations" }
            p class="hint" { (hint) }
            @if linked.is_empty() {
                p { "None yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Organization" } th scope="col" { "Id" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                    tbody {
                        @for organization in linked {
                            tr {
                                td { a href=(format!("/admin/organizations/{}", organization.id)) { (organization.name) } }
                                td { code { (organization.id) } }
                                td {
                                    form method="post" action=(format!("{base}/links/{}/delete", organization.id)) class="inline-form" {
                                        (token_field(operator))
                                        button type="submit" class="secondary" aria-label=(format!("Unlink {}", organization.name)) { "Unlink" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 id="new-link" { "Link an organization" }
            (refusal(refused.map(|(error, _)| error)))
            @if pick && offer.is_empty() {
                p { "Every organization is linked." }
            } @else {
                form method="post" action=(format!("{base}/links")) aria-labelledby="new-link" {
                    (token_field(operator))
                    @if pick {
                        label for="organization_id" { "Organization" }
                        select id="organization_id" name="organization_id" required {
                            @for organization in &offer {
                                option value=(organization.id) selected[typed == organization.id.to_string()] {
                                    (organization.name) " — " (organization.id)
                                }
                            }
                        }
                    } @else {
                        label for="organization_id" { "Organization id" }
                        input id="organization_id" name="organization_id" type="text" required value=(typed);
                    }
                    button type="submit" { "Link" }
                }
            }
        }
    }
}

/// The card that rotates a resource's secret (`{base}/secret`); `hint` says who uses it.
pub fn secret_card(operator: &Operator, base: &str, hint: &str) -> Markup {
    html! {
        section class="card" aria-labelledby="rotate" {
            h2 id="rotate" { "Secret" }
            p class="hint" { (hint) }
            (rotate_form(operator, &format!("{base}/secret")))
        }
    }
}

/// The card linking to the confirmation page that deletes `what` (`{base}/delete`).
pub fn delete_card(base: &str, what: &str) -> Markup {
    html! {
        section class="card" aria-labelledby="danger" {
            h2 id="danger" { "Delete" }
            p { a href=(format!("{base}/delete")) class="danger-link" { "Delete this " (what) "…" } }
        }
    }
}

/// The page asking whether to delete `what` (`GET …/delete`); the form posts to the same path.
pub fn confirm_delete(
    operator: &Operator,
    nav: &str,
    what: &str,
    consequences: &str,
    action: &str,
    back: &str,
) -> Response {
    let main = html! {
        div class="card narrow" {
            h1 { "Delete " (what) "?" }
            p { (consequences) }
            p class="warning" { strong { "This cannot be undone." } }
            form method="post" action=(action) class="actions" {
                (token_field(operator))
                button type="submit" class="danger" { "Delete" }
                a href=(back) { "Cancel" }
            }
        }
    };
    page(StatusCode::OK, &format!("Delete {what}"), nav, Some(operator), main)
}

/// The link under a list to its next page, when there is one: `items` holds one more than
/// `limit` when another page follows.
pub fn next_page<T>(items: &mut Vec<T>, limit: u32, path: &str, cursor: impl Fn(&T) -> String) -> Markup {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    html! {
        @if more {
            @if let Some(last) = items.last() {
                p { a href=(format!("{path}?cursor={}", cursor(last))) rel="next" { "Next page" } }
            }
        }
    }
}

/// A duration for people: "45 s", "12 min", "5 h", "3 days".
pub fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
