//! The console's organization pages: the list (paged) with the create form, an organization's
//! page (org numbers, its linked partners, its users with the search by email and the create
//! form, the secret's rotation), and the delete with its confirmation step. A new or rotated
//! secret is shown on the answer to its POST only.
//!
//! Must not: hold a rule of its own: every field is checked, and every change audited
//! (`via=console`), by the same services the admin API calls.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use handoff_core::model::{Organization, User};
use handoff_core::wire::{CreateOrganization, CreateUser};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::page;
use super::{
    confirm_delete, console_ctx, delete_card, next_page, overlap, refusal, rotated_box, secret_card, secret_once,
    see_other, shown_on_form, status_of, token_field, Form, Operator, Posted,
};
use crate::error::{ApiError, ApiResult};
use crate::http::query::page_request;
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::Ctx;

/// The navigation entry these pages belong to.
pub(super) const PATH: &str = "/admin/organizations";

#[derive(Deserialize)]
pub(super) struct ListQuery {
    cursor: Option<String>,
    email: Option<String>,
}

/// `GET /admin/organizations`
pub(super) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    list_page(&state, &operator, query.cursor.as_deref(), None, None).await
}

/// `POST /admin/organizations`: the organization is created and its secret shown, once.
pub(super) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let request = CreateOrganization { name: form.field("name"), org_numbers: form.list("org_numbers") };
    match state.create_organization(&console_ctx(ctx), request).await {
        Ok((organization, secret)) => {
            let shown = secret_once("The organization's secret", secret.expose(), None);
            detail_page(&state, &operator, &organization, None, Some(shown), None).await
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
    let mut organizations = state.organizations(&request).await?;
    let next = next_page(&mut organizations, limit, PATH, |o| o.id.to_string());
    let field = |name: &str| sent.map(|form| form.field(name)).unwrap_or_default();
    let main = html! {
        h1 { "Organizations" }
        section class="card" aria-labelledby="all" {
            h2 id="all" { "All organizations" }
            @if organizations.is_empty() {
                p { "No organizations yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Org numbers" } th scope="col" { "Created" } } }
                    tbody {
                        @for organization in &organizations {
                            tr {
                                td { a href=(format!("{PATH}/{}", organization.id)) { (organization.name) } }
                                td { (organization.org_numbers.join(", ")) }
                                td { (rfc3339(organization.created_at)) }
                            }
                        }
                    }
                }
            }
            (next)
        }
        section class="card" aria-labelledby="create" {
            h2 id="create" { "Create an organization" }
            (refusal(error))
            form method="post" action=(PATH) {
                (token_field(operator))
                label for="name" { "Name" }
                input id="name" name="name" type="text" required value=(field("name"));
                label for="org_numbers" { "Org numbers (one per line, optional)" }
                textarea id="org_numbers" name="org_numbers" rows="3" { (field("org_numbers")) }
                button type="submit" { "Create" }
            }
        }
    };
    Ok(page(status_of(error), "Organizations", PATH, Some(operator), main))
}

/// `GET /admin/organizations/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let organization = state.admin_organization(&id).await?;
    let search = Search { email: query.email, cursor: query.cursor };
    detail_page(&state, &operator, &organization, Some(&search), None, None).await
}

/// What the user list of an organization's page shows: one address, or a page after a cursor.
#[derive(Default)]
struct Search {
    email: Option<String>,
    cursor: Option<String>,
}

/// A refused user form, shown again with what was sent.
struct UserRefusal<'a> {
    error: &'a ApiError,
    form: &'a Form,
}

async fn detail_page(
    state: &AppState,
    operator: &Operator,
    organization: &Organization,
    search: Option<&Search>,
    secret: Option<Markup>,
    refused: Option<UserRefusal<'_>>,
) -> ApiResult<Response> {
    let id = organization.id.to_string();
    let base = format!("{PATH}/{id}");
    let default = Search::default();
    let search = search.unwrap_or(&default);
    let email = search.email.as_deref().map(str::trim).filter(|email| !email.is_empty());
    let (request, limit) = page_request(search.cursor.as_deref(), None, 50, 200)?;
    let mut users = state.users(&id, email, Ok(request)).await?;
    let next = next_page(&mut users, limit, &base, |u: &User| u.id.to_string());
    let partners = state.organization_partners(&id).await?;
    let field = |name: &str| refused.as_ref().map(|r| r.form.field(name)).unwrap_or_default();
    let main = html! {
        @if let Some(secret) = secret { (secret) }
        h1 { (organization.name) }
        section class="card" aria-labelledby="facts" {
            h2 id="facts" { "Organization" }
            dl class="facts" {
                dt { "Id" } dd { code { (id) } }
                dt { "Org numbers" } dd {
                    @if organization.org_numbers.is_empty() { "none" } @else { (organization.org_numbers.join(", ")) }
                }
                dt { "Created" } dd { (rfc3339(organization.created_at)) }
                @if let Some((_, until)) = organization.credential.previous {
                    dt { "Previous secret" } dd { "works until " (rfc3339(until)) }
                }
            }
        }
        section class="card" aria-labelledby="partners" {
            h2 id="partners" { "Linked partners" }
            p class="hint" { "These partners may sign in the organization's users; link one on its page." }
            @if partners.is_empty() {
                p { "None yet." }
            } @else {
                ul class="plain" {
                    @for partner in &partners {
                        li { a href=(format!("/admin/partners/{}", partner.id)) { (partner.name) } }
                    }
                }
            }
        }
        section class="card" aria-labelledby="users" {
            h2 id="users" { "Users" }
            form method="get" action=(base) class="inline-form" role="search" {
                label for="email" { "Search by email" }
                input id="email" name="email" type="email" value=(email.unwrap_or_default());
                button type="submit" { "Search" }
                @if email.is_some() { a href=(base) { "Show all" } }
            }
            @if users.is_empty() {
                p { @if email.is_some() { "No user with this address." } @else { "No users yet." } }
            } @else {
                table {
                    thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Status" } } }
                    tbody {
                        @for user in &users {
                            tr {
                                td { a href=(format!("/admin/users/{}", user.id)) { (user.email) } }
                                td { (user.given_name) " " (user.family_name) }
                                td { (user.status.as_str()) }
                            }
                        }
                    }
                }
            }
            (next)
            h3 id="new-user" { "Create a user" }
            (refusal(refused.as_ref().map(|r| r.error)))
            form method="post" action=(format!("{base}/users")) aria-labelledby="new-user" {
                (token_field(operator))
                label for="user_email" { "Email" }
                input id="user_email" name="email" type="email" required value=(field("email"));
                label for="given_name" { "Given name" }
                input id="given_name" name="given_name" type="text" required value=(field("given_name"));
                label for="family_name" { "Family name" }
                input id="family_name" name="family_name" type="text" required value=(field("family_name"));
                button type="submit" { "Create the user" }
            }
        }
        (secret_card(operator, &base, "Partners send this secret with x-organization-id. A new one is shown once."))
        (delete_card(&base, "organization"))
    };
    let status = status_of(refused.as_ref().map(|r| r.error));
    Ok(page(status, &organization.name, PATH, Some(operator), main))
}

/// `POST /admin/organizations/{id}/users`: to the new user's page; a refused field is shown on
/// the form.
pub(super) async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let request = CreateUser {
        email: form.field("email"),
        given_name: form.field("given_name"),
        family_name: form.field("family_name"),
    };
    match state.create_user(&console_ctx(ctx), &id, Ok(request)).await {
        Ok(user) => Ok(see_other(&format!("/admin/users/{}", user.id), None)),
        Err(error) if shown_on_form(&error) => {
            let organization = state.admin_organization(&id).await?;
            let refused = UserRefusal { error: &error, form: &form };
            detail_page(&state, &operator, &organization, None, None, Some(refused)).await
        }
        Err(error) => Err(error),
    }
}

/// `POST /admin/organizations/{id}/secret`: the organization's page with the new secret, once.
pub(super) async fn rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let rotated = state.rotate_organization_secret(&console_ctx(ctx), &id, Ok(Some(overlap(&form)))).await?;
    let organization = state.admin_organization(&id).await?;
    detail_page(&state, &operator, &organization, None, Some(rotated_box(&rotated, state.now())), None).await
}

/// `GET /admin/organizations/{id}/delete`: the confirmation step.
pub(super) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let organization = state.admin_organization(&id).await?;
    let base = format!("{PATH}/{}", organization.id);
    Ok(confirm_delete(
        &operator,
        PATH,
        &format!("the organization {}", organization.name),
        "Its users, their sessions and its links to partners are deleted with it.",
        &format!("{base}/delete"),
        &base,
    ))
}

/// `POST /admin/organizations/{id}/delete`: to the list.
pub(super) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    state.delete_organization(&console_ctx(ctx), &id).await?;
    Ok(see_other(PATH, None))
}
