//! The console's user pages: a user's page (status and who set it, disable or enable, end the
//! sessions) and the delete with its confirmation step. Users are created and searched on their
//! organization's page.
//!
//! Must not: hold a rule of its own: the operator's disable (which a partner cannot undo) and
//! the audit records (`via=console`) are the services'.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use handoff_core::model::{User, UserStatus};
use handoff_core::wire::UpdateUser;
use maud::{html, Markup};

use super::layout::page;
use super::{confirm_delete, console_ctx, delete_card, see_other, token_field, Operator, Posted};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::Ctx;

/// The navigation entry user pages belong to: users are found on their organization's page.
const ORGANIZATIONS: &str = "/admin/organizations";

/// `GET /admin/users/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = state.admin_user(&id).await?;
    detail_page(&state, &operator, &user, None).await
}

async fn detail_page(
    state: &AppState,
    operator: &Operator,
    user: &User,
    notice: Option<Markup>,
) -> ApiResult<Response> {
    let organization = state.admin_organization(&user.organization_id.to_string()).await?;
    let base = format!("/admin/users/{}", user.id);
    let (next, verb) = match user.status {
        UserStatus::Active => (UserStatus::Disabled, "Disable"),
        UserStatus::Disabled => (UserStatus::Active, "Enable"),
    };
    let main = html! {
        @if let Some(notice) = notice { (notice) }
        h1 { (user.email) }
        section class="card" aria-labelledby="facts" {
            h2 id="facts" { "User" }
            dl class="facts" {
                dt { "Id" } dd { code { (user.id) } }
                dt { "Organization" } dd {
                    a href=(format!("{}/{}", ORGANIZATIONS, organization.id)) { (organization.name) }
                }
                dt { "Name" } dd { (user.given_name) " " (user.family_name) }
                dt { "Status" } dd {
                    (user.status.as_str())
                    @if let Some(by) = user.status_set_by { " (set by the " (by.as_str()) ")" }
                }
                dt { "Created" } dd { (rfc3339(user.created_at)) }
            }
        }
        section class="card" aria-labelledby="access" {
            h2 id="access" { "Access" }
            p class="hint" {
                "Disabling ends the user's sessions and refuses new sign-ins; a partner cannot enable a user \
                 the operator disabled."
            }
            div class="actions" {
                form method="post" action=(format!("{base}/status")) class="inline-form" {
                    (token_field(operator))
                    input type="hidden" name="status" value=(next.as_str());
                    button type="submit" { (verb) " the user" }
                }
                form method="post" action=(format!("{base}/sessions")) class="inline-form" {
                    (token_field(operator))
                    button type="submit" class="secondary" { "End all sessions" }
                }
            }
        }
        (delete_card(&base, "user"))
    };
    Ok(page(StatusCode::OK, &user.email, ORGANIZATIONS, Some(operator), main))
}

/// `POST /admin/users/{id}/status`: disables or enables the user as the operator; back to the
/// user's page.
pub(super) async fn set_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { form, .. }: Posted,
) -> ApiResult<Response> {
    let user = state.set_user_status(&console_ctx(ctx), UpdateUser { status: form.field("status") }, &id).await?;
    Ok(see_other(&format!("/admin/users/{}", user.id), None))
}

/// `POST /admin/users/{id}/sessions`: ends every session of the user; the user's page says how
/// many.
pub(super) async fn end_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, .. }: Posted,
) -> ApiResult<Response> {
    let ended = state.end_user_sessions(&console_ctx(ctx), &id).await?;
    let user = state.admin_user(&id).await?;
    let notice = html! { p class="notice" role="status" { "Ended " (ended) " session" @if ended != 1 { "s" } "." } };
    detail_page(&state, &operator, &user, Some(notice)).await
}

/// `GET /admin/users/{id}/delete`: the confirmation step.
pub(super) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = state.admin_user(&id).await?;
    let base = format!("/admin/users/{}", user.id);
    Ok(confirm_delete(
        &operator,
        ORGANIZATIONS,
        &format!("the user {}", user.email),
        "Their sessions end at once.",
        &format!("{base}/delete"),
        &base,
    ))
}

/// `POST /admin/users/{id}/delete`: to the user's organization.
pub(super) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    let user = state.admin_user(&id).await?;
    state.delete_user(&console_ctx(ctx), &id).await?;
    Ok(see_other(&format!("{}/{}", ORGANIZATIONS, user.organization_id), None))
}
