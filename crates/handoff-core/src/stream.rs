//! Audit event streams: a cursor per stream over the audit log (no second copy of any record),
//! delivered to a webhook or appended to a JSON-lines file by a background task.
//!
//! Owns: the stream as stored ([`AuditStream`]), its cursor's order, which records a stream
//! carries ([`Filter`]), its state, and the retry arithmetic ([`backoff`]). Must not: read the
//! store, touch files or sockets (the server's `services::streams` and `infra::streams` do).

use std::fmt;
use std::str::FromStr;

use crate::ids::StreamId;
use crate::model::{AuditRecord, Outcome};

/// Records per delivery (one page of the log, one POST or one fsync).
pub const BATCH: u32 = 500;
/// After this many failed deliveries in a row a stream is `failing` (it keeps retrying).
pub const FAILING_AFTER: u32 = 5;
/// The first retry waits this long (milliseconds); each further failure doubles it…
pub const BACKOFF_BASE_MS: i64 = 1_000;
/// …up to this.
pub const BACKOFF_CAP_MS: i64 = 60_000;
/// How long a node's lease on a stream lasts (seconds); renewed on every delivery step, so a
/// node that dies hands its streams over within this.
pub const LEASE_SECONDS: i64 = 15;
/// Longest filter entry (an audit kind), in characters.
pub const MAX_KIND_LEN: usize = 100;

/// Where a stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// HTTPS POSTs of JSON arrays, signed with the Standard Webhooks profile.
    Webhook,
    /// One JSON line per record appended to a file, fsynced per batch, rotated by size.
    Jsonl,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Webhook => "webhook",
            StreamKind::Jsonl => "jsonl",
        }
    }
}

impl FromStr for StreamKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "webhook" => Ok(StreamKind::Webhook),
            "jsonl" => Ok(StreamKind::Jsonl),
            _ => Err(format!("kind must be webhook or jsonl, not {s:?}.")),
        }
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A position in the audit log, in commit order: `(tx, id)` compared as a pair. `tx` is the
/// writing transaction's id on PostgreSQL (ids alone commit out of order across nodes) and
/// always 0 on SQLite (one writer: id order is commit order). A stream delivers the records
/// after its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub tx: i64,
    pub id: i64,
}

/// An audit record read for a stream, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub cursor: Cursor,
    pub record: AuditRecord,
}

/// What a stream carries: every record whose kind and outcome are selected (an empty list
/// selects all). A kind entry is an audit kind (`sso.redeem`) or a prefix ending in `.*`
/// (`admin.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub kinds: Vec<String>,
    pub outcomes: Vec<Outcome>,
}

impl Filter {
    /// Checks the entries: kinds 1 to [`MAX_KIND_LEN`] characters without spaces or controls,
    /// outcomes `accepted` or `refused`. Duplicates are dropped.
    pub fn parse(kinds: Vec<String>, outcomes: Vec<String>) -> Result<Self, String> {
        let mut filter = Filter::default();
        for kind in kinds {
            let printable = !kind.is_empty() && !kind.chars().any(|c| c.is_control() || c.is_whitespace());
            if !printable || kind.chars().count() > MAX_KIND_LEN {
                return Err(format!(
                    "kinds entry {kind:?} must be an audit kind (sso.redeem) or a prefix (admin.*) of at most \
                     {MAX_KIND_LEN} characters."
                ));
            }
            if !filter.kinds.contains(&kind) {
                filter.kinds.push(kind);
            }
        }
        for outcome in outcomes {
            let parsed = Outcome::parse(&outcome)
                .ok_or_else(|| format!("outcomes entry {outcome:?} must be accepted or refused."))?;
            if !filter.outcomes.contains(&parsed) {
                filter.outcomes.push(parsed);
            }
        }
        Ok(filter)
    }

    /// Whether the stream carries `record`.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        let kind = record.event.kind.as_str();
        let kind_ok = self.kinds.is_empty()
            || self.kinds.iter().any(|k| match k.strip_suffix('*') {
                Some(prefix) if prefix.ends_with('.') => kind.starts_with(prefix),
                _ => k == kind,
            });
        let outcome_ok = self.outcomes.is_empty() || record.event.outcome.is_some_and(|o| self.outcomes.contains(&o));
        kind_ok && outcome_ok
    }

    /// The records of `page` this stream carries, in order.
    pub fn select(&self, page: Vec<StreamRecord>) -> Vec<AuditRecord> {
        page.into_iter().map(|r| r.record).filter(|r| self.matches(r)).collect()
    }
}

/// A stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditStream {
    pub id: StreamId,
    /// Unique.
    pub name: String,
    pub kind: StreamKind,
    /// The webhook's endpoint (webhook streams).
    pub url: Option<String>,
    /// The file appended to (jsonl streams).
    pub path: Option<String>,
    pub filter: Filter,
    /// The webhook's signing secret (`whsec_…`), sealed with the master key (webhook streams).
    pub secret_sealed: Option<Vec<u8>>,
    pub paused: bool,
    /// Everything up to here is delivered.
    pub cursor: Cursor,
    /// Failed deliveries since the last success.
    pub failures: u32,
    /// What the last failure was (no secrets: a status, an I/O error's text).
    pub last_error: Option<String>,
    /// No delivery is tried before this (Unix milliseconds; 0: at once).
    pub next_attempt_at: i64,
    pub last_delivered_at: Option<i64>,
    /// The node delivering it, until `lease_until` (Unix seconds).
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    pub created_at: i64,
}

impl AuditStream {
    /// A stream as created at `now`: active, its cursor at the start (the store puts it after
    /// the records already committed), nothing delivered, no lease, no secret yet.
    pub fn new(
        name: String,
        kind: StreamKind,
        url: Option<String>,
        path: Option<String>,
        filter: Filter,
        now: i64,
    ) -> Self {
        AuditStream {
            id: StreamId::new(),
            name,
            kind,
            url,
            path,
            filter,
            secret_sealed: None,
            paused: false,
            cursor: Cursor::default(),
            failures: 0,
            last_error: None,
            next_attempt_at: 0,
            last_delivered_at: None,
            lease_owner: None,
            lease_until: 0,
            created_at: now,
        }
    }
}

/// What the operator sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Active,
    Paused,
    /// [`FAILING_AFTER`] or more deliveries in a row failed; it keeps retrying at the cap.
    Failing,
}

impl StreamState {
    pub fn of(stream: &AuditStream) -> Self {
        if stream.paused {
            StreamState::Paused
        } else if stream.failures >= FAILING_AFTER {
            StreamState::Failing
        } else {
            StreamState::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Active => "active",
            StreamState::Paused => "paused",
            StreamState::Failing => "failing",
        }
    }
}

/// How long to wait (milliseconds) after the `failures`-th failure in a row: 1 s doubling to
/// the 60 s cap, scaled by `jitter` in `[0, 1)` into its upper half (full wait × (0.5 + jitter/2)),
/// so streams failing together do not retry in lockstep.
pub fn backoff(failures: u32, jitter: f64) -> i64 {
    let exponent = failures.saturating_sub(1).min(16);
    let full = BACKOFF_BASE_MS.saturating_mul(1_i64 << exponent).min(BACKOFF_CAP_MS);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    // `full` is at most 60 000: the float round trip is exact enough.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let scaled = (full as f64 * (0.5 + jitter / 2.0)) as i64;
    scaled.clamp(BACKOFF_BASE_MS / 2, BACKOFF_CAP_MS)
}

/// The `webhook-id` of the batch that starts with `first`: the same on every retry and on every
/// node, so a receiver can drop a batch it has seen.
pub fn batch_id(stream: StreamId, first: &AuditRecord) -> String {
    format!("msg_{}_{}", stream.as_uuid().simple(), first.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuditEvent;

    fn record(kind: &str, outcome: Option<Outcome>) -> AuditRecord {
        AuditRecord { id: 1, event: AuditEvent { kind: kind.into(), outcome, ..AuditEvent::default() } }
    }

    #[test]
    fn backoff_doubles_from_a_second_to_the_cap_with_jitter_in_the_upper_half() {
        assert_eq!(backoff(1, 1.0), 1_000);
        assert_eq!(backoff(1, 0.0), 500);
        assert_eq!(backoff(2, 1.0), 2_000);
        assert_eq!(backoff(3, 1.0), 4_000);
        assert_eq!(backoff(6, 1.0), 32_000);
        assert_eq!(backoff(7, 1.0), 60_000);
        assert_eq!(backoff(7, 0.0), 30_000);
        assert_eq!(backoff(u32::MAX, 0.999), 59_970);
        assert_eq!(backoff(0, f64::NAN), 500);
    }

    #[test]
    fn filters_select_by_kind_prefix_and_outcome() {
        let all = Filter::default();
        assert!(all.matches(&record("sso.mint", None)));
        let f = Filter::parse(vec!["sso.redeem".into(), "admin.*".into()], vec!["refused".into()]).unwrap();
        assert!(f.matches(&record("sso.redeem", Some(Outcome::Refused))));
        assert!(f.matches(&record("admin.stream.create", Some(Outcome::Refused))));
        assert!(!f.matches(&record("sso.redeem", Some(Outcome::Accepted))));
        assert!(!f.matches(&record("sso.mint", Some(Outcome::Refused))));
        assert!(!f.matches(&record("administrator", Some(Outcome::Refused))), "a prefix ends at a dot");
        assert!(!f.matches(&record("sso.redeem", None)), "an outcome filter skips records without one");
    }

    #[test]
    fn filter_entries_are_checked() {
        assert!(Filter::parse(vec!["sso mint".into()], vec![]).is_err());
        assert!(Filter::parse(vec![String::new()], vec![]).is_err());
        assert!(Filter::parse(vec!["x".repeat(101)], vec![]).is_err());
        assert!(Filter::parse(vec![], vec!["maybe".into()]).is_err());
        let f = Filter::parse(vec!["a".into(), "a".into()], vec!["accepted".into(), "accepted".into()]).unwrap();
        assert_eq!((f.kinds.len(), f.outcomes.len()), (1, 1));
    }

    #[test]
    fn cursors_order_by_transaction_then_id() {
        assert!(Cursor { tx: 1, id: 9 } < Cursor { tx: 2, id: 3 });
        assert!(Cursor { tx: 2, id: 3 } < Cursor { tx: 2, id: 4 });
    }

    #[test]
    fn state_paused_wins_then_failing() {
        let mut s = AuditStream {
            id: StreamId::new(),
            name: "s".into(),
            kind: StreamKind::Jsonl,
            url: None,
            path: Some("/tmp/x".into()),
            filter: Filter::default(),
            secret_sealed: None,
            paused: false,
            cursor: Cursor::default(),
            failures: FAILING_AFTER - 1,
            last_error: None,
            next_attempt_at: 0,
            last_delivered_at: None,
            lease_owner: None,
            lease_until: 0,
            created_at: 0,
        };
        assert_eq!(StreamState::of(&s), StreamState::Active);
        s.failures = FAILING_AFTER;
        assert_eq!(StreamState::of(&s), StreamState::Failing);
        s.paused = true;
        assert_eq!(StreamState::of(&s), StreamState::Paused);
        assert_eq!("jsonl".parse::<StreamKind>(), Ok(StreamKind::Jsonl));
        assert!("s3".parse::<StreamKind>().is_err());
    }
}
