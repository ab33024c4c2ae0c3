//! The console's inbound integration pages: the list with the create form, an integration's page
//! (signature profile, tolerance, unknown-user policy, sandbox, the organizations it serves with
//! link and unlink, the secret's rotation), and the delete with its confirmation step. A new or
//! rotated secret is shown on the answer to its POST only.
//!
//! Must not: hold a rule of its own: every field is checked (and defaulted), and every change
//! audited (`via=console`), by the same services the admin API calls.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use handoff_core::model::{InboundIntegration, PageRequest};
use handoff_core::problem::ProblemKind;
use handoff_core::wire::CreateInboundIntegration;
use handoff_webhook::SignatureProfile;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::page;
use super::{
    confirm_delete, console_ctx, delete_card, linked_organizations, next_page, overlap, refusal, rotated_box,
    secret_card, secret_once, see_other, shown_on_form, status_of, token_field, Form, Operator, Posted, LINK_CHOICES,
};
use crate::error::{ApiError, ApiResult};
use crate::http::query::page_request;
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::Ctx;

/// The navigation entry these pages belong to.
pub(super) const PATH: &str = "/admin/integrations";

/// The unknown-user policies the create form offers (the service checks the value).
const POLICIES: [(&str, &str); 3] = [
    ("reject", "reject: refuse the sign-in"),
    ("provision", "provision: create the user in the organization"),
    ("register", "register: send the browser to the registration URL"),
];

#[derive(Deserialize)]
pub(super) struct ListQuery {
    cursor: Option<String>,
}

/// `GET /admin/integrations`
pub(super) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    list_page(&state, &operator, query.cursor.as_deref(), None, None).await
}

/// A form field the service defaults when it is left empty.
fn optional(form: &Form, name: &str) -> Option<String> {
    Some(form.field(name)).filter(|value| !value.is_empty())
}

/// `POST /admin/integrations`: the integration is created and its secret shown, once.
pub(super) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    // A tolerance that is no number is refused by the service's own range check.
    let tolerance_seconds = optional(&form, "tolerance_seconds").map(|value| value.parse::<i64>().unwrap_or(-1));
    let request = CreateInboundIntegration {
        slug: form.field("slug"),
        name: optional(&form, "name"),
        tolerance_seconds,
        unknown_user: optional(&form, "unknown_user"),
        register_url: optional(&form, "register_url"),
        landing_path: optional(&form, "landing_path"),
        event_type: optional(&form, "event_type"),
        signature_profile: optional(&form, "signature_profile"),
        sandbox: Some(form.field("sandbox") == "on"),
    };
    match state.create_integration(&console_ctx(ctx), request).await {
        Ok((integration, secret)) => {
            let shown = secret_once("The integration's secret", secret.expose(), None);
            detail_page(&state, &operator, &integration, Some(shown), None).await
        }
        Err(error) if shown_on_form(&error) => list_page(&state, &operator, None, Some(&error), Some(&form)).await,
        Err(error) => Err(error),
    }
}

async fn list_page(
    state: &AppState,
    operator: &Operator,
    cursor: Option<&str>,
    error: Option<&ApiError>,
    sent: Option<&Form>,
) -> ApiResult<Response> {
    let (request, limit) = page_request(cursor, None, 50, 200)?;
    let mut integrations = state.integrations(&request).await?;
    let next = next_page(&mut integrations, limit, PATH, |i| i.id.to_string());
    let field = |name: &str| sent.map(|form| form.field(name)).unwrap_or_default();
    let chosen = |name: &str, value: &str, default: &str| {
        let sent = field(name);
        if sent.is_empty() {
            value == default
        } else {
            sent == value
        }
    };
    let main = html! {
        h1 { "Inbound integrations" }
        section class="card" aria-labelledby="all" {
            h2 id="all" { "All inbound integrations" }
            @if integrations.is_empty() {
                p { "No inbound integrations yet." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Slug" } th scope="col" { "Unknown users" }
                        th scope="col" { "Sandbox" } th scope="col" { "Created" }
                    } }
                    tbody {
                        @for integration in &integrations {
                            tr {
                                td { a href=(format!("{PATH}/{}", integration.id)) { (integration.name) } }
                                td { code { (integration.slug) } }
                                td { (integration.unknown_user.as_str()) }
                                td { @if integration.sandbox { "on" } @else { "off" } }
                                td { (rfc3339(integration.created_at)) }
                            }
                        }
                    }
                }
            }
            (next)
        }
        section class="card" aria-labelledby="create" {
            h2 id="create" { "Create an inbound integration" }
            (refusal(error))
            form method="post" action=(PATH) {
                (token_field(operator))
                label for="slug" { "Slug (in the webhook URL /v1/inbound/{slug}/sso)" }
                input id="slug" name="slug" type="text" required value=(field("slug"));
                label for="name" { "Name (optional: the slug)" }
                input id="name" name="name" type="text" value=(field("name"));
                label for="signature_profile" { "Signature profile" }
                select id="signature_profile" name="signature_profile" {
                    @for profile in SignatureProfile::ALL {
                        option value=(profile.as_str())
                            selected[chosen("signature_profile", profile.as_str(), SignatureProfile::default().as_str())]
                            { (profile.as_str()) }
                    }
                }
                label for="tolerance_seconds" { "Timestamp tolerance in seconds (optional: 15)" }
                input id="tolerance_seconds" name="tolerance_seconds" type="number" min="1" max="300"
                    value=(field("tolerance_seconds"));
                label for="unknown_user" { "Unknown users" }
                select id="unknown_user" name="unknown_user" {
                    @for (value, label) in POLICIES {
                        option value=(value) selected[chosen("unknown_user", value, "reject")] { (label) }
                    }
                }
                label for="register_url" { "Registration URL (for register), like https://app.example.com/register" }
                input id="register_url" name="register_url" type="url" value=(field("register_url"));
                label for="landing_path" { "Landing path (optional: the default redirect path)" }
                input id="landing_path" name="landing_path" type="text" value=(field("landing_path"));
                label for="event_type" { "Event type (optional: Vinst_SSO)" }
                input id="event_type" name="event_type" type="text" value=(field("event_type"));
                label for="sandbox" {
                    input id="sandbox" name="sandbox" type="checkbox" checked[field("sandbox") == "on"];
                    " Sandbox: enable the test endpoint /v1/inbound/{slug}/sso/test"
                }
                button type="submit" { "Create" }
            }
        }
    };
    Ok(page(status_of(error), "Inbound integrations", PATH, Some(operator), main))
}

/// `GET /admin/integrations/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let integration = state.admin_integration(&id).await?;
    detail_page(&state, &operator, &integration, None, None).await
}

/// A refused link form, shown again with what was sent.
struct LinkRefusal<'a> {
    error: &'a ApiError,
    organization_id: String,
}

async fn detail_page(
    state: &AppState,
    operator: &Operator,
    integration: &InboundIntegration,
    secret: Option<Markup>,
    refused: Option<LinkRefusal<'_>>,
) -> ApiResult<Response> {
    let id = integration.id.to_string();
    let base = format!("{PATH}/{id}");
    let linked = state.integration_links(&id).await?;
    let choices = state.organizations(&PageRequest { after: None, limit: LINK_CHOICES + 1 }).await?;
    let main = html! {
        @if let Some(secret) = secret { (secret) }
        h1 { (integration.name) }
        section class="card" aria-labelledby="facts" {
            h2 id="facts" { "Inbound integration" }
            dl class="facts" {
                dt { "Id" } dd { code { (id) } }
                dt { "Webhook" } dd { code { "/v1/inbound/" (integration.slug) "/sso" } }
                dt { "Signature profile" } dd { (integration.signature_profile.as_str()) }
                dt { "Tolerance" } dd { (integration.tolerance_seconds) " seconds" }
                dt { "Event type" } dd { (integration.event_type) }
                dt { "Unknown users" } dd { (integration.unknown_user.as_str()) }
                @if let Some(url) = &integration.register_url {
                    dt { "Registration URL" } dd { code { (url) } }
                }
                dt { "Landing path" } dd { code { (integration.landing_path) } }
                dt { "Sandbox" } dd {
                    @if integration.sandbox { "on: " code { "/v1/inbound/" (integration.slug) "/sso/test" } } @else { "off" }
                }
                dt { "Created" } dd { (rfc3339(integration.created_at)) }
                @if let Some((_, until)) = &integration.secrets.previous {
                    dt { "Previous secret" } dd { "accepted until " (rfc3339(*until)) }
                }
            }
        }
        (linked_organizations(operator, &base, "The integration may sign in the users of these organizations.", &linked, &choices, refused.as_ref().map(|r| (r.error, r.organization_id.as_str()))))
        (secret_card(operator, &base, "The sender signs its webhooks with this secret; during the overlap both are accepted. A new one is shown once."))
        (delete_card(&base, "integration"))
    };
    let status = status_of(refused.as_ref().map(|r| r.error));
    Ok(page(status, &integration.name, PATH, Some(operator), main))
}

/// `POST /admin/integrations/{id}/links`: back to the integration's page; an organization that
/// does not exist is shown on the form.
pub(super) async fn link(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let integration = state.admin_integration(&id).await?;
    let organization_id = form.field("organization_id");
    match state.link_integration(&console_ctx(ctx), &id, &organization_id).await {
        Ok(()) => Ok(see_other(&format!("{PATH}/{}", integration.id), None)),
        Err(error) if error.problem.kind == ProblemKind::NotFound || shown_on_form(&error) => {
            // The integration exists (read above): what was not found is the organization, a
            // field of the form (400).
            let error = ApiError::invalid(error.problem.detail);
            let refused = LinkRefusal { error: &error, organization_id };
            detail_page(&state, &operator, &integration, None, Some(refused)).await
        }
        Err(error) => Err(error),
    }
}

/// `POST /admin/integrations/{id}/links/{organization}/delete`: back to the integration's page.
pub(super) async fn unlink(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, organization)): Path<(String, String)>,
    _: Posted,
) -> ApiResult<Response> {
    let integration = state.admin_integration(&id).await?;
    state.unlink_integration(&console_ctx(ctx), &id, &organization).await?;
    Ok(see_other(&format!("{PATH}/{}", integration.id), None))
}

/// `POST /admin/integrations/{id}/secret`: the integration's page with the new secret, once.
pub(super) async fn rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let rotated = state.rotate_integration_secret(&console_ctx(ctx), &id, Ok(Some(overlap(&form)))).await?;
    let integration = state.admin_integration(&id).await?;
    detail_page(&state, &operator, &integration, Some(rotated_box(&rotated, state.now())), None).await
}

/// `GET /admin/integrations/{id}/delete`: the confirmation step.
pub(super) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let integration = state.admin_integration(&id).await?;
    let base = format!("{PATH}/{}", integration.id);
    Ok(confirm_delete(
        &operator,
        PATH,
        &format!("the integration {}", integration.name),
        "Its webhook answers 404 from then on, and its links to organizations go with it.",
        &format!("{base}/delete"),
        &base,
    ))
}

/// `POST /admin/integrations/{id}/delete`: to the list.
pub(super) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    state.delete_integration(&console_ctx(ctx), &id).await?;
    Ok(see_other(PATH, None))
}
