//! The console's partner pages: the list with the create form, a partner's page (embed origins,
//! path prefixes, the organizations it is linked to with link and unlink, the secret's
//! rotation), and the delete with its confirmation step. A new or rotated secret is shown on the
//! answer to its POST only.
//!
//! Must not: hold a rule of its own: every field is checked, and every change audited
//! (`via=console`), by the same services the admin API calls.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use handoff_core::model::{PageRequest, Partner};
use handoff_core::problem::ProblemKind;
use handoff_core::wire::CreatePartner;
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
pub(super) const PATH: &str = "/admin/partners";

#[derive(Deserialize)]
pub(super) struct ListQuery {
    cursor: Option<String>,
}

/// `GET /admin/partners`
pub(super) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    list_page(&state, &operator, query.cursor.as_deref(), None, None).await
}

/// `POST /admin/partners`: the partner is created and its secret shown, once.
pub(super) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let request = CreatePartner {
        name: form.field("name"),
        embed_origins: form.list("embed_origins"),
        allowed_path_prefixes: form.list("allowed_path_prefixes"),
    };
    match state.create_partner(&console_ctx(ctx), request).await {
        Ok((partner, secret)) => {
            let shown = secret_once("The partner's secret", secret.expose(), None);
            detail_page(&state, &operator, &partner, Some(shown), None).await
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
    let mut partners = state.partners(&request).await?;
    let next = next_page(&mut partners, limit, PATH, |p| p.id.to_string());
    let field = |name: &str| sent.map(|form| form.field(name)).unwrap_or_default();
    let main = html! {
        h1 { "Partners" }
        section class="card" aria-labelledby="all" {
            h2 id="all" { "All partners" }
            @if partners.is_empty() {
                p { "No partners yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Embed origins" } th scope="col" { "Created" } } }
                    tbody {
                        @for partner in &partners {
                            tr {
                                td { a href=(format!("{PATH}/{}", partner.id)) { (partner.name) } }
                                td { (partner.embed_origins.join(", ")) }
                                td { (rfc3339(partner.created_at)) }
                            }
                        }
                    }
                }
            }
            (next)
        }
        section class="card" aria-labelledby="create" {
            h2 id="create" { "Create a partner" }
            (refusal(error))
            form method="post" action=(PATH) {
                (token_field(operator))
                label for="name" { "Name" }
                input id="name" name="name" type="text" required value=(field("name"));
                label for="embed_origins" { "Embed origins (one per line, optional), like https://ehr.example.com" }
                textarea id="embed_origins" name="embed_origins" rows="3" { (field("embed_origins")) }
                label for="allowed_path_prefixes" { "Allowed path prefixes (one per line, optional), like /app/" }
                textarea id="allowed_path_prefixes" name="allowed_path_prefixes" rows="3" { (field("allowed_path_prefixes")) }
                button type="submit" { "Create" }
            }
        }
    };
    Ok(page(status_of(error), "Partners", PATH, Some(operator), main))
}

/// `GET /admin/partners/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let partner = state.admin_partner(&id).await?;
    detail_page(&state, &operator, &partner, None, None).await
}

/// A refused link form, shown again with what was sent.
struct LinkRefusal<'a> {
    error: &'a ApiError,
    organization_id: String,
}

async fn detail_page(
    state: &AppState,
    operator: &Operator,
    partner: &Partner,
    secret: Option<Markup>,
    refused: Option<LinkRefusal<'_>>,
) -> ApiResult<Response> {
    let id = partner.id.to_string();
    let base = format!("{PATH}/{id}");
    let linked = state.partner_links(&id).await?;
    let choices = state.organizations(&PageRequest { after: None, limit: LINK_CHOICES + 1 }).await?;
    let list = |values: &[String]| {
        html! {
            @if values.is_empty() { "none" } @else { ul class="plain" { @for value in values { li { code { (value) } } } } }
        }
    };
    let main = html! {
        @if let Some(secret) = secret { (secret) }
        h1 { (partner.name) }
        section class="card" aria-labelledby="facts" {
            h2 id="facts" { "Partner" }
            dl class="facts" {
                dt { "Id" } dd { code { (id) } }
                dt { "Embed origins" } dd { (list(&partner.embed_origins)) }
                dt { "Allowed path prefixes" } dd { (list(&partner.allowed_path_prefixes)) }
                dt { "Created" } dd { (rfc3339(partner.created_at)) }
                @if let Some((_, until)) = partner.credential.previous {
                    dt { "Previous secret" } dd { "works until " (rfc3339(until)) }
                }
            }
        }
        (linked_organizations(operator, &base, "The partner may sign in the users of these organizations.", &linked, &choices, refused.as_ref().map(|r| (r.error, r.organization_id.as_str()))))
        (secret_card(operator, &base, "The partner's backend sends this secret with x-partner-id. A new one is shown once."))
        (delete_card(&base, "partner"))
    };
    let status = status_of(refused.as_ref().map(|r| r.error));
    Ok(page(status, &partner.name, PATH, Some(operator), main))
}

/// `POST /admin/partners/{id}/links`: back to the partner's page; an organization that does not
/// exist is shown on the form.
pub(super) async fn link(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let partner = state.admin_partner(&id).await?;
    let organization_id = form.field("organization_id");
    match state.link_partner(&console_ctx(ctx), &id, &organization_id).await {
        Ok(()) => Ok(see_other(&format!("{PATH}/{}", partner.id), None)),
        Err(error) if error.problem.kind == ProblemKind::NotFound || shown_on_form(&error) => {
            // The partner exists (read above): what was not found is the organization, a field
            // of the form (400).
            let error = ApiError::invalid(error.problem.detail);
            detail_page(&state, &operator, &partner, None, Some(LinkRefusal { error: &error, organization_id })).await
        }
        Err(error) => Err(error),
    }
}

/// `POST /admin/partners/{id}/links/{organization}/delete`: back to the partner's page.
pub(super) async fn unlink(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, organization)): Path<(String, String)>,
    _: Posted,
) -> ApiResult<Response> {
    let partner = state.admin_partner(&id).await?;
    state.unlink_partner(&console_ctx(ctx), &id, &organization).await?;
    Ok(see_other(&format!("{PATH}/{}", partner.id), None))
}

/// `POST /admin/partners/{id}/secret`: the partner's page with the new secret, once.
pub(super) async fn rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let rotated = state.rotate_partner_secret(&console_ctx(ctx), &id, Ok(Some(overlap(&form)))).await?;
    let partner = state.admin_partner(&id).await?;
    detail_page(&state, &operator, &partner, Some(rotated_box(&rotated, state.now())), None).await
}

/// `GET /admin/partners/{id}/delete`: the confirmation step.
pub(super) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let partner = state.admin_partner(&id).await?;
    let base = format!("{PATH}/{}", partner.id);
    Ok(confirm_delete(
        &operator,
        PATH,
        &format!("the partner {}", partner.name),
        "Its links end, and so do the sessions it opened; its secret stops working at once.",
        &format!("{base}/delete"),
        &base,
    ))
}

/// `POST /admin/partners/{id}/delete`: to the list.
pub(super) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    state.delete_partner(&console_ctx(ctx), &id).await?;
    Ok(see_other(PATH, None))
}
