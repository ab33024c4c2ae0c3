//! The Prometheus recorder behind `GET /metrics`: requests by route, method and status with their
//! latencies, outcomes by kind and reason (one count per committed audit record), the
//! group-commit queue and its batches (writes and commit time), the database pool, the open
//! connections, the audit log's retention (the oldest record's age, the last audit purge, the
//! records it deleted), the TLS reloads, and the audit streams (lag in records and seconds,
//! failing, records delivered and failed deliveries).
//!
//! Owns: the process-wide recorder and the metric names. Imports nothing of the crate. Must not: put ids, addresses, secrets
//! or tokens in a label — labels are route templates, methods, statuses, kinds, reasons and
//! stream names (slugs the operator chose) only,
//! each from a closed set (a method nobody standardised is `other`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use handoff_core::model::Outcome;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const REQUESTS: &str = "handoff_http_requests_total";
const DURATION: &str = "handoff_http_request_duration_seconds";
const AUDIT_RECORDS: &str = "handoff_audit_records_total";
const QUEUE: &str = "handoff_journal_queue_depth";
const COMMIT_DURATION: &str = "handoff_journal_commit_duration_seconds";
const BATCH_WRITES: &str = "handoff_journal_batch_writes";
const CONNECTIONS: &str = "handoff_db_connections";
const OPEN_CONNECTIONS: &str = "handoff_connections_open";
const REFUSED_CONNECTIONS: &str = "handoff_connections_refused_total";
const AUDIT_OLDEST_AGE: &str = "handoff_audit_oldest_record_age_seconds";
const AUDIT_RETENTION: &str = "handoff_audit_retention_days";
const AUDIT_LAST_PURGE: &str = "handoff_audit_last_purge_timestamp_seconds";
const AUDIT_PURGED: &str = "handoff_audit_purged_records_total";
const TLS_RELOADS: &str = "handoff_tls_reloads_total";
const STREAM_LAG_RECORDS: &str = "handoff_stream_lag_records";
const STREAM_LAG_SECONDS: &str = "handoff_stream_lag_seconds";
const STREAM_DELIVERED: &str = "handoff_stream_delivered_records_total";
const STREAM_FAILURES: &str = "handoff_stream_failures_total";
const STREAM_FAILING: &str = "handoff_stream_failing";

/// Histogram buckets of request and journal-commit durations, in seconds: the SSO hop lives
/// below 10 ms.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// Histogram buckets of writes per group-commit batch (at most 512).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// How often recorded histogram samples are folded into their buckets when nobody scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder, installed by the first caller (every app of the process shares it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(COMMIT_DURATION.into()), &BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_WRITES.into()), &BATCH_BUCKETS))
                .and_then(PrometheusBuilder::install_recorder);
            installed.map_err(|err| tracing::warn!(%err, "metrics are off: cannot install the recorder")).ok()
        })
        .as_ref()
}

/// Counts one answered request. `route` is the matched route template (`/v1/sso`,
/// `/admin/v1/users/{user_id}`), or `other` for paths no route names.
pub fn request(route: String, method: &Method, status: StatusCode, started: Instant) {
    let method = method_label(method);
    ::metrics::histogram!(DURATION, "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    ::metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status.as_u16().to_string())
        .increment(1);
}

/// The method as a label: a method of RFC 9110 or `PATCH`, else `other` — never the client's
/// own spelling, so made-up methods cannot grow the label set.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Records one batch of the group commit: its writes, and how long the store took to commit it
/// (or to fail) — every write of the batch waited that long before its request could answer.
pub fn journal_batch(writes: usize, took: Duration) {
    ::metrics::histogram!(COMMIT_DURATION).record(took.as_secs_f64());
    ::metrics::histogram!(BATCH_WRITES).record(writes as f64);
}

/// The number of open client connections.
pub fn connections_open(open: u32) {
    ::metrics::gauge!(OPEN_CONNECTIONS).set(f64::from(open));
}

/// Counts one connection closed at accept, by the cap it was over.
pub fn connection_refused(cap: &'static str) {
    ::metrics::counter!(REFUSED_CONNECTIONS, "cap" => cap).increment(1);
}

/// Counts one reading of the TLS files (`sighup` or `file_change`) and whether the new pair
/// now serves (`ok`) or was refused, the previous one still serving (`failed`).
pub fn tls_reload(trigger: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "failed" };
    ::metrics::counter!(TLS_RELOADS, "trigger" => trigger, "outcome" => outcome).increment(1);
}

/// Counts one committed audit record by its kind, outcome and reason.
pub fn outcome(kind: String, outcome: Option<Outcome>, reason: String) {
    let outcome = outcome.map_or("none", Outcome::as_str);
    ::metrics::counter!(AUDIT_RECORDS, "kind" => kind, "outcome" => outcome, "reason" => reason).increment(1);
}

/// Counts audit records deleted by the retention purge.
pub fn audit_purged(records: u64) {
    ::metrics::counter!(AUDIT_PURGED).increment(records);
}

/// Marks a finished audit purge run at `at` (Unix seconds).
pub fn audit_purge_finished(at: i64) {
    ::metrics::gauge!(AUDIT_LAST_PURGE).set(at as f64);
}

/// Counts records an audit stream delivered (this node).
pub fn stream_delivered(stream: &str, records: u64) {
    ::metrics::counter!(STREAM_DELIVERED, "stream" => stream.to_owned()).increment(records);
}

/// Counts one failed delivery of an audit stream (this node).
pub fn stream_failed(stream: &str) {
    ::metrics::counter!(STREAM_FAILURES, "stream" => stream.to_owned()).increment(1);
}

/// An audit stream at scrape time (the same on every node: read from the database).
pub struct StreamGauge {
    /// The stream's name (a slug the operator chose).
    pub name: String,
    /// Records after its cursor.
    pub lag_records: u64,
    /// Seconds since the oldest of them was written.
    pub lag_seconds: i64,
    pub failing: bool,
}

/// The audit log's retention at scrape time.
pub struct AuditGauges {
    /// `audit_retention_days` (0 keeps every record).
    pub retention_days: u32,
    /// Seconds since the oldest record was written, 0 for an empty log; `None` when the database
    /// did not answer (the gauge keeps its last value).
    pub oldest_age_seconds: Option<i64>,
}

/// The exposition text, with the gauges read at scrape time set first: writes queued for the
/// group commit, the database pool's (open, idle) connections and the audit log's retention.
/// `None` when the recorder could not be installed.
pub fn render(queued: usize, (open, idle): (u32, u32), audit: &AuditGauges, streams: &[StreamGauge]) -> Option<String> {
    let handle = handle()?;
    for s in streams {
        ::metrics::gauge!(STREAM_LAG_RECORDS, "stream" => s.name.clone()).set(s.lag_records as f64);
        ::metrics::gauge!(STREAM_LAG_SECONDS, "stream" => s.name.clone()).set(s.lag_seconds as f64);
        ::metrics::gauge!(STREAM_FAILING, "stream" => s.name.clone()).set(if s.failing { 1.0 } else { 0.0 });
    }
    ::metrics::gauge!(AUDIT_RETENTION).set(f64::from(audit.retention_days));
    if let Some(age) = audit.oldest_age_seconds {
        ::metrics::gauge!(AUDIT_OLDEST_AGE).set(age as f64);
    }
    ::metrics::gauge!(QUEUE).set(queued as f64);
    ::metrics::gauge!(CONNECTIONS, "state" => "idle").set(f64::from(idle));
    ::metrics::gauge!(CONNECTIONS, "state" => "in_use").set(f64::from(open.saturating_sub(idle)));
    handle.run_upkeep();
    Some(handle.render())
}
