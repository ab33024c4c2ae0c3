//! The console's audit stream pages: the list (state, lag, last delivery) with the create form,
//! a stream's page with pause or resume, and the delete with its confirmation step. A webhook
//! stream's secret is shown on the answer to its creation only.
//!
//! Must not: hold a rule of its own: every field is checked, and every change audited
//! (`via=console`), by the same services the admin API calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use handoff_core::stream::StreamState;
use handoff_core::wire::CreateStream;
use maud::{html, Markup};

use super::layout::page;
use super::{
    age, confirm_delete, console_ctx, delete_card, refusal, secret_once, see_other, shown_on_form, status_of,
    token_field, Form, Operator, Posted,
};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::{Ctx, StreamStatus};

/// The navigation entry these pages belong to.
pub(super) const PATH: &str = "/admin/streams";

/// Where the stream delivers, as one line.
fn target(s: &StreamStatus) -> &str {
    s.stream.url.as_deref().or(s.stream.path.as_deref()).unwrap_or_default()
}

fn lag(s: &StreamStatus, now: i64) -> String {
    match s.lag.oldest_at {
        Some(at) => format!("{} records ({})", s.lag.records, age(now - at)),
        None => "none".into(),
    }
}

/// `GET /admin/streams`
pub(super) async fn list(State(state): State<AppState>, operator: Operator) -> ApiResult<Response> {
    list_page(&state, &operator, None, None).await
}

/// `POST /admin/streams`: the stream is created (a webhook's secret shown, once).
pub(super) async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { operator, form }: Posted,
) -> ApiResult<Response> {
    let optional = |name: &str| Some(form.field(name)).filter(|value| !value.is_empty());
    let kind = form.field("kind");
    let request = CreateStream {
        name: form.field("name"),
        url: optional("url").filter(|_| kind == "webhook"),
        path: optional("path").filter(|_| kind == "jsonl"),
        kind,
        kinds: form.list("kinds").into_iter().filter(|k| !k.is_empty()).collect(),
        outcomes: optional("outcome").into_iter().filter(|o| o != "all").collect(),
    };
    match state.create_stream(&console_ctx(ctx), request).await {
        Ok((status, secret)) => {
            let shown = secret.map(|secret| secret_once("The stream's signing secret", &secret, None));
            detail_page(&state, &operator, &status, shown)
        }
        Err(error) if shown_on_form(&error) => list_page(&state, &operator, Some(&error), Some(&form)).await,
        Err(error) => Err(error),
    }
}

async fn list_page(
    state: &AppState,
    operator: &Operator,
    error: Option<&ApiError>,
    sent: Option<&Form>,
) -> ApiResult<Response> {
    let streams = state.streams().await?;
    let now = state.now();
    let field = |name: &str| sent.map(|form| form.field(name)).unwrap_or_default();
    let sent_kind = field("kind");
    let sent_outcome = field("outcome");
    let main = html! {
        h1 { "Audit streams" }
        section class="card" aria-labelledby="all" {
            h2 id="all" { "All streams" }
            @if streams.is_empty() {
                p { "No streams yet. A stream delivers every audit record committed after its creation to a \
                     webhook or a JSON-lines file." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Delivers to" }
                        th scope="col" { "State" } th scope="col" { "Behind" } th scope="col" { "Last delivery" }
                    } }
                    tbody {
                        @for s in &streams {
                            tr {
                                td { a href=(format!("{PATH}/{}", s.stream.id)) { (s.stream.name) } }
                                td { (s.stream.kind.as_str()) }
                                td { code { (target(s)) } }
                                td { (s.state.as_str()) }
                                td { (lag(s, now)) }
                                td { (s.stream.last_delivered_at.map(rfc3339).unwrap_or_else(|| "never".into())) }
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="create" {
            h2 id="create" { "Create a stream" }
            (refusal(error))
            form method="post" action=(PATH) {
                (token_field(operator))
                label for="name" { "Name (a-z, 0-9 and -; names the stream in /metrics)" }
                input id="name" name="name" type="text" required value=(field("name"));
                label for="kind" { "Kind" }
                select id="kind" name="kind" {
                    option value="webhook" selected[sent_kind != "jsonl"] { "webhook (signed HTTPS POSTs)" }
                    option value="jsonl" selected[sent_kind == "jsonl"] { "jsonl (a file of JSON lines)" }
                }
                label for="url" { "Webhook URL, like https://siem.example.com/handoff (webhook)" }
                input id="url" name="url" type="url" value=(field("url"));
                label for="path" { "File, like /var/log/handoff/audit.jsonl (jsonl)" }
                input id="path" name="path" type="text" value=(field("path"));
                label for="kinds" { "Only these kinds (one per line, prefixes like admin.*; empty: all)" }
                textarea id="kinds" name="kinds" rows="3" { (field("kinds")) }
                label for="outcome" { "Outcomes" }
                select id="outcome" name="outcome" {
                    @for (value, label) in [("all", "all"), ("accepted", "accepted only"), ("refused", "refused only")] {
                        option value=(value) selected[sent_outcome == value] { (label) }
                    }
                }
                button type="submit" { "Create" }
            }
        }
    };
    Ok(page(status_of(error), "Audit streams", PATH, Some(operator), main))
}

/// `GET /admin/streams/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let status = state.admin_stream(&id).await?;
    detail_page(&state, &operator, &status, None)
}

fn detail_page(
    state: &AppState,
    operator: &Operator,
    status: &StreamStatus,
    secret: Option<Markup>,
) -> ApiResult<Response> {
    let s = &status.stream;
    let id = s.id.to_string();
    let base = format!("{PATH}/{id}");
    let now = state.now();
    let (action, verb) = match status.state {
        StreamState::Paused => ("resume", "Resume"),
        StreamState::Active | StreamState::Failing => ("pause", "Pause"),
    };
    let main = html! {
        @if let Some(secret) = secret { (secret) }
        h1 { (s.name) }
        section class="card" aria-labelledby="facts" {
            h2 id="facts" { "Stream" }
            dl class="facts" {
                dt { "Id" } dd { code { (id) } }
                dt { "Kind" } dd { (s.kind.as_str()) }
                dt { "Delivers to" } dd { code { (target(status)) } }
                dt { "Kinds" } dd { @if s.filter.kinds.is_empty() { "all" } @else { (s.filter.kinds.join(", ")) } }
                dt { "Outcomes" } dd {
                    @if s.filter.outcomes.is_empty() { "all" }
                    @else { (s.filter.outcomes.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ")) }
                }
                dt { "State" } dd { (status.state.as_str()) }
                dt { "Behind" } dd { (lag(status, now)) }
                dt { "Last delivery" } dd { (s.last_delivered_at.map(rfc3339).unwrap_or_else(|| "never".into())) }
                @if s.failures > 0 {
                    dt { "Failures in a row" } dd { (s.failures) }
                    @if let Some(error) = &s.last_error { dt { "Last error" } dd { (error) } }
                }
                dt { "Created" } dd { (rfc3339(s.created_at)) }
            }
        }
        section class="card" aria-labelledby="delivery" {
            h2 id="delivery" { "Delivery" }
            p { "A paused stream delivers nothing; resumed, it goes on from where it stopped, at once." }
            form method="post" action=(format!("{base}/{action}")) class="inline-form" {
                (token_field(operator))
                button type="submit" { (verb) }
            }
        }
        (delete_card(&base, "stream"))
    };
    Ok(page(StatusCode::OK, &s.name, PATH, Some(operator), main))
}

/// `POST /admin/streams/{id}/pause`: back to the stream's page.
pub(super) async fn pause(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    let status = state.pause_stream(&console_ctx(ctx), &id, true).await?;
    Ok(see_other(&format!("{PATH}/{}", status.stream.id), None))
}

/// `POST /admin/streams/{id}/resume`: back to the stream's page.
pub(super) async fn resume(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    let status = state.pause_stream(&console_ctx(ctx), &id, false).await?;
    Ok(see_other(&format!("{PATH}/{}", status.stream.id), None))
}

/// `GET /admin/streams/{id}/delete`: the confirmation step.
pub(super) async fn confirm(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let status = state.admin_stream(&id).await?;
    let base = format!("{PATH}/{}", status.stream.id);
    Ok(confirm_delete(
        &operator,
        PATH,
        &format!("the stream {}", status.stream.name),
        "Nothing more is delivered; the records stay in the audit log.",
        &format!("{base}/delete"),
        &base,
    ))
}

/// `POST /admin/streams/{id}/delete`: to the list.
pub(super) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: Posted,
) -> ApiResult<Response> {
    state.delete_stream(&console_ctx(ctx), &id).await?;
    Ok(see_other(PATH, None))
}
