//! The numbers behind the overview (`GET /admin/v1/stats`), rendered from `Services::stats`;
//! the console's overview shows the same numbers.

use axum::extract::State;
use axum::Json;
use handoff_core::stats::{Bucket, Tally};
use handoff_core::token::KeyKind;
use handoff_core::wire::{
    AuditPurgeView, OutcomeCounts, RefusalReasonCount, SigningKeyAge, StatsBucket, StatsHealth, StatsView,
};

use crate::error::ApiResult;
use crate::http::extract::AdminAuth;
use crate::http::refusals::AdminRefusals;
use crate::http::state::AppState;
use crate::http::views::rfc3339;
use crate::services::Stats;

/// SSO volume per hour for the last 24 hours and per day for the last 30 days (UTC), accepted
/// and refused by surface; the most frequent refusal reasons; live sessions; and this node's
/// health. Counted from an hourly rollup of the audit log, so it answers as fast at ten million
/// records as at ten.
#[utoipa::path(get, path = "/admin/v1/stats", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "The overview's numbers.", body = StatsView), AdminRefusals))]
pub async fn stats_read(_: AdminAuth, State(state): State<AppState>) -> ApiResult<Json<StatsView>> {
    Ok(Json(view(state.stats().await?)))
}

fn view(stats: Stats) -> StatsView {
    let Stats { overview, active_sessions, health } = stats;
    StatsView {
        hourly: overview.hourly.iter().map(bucket).collect(),
        daily: overview.daily.iter().map(bucket).collect(),
        top_refusal_reasons: overview
            .top_refusal_reasons
            .into_iter()
            .map(|r| RefusalReasonCount { kind: r.kind, reason: r.reason, count: r.count })
            .collect(),
        active_sessions,
        health: StatsHealth {
            database: health.database,
            journal_queue: u64::try_from(health.journal_queue).unwrap_or(u64::MAX),
            signing_keys: health
                .signing_keys
                .into_iter()
                .map(|k| SigningKeyAge { kind: kind_name(k.kind).into(), kid: k.kid, age_seconds: k.age_seconds })
                .collect(),
            last_purge_at: health.last_purge_at.map(rfc3339),
            audit_retention_days: health.audit_retention_days,
            oldest_audit_record_at: health.oldest_audit_at.map(rfc3339),
            last_audit_purge: health.last_audit_purge.map(|p| AuditPurgeView {
                at: rfc3339(p.at),
                before: rfc3339(p.cutoff),
                removed: p.removed,
                other_node: p.other_node,
            }),
        },
    }
}

fn bucket(b: &Bucket) -> StatsBucket {
    let counts = |t: Tally| OutcomeCounts { accepted: t.accepted, refused: t.refused };
    StatsBucket {
        start: rfc3339(b.start),
        partner_mint: counts(b.partner_mint),
        redemption: counts(b.redemption),
        inbound_webhook: counts(b.inbound_webhook),
        launch: counts(b.launch),
    }
}

/// The kind's name as `GET /admin/v1/keys` spells it.
fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SsoHmac => "sso",
        KeyKind::Identity => "identity",
        KeyKind::Prefill => "prefill",
    }
}
