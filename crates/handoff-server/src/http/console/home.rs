//! The console's overview (`GET /admin`): SSO volume per surface over the last 24 hours or (with
//! `?span=days`) the last 30 days, the most frequent refusal reasons, live sessions, this node's
//! health with the audit log's retention, and who is signed in. The numbers are `Services::stats`, the ones
//! `GET /admin/v1/stats` serves.
//!
//! Must not: count anything itself (the service does), or need a script (the span is a link).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use handoff_core::stats::{Bucket, Surface, Tally};
use handoff_core::token::KeyKind;
use maud::{html, Markup};
use time::OffsetDateTime;

use super::chart::{self, Bar};
use super::layout::page;
use super::{age, form_field, Operator};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::Stats;

/// The surfaces in the order the overview shows them: (surface, its name, the id of its chart).
const SURFACES: [(Surface, &str, &str); 4] = [
    (Surface::PartnerMint, "Partner mint", "partner-mint"),
    (Surface::Redemption, "Redemption", "redemption"),
    (Surface::InboundWebhook, "Inbound webhook", "inbound-webhook"),
    (Surface::Launch, "Launch", "launch"),
];

/// Which buckets the charts show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    Hours,
    Days,
}

impl Span {
    fn of(query: Option<&str>) -> Self {
        match form_field(query.unwrap_or_default().as_bytes(), "span").as_str() {
            "days" => Span::Days,
            _ => Span::Hours,
        }
    }

    fn href(self) -> &'static str {
        match self {
            Span::Hours => "/admin",
            Span::Days => "/admin?span=days",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Span::Hours => "Last 24 hours",
            Span::Days => "Last 30 days",
        }
    }
}

/// `GET /admin`
pub(super) async fn home(State(state): State<AppState>, operator: Operator, query: RawQuery) -> ApiResult<Response> {
    let span = Span::of(query.0.as_deref());
    let stats = state.stats().await?;
    let main = html! {
        h1 { "Overview" }
        (volume(&stats, span))
        div class="overview-pair" {
            (refusals(&stats))
            (health(&stats, state.now()))
        }
        (session(&state, &operator))
        section class="card" aria-labelledby="more" {
            h2 id="more" { "Everything else" }
            p {
                "Until the console's other pages arrive, the admin API does everything else: see its "
                a href="/openapi" { "reference" } "."
            }
        }
    };
    Ok(page(StatusCode::OK, "Overview", "/admin", Some(&operator), main))
}

/// The totals of the span, live sessions, and a chart per surface.
fn volume(stats: &Stats, span: Span) -> Markup {
    let buckets = match span {
        Span::Hours => &stats.overview.hourly,
        Span::Days => &stats.overview.daily,
    };
    let total = SURFACES.iter().fold(Tally::default(), |sum, (surface, ..)| {
        let t = total(buckets, *surface);
        Tally { accepted: sum.accepted + t.accepted, refused: sum.refused + t.refused }
    });
    let column = match span {
        Span::Hours => "Hour (UTC)",
        Span::Days => "Day (UTC)",
    };
    html! {
        section class="card" aria-labelledby="volume" {
            div class="volume-head" {
                h2 id="volume" { "SSO volume" }
                nav class="spans" aria-label="Time span" {
                    @for choice in [Span::Hours, Span::Days] {
                        a href=(choice.href()) aria-current=[(choice == span).then_some("true")] { (choice.name()) }
                    }
                }
            }
            dl class="tiles" {
                div { dt { "Accepted, " (span.name().to_lowercase()) } dd id="total-accepted" { (total.accepted) } }
                div { dt { "Refused, " (span.name().to_lowercase()) } dd id="total-refused" { (total.refused) } }
                div { dt { "Active sessions" } dd id="active-sessions" { (stats.active_sessions) } }
            }
            (chart::legend())
            div class="charts" {
                @for (surface, name, id) in SURFACES {
                    @let bars: Vec<Bar> = buckets.iter().map(|b| bar(b, surface, span)).collect();
                    section class="surface" aria-labelledby=(id) {
                        h3 id=(id) { (name) }
                        (chart::stacked(id, &format!("{name}, {}", span.name().to_lowercase()), column, &bars))
                    }
                }
            }
            p class="hint" { "Counted from the audit log, in UTC; the newest bar is the current hour or day." }
        }
    }
}

/// The most frequent refusal reasons over the last 30 days.
fn refusals(stats: &Stats) -> Markup {
    let reasons = &stats.overview.top_refusal_reasons;
    html! {
        section class="card" aria-labelledby="reasons" {
            h2 id="reasons" { "Top refusal reasons" }
            @if reasons.is_empty() {
                p { "No refusals in the last 30 days." }
            } @else {
                table id="reasons-table" {
                    caption { "The most frequent refusals of the last 30 days" }
                    thead { tr { th scope="col" { "Reason" } th scope="col" { "Where" } th scope="col" { "Count" } } }
                    tbody {
                        @for reason in reasons {
                            tr {
                                th scope="row" { code { (reason.reason) } }
                                td { (kind_name(&reason.kind)) }
                                td { (reason.count) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The database, the journal queue, the signing keys and the last purge of this node, and the
/// audit log's retention: the setting, the oldest record, this node's last audit purge.
fn health(stats: &Stats, now: i64) -> Markup {
    let health = &stats.health;
    html! {
        section class="card" aria-labelledby="health" {
            h2 id="health" { "Health" }
            dl class="facts" id="health-facts" {
                dt { "Database" }
                dd {
                    @if health.database { span class="status ok" { "Answers" } }
                    @else { span class="status bad" { "Does not answer" } }
                }
                dt { "Journal queue" }
                dd { (health.journal_queue) " writes waiting" }
                @for key in &health.signing_keys {
                    dt { (key_name(key.kind)) }
                    dd { code { (key.kid) } ", " (age(key.age_seconds)) " old" }
                }
                dt { "Last purge" }
                dd {
                    @match health.last_purge_at {
                        Some(at) => { time datetime=(rfc3339(at)) { (rfc3339(at)) } " (" (age(now - at)) " ago)" }
                        None => { "Not yet since this node started" }
                    }
                }
                dt { "Audit retention" }
                dd {
                    @match health.audit_retention_days {
                        0 => { "Every record is kept (audit_retention_days = 0)" }
                        days => { (days) " days" }
                    }
                }
                dt { "Oldest audit record" }
                dd {
                    @match health.oldest_audit_at {
                        Some(at) => { time datetime=(rfc3339(at)) { (rfc3339(at)) } " (" (age(now - at)) " old)" }
                        None => { "None" }
                    }
                }
                dt { "Last audit purge" }
                dd {
                    @match (health.audit_retention_days, &health.last_audit_purge) {
                        (0, _) => { "Off" }
                        (_, None) => { "Not yet since this node started" }
                        (_, Some(purge)) => {
                            time datetime=(rfc3339(purge.at)) { (rfc3339(purge.at)) } " (" (age(now - purge.at)) " ago): "
                            (purge.removed) " records from before " (rfc3339(purge.cutoff)) " removed"
                            @if purge.other_node { ", another node was pruning" }
                        }
                    }
                }
            }
        }
    }
}

/// Who is signed in and how long the session lasts.
fn session(state: &AppState, operator: &Operator) -> Markup {
    let settings = state.settings();
    let session = &operator.session;
    html! {
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
    }
}

fn tally(bucket: &Bucket, surface: Surface) -> Tally {
    match surface {
        Surface::PartnerMint => bucket.partner_mint,
        Surface::Redemption => bucket.redemption,
        Surface::InboundWebhook => bucket.inbound_webhook,
        Surface::Launch => bucket.launch,
    }
}

fn total(buckets: &[Bucket], surface: Surface) -> Tally {
    buckets.iter().map(|b| tally(b, surface)).fold(Tally::default(), |sum, t| Tally {
        accepted: sum.accepted + t.accepted,
        refused: sum.refused + t.refused,
    })
}

/// The bar of `surface` in `bucket`, labelled as an hour or a day.
fn bar(bucket: &Bucket, surface: Surface, span: Span) -> Bar {
    let start = rfc3339(bucket.start);
    let (date, hour) = (start.get(..10).unwrap_or_default(), start.get(11..16).unwrap_or_default());
    let (axis, row) = match span {
        Span::Hours => (hour.to_owned(), format!("{date} {hour}")),
        Span::Days => (day_label(bucket.start), date.to_owned()),
    };
    let Tally { accepted, refused } = tally(bucket, surface);
    Bar { axis, row, accepted, refused, start }
}

/// "Nov 3".
fn day_label(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{} {}", t.month().to_string().get(..3).unwrap_or_default(), t.day()))
        .unwrap_or_default()
}

/// The surface an audit kind belongs to, by name; other kinds as they are written.
fn kind_name(kind: &str) -> &str {
    let surface = Surface::of_kind(kind);
    SURFACES.iter().find(|(s, ..)| Some(*s) == surface).map_or(kind, |(_, name, _)| name)
}

fn key_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SsoHmac => "SSO link key",
        KeyKind::Identity => "Identity key",
        KeyKind::Prefill => "Prefill key",
    }
}
