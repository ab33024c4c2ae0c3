//! The console's audit log: `GET /admin/audit` (the filters of the admin API's
//! `GET /admin/v1/audit`, read by the same `AuditQuery`, newest first, an "older" link carrying
//! the cursor and the filters), one record in full (`GET /admin/audit/{id}`), and the export of
//! the filtered set as JSON lines or CSV (`GET /admin/audit/export`), streamed chunk by chunk
//! from `services::AuditExport` as each record's `AuditRecordView` (the lines are
//! `handoff_core::export`'s, shared with `handoff audit export`).
//!
//! Must not: read the store or hold the exported set in memory (the service pages through it).

use std::io;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handoff_core::export::Format;
use handoff_core::wire::AuditRecordView;
use maud::{html, Markup};
use serde::Deserialize;
use time::macros::format_description;
use time::OffsetDateTime;

use super::layout::page;
use super::Operator;
use crate::error::{ApiError, ApiResult};
use crate::http::query::{parse_time, AuditQuery};
use crate::http::respond::ConsolePage;
use crate::http::state::AppState;
use crate::http::views;
use crate::services::{AuditExport, Ctx};

const PATH: &str = "/admin/audit";

/// `GET /admin/audit`: a page of the records the filters select, newest first.
pub(super) async fn audit_log(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Response> {
    let (filter, limit) = match query.filter() {
        Ok(parsed) => parsed,
        Err(error) if error.problem.kind.status() == 400 => {
            let main = log_page(&query, Some(&error), &[], None);
            return Ok(page(StatusCode::BAD_REQUEST, "Audit log", PATH, Some(&operator), main));
        }
        Err(error) => return Err(error),
    };
    let records = state.audit_records(&filter).await?;
    let records = views::page(records, limit, views::audit_record, |r| r.id.to_string());
    let main = log_page(&query, None, &records.items, records.next_cursor.as_deref());
    Ok(page(StatusCode::OK, "Audit log", PATH, Some(&operator), main))
}

/// `GET /admin/audit/{id}`: every field of one record.
pub(super) async fn audit_detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let record = views::audit_record(&state.audit_record(&id).await?);
    let main = html! {
        p { a href=(PATH) { "← Audit log" } }
        h1 { "Audit record " (record.id) }
        section class="card" aria-labelledby="fields" {
            h2 id="fields" { "Fields" }
            dl class="facts" {
                dt { "Id" } dd { (record.id) }
                dt { "At" } dd { time datetime=(record.at) { (record.at) } }
                dt { "Kind" } dd { code { (record.kind) } }
                dt { "Outcome" } dd { (record.outcome.as_deref().unwrap_or("—")) }
                dt { "Reason" } dd { (record.reason) }
                dt { "Partner" } dd { (optional(&record.partner_id)) }
                dt { "Organization" } dd { (optional(&record.organization_id)) }
                dt { "User" } dd { (optional(&record.user_id)) }
                dt { "Client address" } dd { (optional(&record.client_addr)) }
                dt { "Request id" } dd { (optional(&record.request_id)) }
                dt { "Detail" } dd { pre class="detail" { (optional(&record.detail)) } }
            }
        }
    };
    Ok(page(StatusCode::OK, &format!("Audit record {}", record.id), PATH, Some(&operator), main))
}

#[derive(Deserialize)]
pub(super) struct ExportFormat {
    format: Option<String>,
}

/// An export's format (`jsonl`, the default, or `csv`), rendered by `handoff_core::export`
/// exactly as `handoff audit export` renders it.
fn export_format(name: Option<&str>) -> ApiResult<Format> {
    Format::parse(name.unwrap_or("jsonl")).ok_or_else(|| ApiError::invalid("format must be jsonl or csv."))
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::JsonLines => "application/x-ndjson",
        Format::Csv => "text/csv; charset=utf-8",
    }
}

/// `GET /admin/audit/export?format=jsonl|csv&…filters`: the filtered set as a download, streamed
/// as the service reads it chunk by chunk; audited as `console.audit_export` before it starts.
pub(super) async fn audit_export(
    State(state): State<AppState>,
    ctx: Ctx,
    _: Operator,
    Query(query_format): Query<ExportFormat>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Response> {
    let format = export_format(query_format.format.as_deref())?;
    let (filter, _) = query.filter()?;
    let export = AuditExport::start(state, &ctx.via("console"), filter, format.name()).await?;
    let chunks = futures_util::stream::unfold(Some((export, true)), move |next| async move {
        let (mut export, first) = next?;
        let mut out = if first { format.header().to_owned() } else { String::new() };
        match export.next_chunk().await {
            Ok(Some(records)) => match format.render(&records, &mut out) {
                Ok(()) => Some((Ok(out), Some((export, false)))),
                Err(error) => Some((Err(io::Error::other(error)), None)),
            },
            Ok(None) if !out.is_empty() => Some((Ok(out), None)),
            Ok(None) => None,
            // The status is sent already: the download ends short, and the cause is in the log.
            Err(error) => Some((Err(io::Error::other(error.problem.detail)), None)),
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(format)));
    let disposition = format!("attachment; filename=\"handoff-audit.{}\"", format.name());
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    // The console's headers (no caching of the download among them).
    response.extensions_mut().insert(ConsolePage);
    Ok(response)
}

/// The audit log page: the filter form, the refusal of bad filters, the records and the links on.
fn log_page(
    query: &AuditQuery,
    refused: Option<&ApiError>,
    records: &[AuditRecordView],
    older: Option<&str>,
) -> Markup {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let outcome = text(&query.outcome);
    let filters = filter_pairs(query);
    html! {
        h1 { "Audit log" }
        form class="card filters" method="get" action=(PATH) aria-label="Filters" {
            div class="fields" {
                (field("kind", "Kind", &text(&query.kind), "text"))
                div {
                    label for="outcome" { "Outcome" }
                    select id="outcome" name="outcome" {
                        @for (value, label) in [("", "Any"), ("accepted", "Accepted"), ("refused", "Refused")] {
                            option value=(value) selected[outcome == value] { (label) }
                        }
                    }
                }
                (field("reason", "Reason", &text(&query.reason), "text"))
                (field("partner_id", "Partner id", &text(&query.partner_id), "text"))
                (field("organization_id", "Organization id", &text(&query.organization_id), "text"))
                (field("user_id", "User id", &text(&query.user_id), "text"))
                (field("since", "From (UTC)", &local_time(&query.since), "datetime-local"))
                (field("until", "Before (UTC)", &local_time(&query.until), "datetime-local"))
            }
            button type="submit" { "Filter" }
            " "
            a href=(PATH) { "Clear filters" }
        }
        @if let Some(error) = refused {
            p class="error" role="alert" { (error.problem.detail) }
        }
        p class="exports" {
            "Export the filtered set: "
            a href=(link("/admin/audit/export", &[("format", "jsonl")], &filters)) download { "JSON lines" }
            " · "
            a href=(link("/admin/audit/export", &[("format", "csv")], &filters)) download { "CSV" }
        }
        @if records.is_empty() {
            p { "No audit records match." }
        } @else {
            div class="table" {
                table {
                    caption { "Audit records, newest first" }
                    thead { tr {
                        th scope="col" { "Id" } th scope="col" { "At" } th scope="col" { "Kind" }
                        th scope="col" { "Outcome" } th scope="col" { "Reason" } th scope="col" { "Partner" }
                        th scope="col" { "Organization" } th scope="col" { "User" }
                    } }
                    tbody {
                        @for record in records {
                            tr {
                                td { a href=(format!("{PATH}/{}", record.id)) { (record.id) } }
                                td { time datetime=(record.at) { (record.at) } }
                                td { code { (record.kind) } }
                                td class=(record.outcome.as_deref().unwrap_or("none")) { (record.outcome.as_deref().unwrap_or("—")) }
                                td { (record.reason) }
                                td { (optional(&record.partner_id)) }
                                td { (optional(&record.organization_id)) }
                                td { (optional(&record.user_id)) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pages" aria-label="Pages" {
            @if query.cursor.as_deref().is_some_and(|c| !c.is_empty()) {
                a href=(link(PATH, &[], &filters)) { "Newest" }
            }
            @if let Some(cursor) = older {
                a href=(link(PATH, &[("cursor", cursor)], &filters)) rel="next" { "Older" }
            }
        }
    }
}

fn field(name: &str, label: &str, value: &str, kind: &str) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(value) step=[(kind == "datetime-local").then_some("1")];
        }
    }
}

fn optional(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("—")
}

/// The filters `query` sets (not its cursor or limit), for the links that keep them.
fn filter_pairs(query: &AuditQuery) -> Vec<(&'static str, String)> {
    [
        ("kind", &query.kind),
        ("outcome", &query.outcome),
        ("reason", &query.reason),
        ("partner_id", &query.partner_id),
        ("organization_id", &query.organization_id),
        ("user_id", &query.user_id),
        ("since", &query.since),
        ("until", &query.until),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().filter(|v| !v.trim().is_empty()).map(|v| (name, v.to_owned())))
    .collect()
}

/// `path` with `first` and then `filters` as its query string.
fn link(path: &str, first: &[(&str, &str)], filters: &[(&'static str, String)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(first.iter().copied());
    query.extend_pairs(filters.iter().map(|(name, value)| (*name, value.as_str())));
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// A time filter as a `datetime-local` input shows it (UTC); empty when absent or unreadable.
fn local_time(value: &Option<String>) -> String {
    value
        .as_deref()
        .and_then(parse_time)
        .and_then(|unix| OffsetDateTime::from_unix_timestamp(unix).ok())
        .and_then(|t| t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]")).ok())
        .unwrap_or_default()
}
