//! The console's supplier pages: the list with the create form, a supplier's page (endpoint,
//! allowed redirect hosts, signature profile, timeout, the secret's rotation), and the delete
//! with its confirmation step. A new or rotated secret is shown on the answer to its POST only.
//!
//! Must not: hold a rule of its own: every field is checked (the endpoint against private
//! addresses too), and every change audited (`via=console`), by the same services the admin API
//! calls.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use handoff_core::model::Supplier;
use handoff_core::wire::CreateSupplier;
use handoff_webhook::SignatureProfile;
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
pub(super) const PATH: &str = "/admin/suppliers";

#[derive(Deserialize)]
pub(super) struct ListQuery {
    cursor: Option<String>,
}

/// `GET /admin/suppliers`
pub(super) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    list_page(&state, &operator, query.cursor.as_deref(), None, None).await
}

/// `POST /admin/suppliers`: the supplier is created and its secret shown, once.
pub(super) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let optional = |name: &str| Some(form.field(name)).filter(|value| !value.is_empty());
    let request = CreateSupplier {
        slug: form.field("slug"),
        name: form.field("name"),
        endpoint: form.field("endpoint"),
        allowed_redirect_hosts: form.list("allowed_redirect_hosts"),
        signature_profile: optional("signature_profile"),
        // A timeout that is no number is refused by the service's own range check.
        timeout_seconds: optional("timeout_seconds").map(|value| value.parse::<i64>().unwrap_or(-1)),
        event_type: optional("event_type"),
    };
    match state.create_supplier(&console_ctx(ctx), request).await {
        Ok((supplier, secret)) => {
            let shown = secret_once("The supplier's secret", secret.expose(), None);
            detail_page(&state, &operator, &supplier, Some(shown)).await
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
    let mut suppliers = state.suppliers(&request).await?;
    let next = next_page(&mut suppliers, limit, PATH, |s| s.id.to_string());
    let field = |name: &str| sent.map(|form| form.field(name)).unwrap_or_default();
    let default_profile = SignatureProfile::default().as_str();
    let main = html! {
        h1 { "Suppliers" }
        section class="card" aria-labelledby="all" {
            h2 id="all" { "All suppliers" }
            @if suppliers.is_empty() {
                p { "No suppliers yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Slug" } th scope="col" { "Endpoint" } th scope="col" { "Created" } } }
                    tbody {
                        @for supplier in &suppliers {
                            tr {
                                td { a href=(format!("{PATH}/{}", supplier.id)) { (supplier.name) } }
                                td { code { (supplier.slug) } }
                                td { code { (supplier.endpoint) } }
                                td { (rfc3339(supplier.created_at)) }
                            }
                        }
                    }
                }
            }
            (next)
        }
        section class="card" aria-labelledby="create" {
            h2 id="create" { "Create a supplier" }
            (refusal(error))
            form method="post" action=(PATH) {
                (token_field(operator))
                label for="slug" { "Slug (in the launch URL)" }
                input id="slug" name="slug" type="text" required value=(field("slug"));
                label for="name" { "Name" }
                input id="name" name="name" type="text" required value=(field("name"));
                label for="endpoint" { "Endpoint, like https://supplier.example.com/sso" }
                input id="endpoint" name="endpoint" type="url" required value=(field("endpoint"));
                label for="allowed_redirect_hosts" { "Allowed redirect hosts (one per line), like app.supplier.example.com" }
                textarea id="allowed_redirect_hosts" name="allowed_redirect_hosts" rows="3" required { (field("allowed_redirect_hosts")) }
                label for="signature_profile" { "Signature profile" }
                select id="signature_profile" name="signature_profile" {
                    @for profile in SignatureProfile::ALL {
                        @let sent = field("signature_profile");
                        option value=(profile.as_str())
                            selected[if sent.is_empty() { profile.as_str() == default_profile } else { sent == profile.as_str() }]
                            { (profile.as_str()) }
                    }
                }
                label for="timeout_seconds" { "Timeout in seconds (optional: 5)" }
                input id="timeout_seconds" name="timeout_seconds" type="number" min="1" max="25" value=(field("timeout_seconds"));
                label for="event_type" { "Event type (optional: Vinst_SSO)" }
                input id="event_type" name="event_type" type="text" value=(field("event_type"));
                button type="submit" { "Create" }
            }
        }
    };
    Ok(page(status_of(error), "Suppliers", PATH, Some(operator), main))
}

/// `GET /admin/suppliers/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let supplier = state.admin_supplier(&id).await?;
    detail_page(&state, &operator, &supplier, None).await
}

async fn detail_page(
    state: &AppState,
    operator: &Operator,
    supplier: &Supplier,
    secret: Option<Markup>,
) -> ApiResult<Response> {
    let id = supplier.id.to_string();
    let base = format!("{PATH}/{id}");
    let main = html! {
        @if let Some(secret) = secret { (secret) }
        h1 { (supplier.name) }
        section class="card" aria-labelledby="facts" {
            h2 id="facts" { "Supplier" }
            dl class="facts" {
                dt { "Id" } dd { code { (id) } }
                dt { "Slug" } dd { code { (supplier.slug) } }
                dt { "Endpoint" } dd { code { (supplier.endpoint) } }
                dt { "Allowed redirect hosts" } dd {
                    ul class="plain" { @for host in &supplier.allowed_redirect_hosts { li { code { (host) } } } }
                }
                dt { "Signature profile" } dd { (supplier.signature_profile.as_str()) }
                dt { "Timeout" } dd { (supplier.timeout_seconds) " seconds" }
                dt { "Event type" } dd { (supplier.event_type) }
                dt { "Created" } dd { (rfc3339(supplier.created_at)) }
                @if let Some((_, until)) = &supplier.secrets.previous {
                    @if *until > state.now() {
                        dt { "Previous secret" } dd { "still signs until " (rfc3339(*until)) }
                    }
                }
            }
        }
        (secret_card(
            operator,
            &base,
            "handoff signs its events with this secret. During the overlap it keeps signing with the old one, \
             which gives the supplier until then to install the new one. A new one is shown once.",
        ))
        (delete_card(&base, "supplier"))
    };
    Ok(page(axum::http::StatusCode::OK, &supplier.name, PATH, Some(operator), main))
}

/// `POST /admin/suppliers/{id}/secret`: the supplier's page with the new secret, once.
pub(super) async fn rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let rotated = state.rotate_supplier_secret(&console_ctx(ctx), &id, Ok(Some(overlap(&form)))).await?;
    let supplier = state.admin_supplier(&id).await?;
    detail_page(&state, &operator, &supplier, Some(rotated_box(&rotated, state.now()))).await
}

/// `GET /admin/suppliers/{id}/delete`: the confirmation step.
pub(super) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let supplier = state.admin_supplier(&id).await?;
    let base = format!("{PATH}/{}", supplier.id);
    Ok(confirm_delete(
        &operator,
        PATH,
        &format!("the supplier {}", supplier.name),
        "Its launch URL answers 404 from then on.",
        &format!("{base}/delete"),
        &base,
    ))
}

/// `POST /admin/suppliers/{id}/delete`: to the list.
pub(super) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    state.delete_supplier(&console_ctx(ctx), &id).await?;
    Ok(see_other(PATH, None))
}
