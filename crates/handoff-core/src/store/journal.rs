//! The single-use rules of a journal batch, written once for every backend.
//!
//! A batch is committed in one transaction in four steps: (1) the backend inserts the batch's
//! [`Claim`]s (each write's own, in write order) and reports, per claim, whether the
//! database found its key new; (2) [`settle`] turns those answers into what the batch writes;
//! (3) the backend inserts the settled sessions, then the settled audit records, then adds
//! [`Settled::counts`] to the audit rollup (`audit_counts`); (4) it commits.
//!
//! Owns: R1–R3, which writes win and what a winner writes, and the rollup's key
//! ([`hour_of`]). Must not: decide freshness. The
//! DATABASE decides it, by the primary keys of `consumed_tokens` and `webhook_events`, and that
//! is what makes single use hold across nodes; `settle` only follows its answers. Never
//! de-duplicate claims in Rust before the insert: a claim held back would never meet the key
//! that a claim from another node may already hold, and nothing else stops a second use.

use std::collections::BTreeMap;

use crate::ids::IntegrationId;
use crate::model::{AuditEvent, Session};

use super::{AuditCount, StoreError, StoreResult, Write};

/// The start of the hour that contains `at`: the rollup's `hour`. Written as SQL writes it
/// (`at - at % 3600`, truncating), so that the migration's backfill and the journal agree.
pub fn hour_of(at: i64) -> i64 {
    at - at % 3600
}

/// The single-use claim a write makes: a row the database accepts once per key, ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// A row of `consumed_tokens`, keyed by `jti`.
    Token { jti: &'a str, expires_at: i64, consumed_at: i64 },
    /// A row of `webhook_events`, keyed by `(integration, event_id)`.
    Event { integration: IntegrationId, event_id: &'a str, expires_at: i64 },
}

impl Write {
    /// The claims this write makes, in order: none for a plain audit, its `jti` for a
    /// redemption, each of its ids for a remembered event.
    pub fn claims(&self) -> Vec<Claim<'_>> {
        match self {
            Write::Audit(_) => Vec::new(),
            Write::Redeem { jti, token_expires_at, session, .. } => {
                vec![Claim::Token { jti, expires_at: *token_expires_at, consumed_at: session.created_at }]
            }
            Write::RememberEvent { integration, event_ids, expires_at, .. } => event_ids
                .iter()
                .map(|event_id| Claim::Event { integration: *integration, event_id, expires_at: *expires_at })
                .collect(),
        }
    }

    /// The session this write opens when it wins.
    pub fn session(&self) -> Option<&Session> {
        match self {
            Write::Redeem { session, .. } => Some(session),
            Write::Audit(_) | Write::RememberEvent { .. } => None,
        }
    }
}

/// What a batch writes once the database has answered its claims.
#[derive(Debug, PartialEq, Eq)]
pub struct Settled<'a> {
    /// One result per write, in write order: what [`super::Journal::commit`] returns.
    pub won: Vec<bool>,
    /// The sessions of the winning redemptions, in write order.
    pub sessions: Vec<&'a Session>,
    /// The audit records of the winning writes, in write order.
    pub audits: Vec<&'a AuditEvent>,
}

impl Settled<'_> {
    /// The settled audit records counted by rollup key (hour, kind, outcome, reason), in key
    /// order: one upsert per key, and two batches that share keys take their row locks in the
    /// same order (PostgreSQL would otherwise be free to deadlock them).
    pub fn counts(&self) -> Vec<AuditCount> {
        let mut counts: BTreeMap<(i64, &str, _, &str), u64> = BTreeMap::new();
        for audit in &self.audits {
            let key = (hour_of(audit.at), audit.kind.as_str(), audit.outcome, audit.reason.as_str());
            *counts.entry(key).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((hour, kind, outcome, reason), count)| AuditCount {
                hour,
                kind: kind.to_owned(),
                outcome,
                reason: reason.to_owned(),
                count,
            })
            .collect()
    }
}

/// Given, per claim of `writes` (in write order), whether the database found it new (`fresh`),
/// what the batch writes:
/// - (R1) a redemption wins iff its `jti` row is new, and only then are its session and audit
///   record written;
/// - (R2) a remembered event wins iff each of its `(integration, event_id)` rows is new, and
///   only then is its audit record written (a row it did insert stays: the event is refused,
///   and so is any later copy of it);
/// - (R3) a plain audit always wins. Of duplicates, the first in batch order wins, because that
///   is the one whose insert the database found new.
///
/// Fails when `fresh` does not hold exactly one answer per claim (a backend's bug: the batch
/// must then not commit).
pub fn settle<'a>(writes: &'a [Write], fresh: &[bool]) -> StoreResult<Settled<'a>> {
    let mut answers = fresh.iter().copied();
    let mut settled = Settled {
        won: Vec::with_capacity(writes.len()),
        sessions: Vec::new(),
        audits: Vec::with_capacity(writes.len()),
    };
    for write in writes {
        let mut won = true;
        for _ in write.claims() {
            won &= answers.next().ok_or_else(|| miscounted(writes, fresh))?;
        }
        settled.won.push(won);
        if won {
            settled.sessions.extend(write.session());
            settled.audits.push(write.audit());
        }
    }
    match answers.next() {
        Some(_) => Err(miscounted(writes, fresh)),
        None => Ok(settled),
    }
}

fn miscounted(writes: &[Write], fresh: &[bool]) -> StoreError {
    let claims: usize = writes.iter().map(|w| w.claims().len()).sum();
    StoreError::Backend(format!("the database answered {} of a batch's {claims} claims", fresh.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrganizationId, SessionId, UserId};
    use crate::model::Outcome;
    use crate::secret::SecretDigest;

    fn audit(request_id: &str) -> AuditEvent {
        AuditEvent { kind: "test".into(), request_id: Some(request_id.into()), ..AuditEvent::default() }
    }

    fn redeem(jti: &str, request_id: &str) -> Write {
        let session = Session {
            id: SessionId::new(),
            secret_digest: SecretDigest::of(request_id),
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            partner_id: None,
            embed: false,
            created_at: 1_000,
            last_seen_at: 1_000,
            expires_at: 5_000,
        };
        Write::Redeem { jti: jti.into(), token_expires_at: 1_060, session, audit: audit(request_id) }
    }

    fn remember(integration: IntegrationId, event_id: &str, request_id: &str) -> Write {
        Write::RememberEvent {
            integration,
            event_ids: vec![event_id.into()],
            expires_at: 1_300,
            audit: audit(request_id),
        }
    }

    fn request_ids(settled: &Settled<'_>) -> Vec<String> {
        settled.audits.iter().map(|a| a.request_id.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn each_write_claims_its_key_and_a_plain_audit_none() {
        let integration = IntegrationId::new();
        assert_eq!(Write::Audit(audit("a")).claims(), []);
        assert_eq!(
            redeem("jti-1", "r").claims(),
            [Claim::Token { jti: "jti-1", expires_at: 1_060, consumed_at: 1_000 }]
        );
        assert_eq!(
            remember(integration, "event-1", "e").claims(),
            [Claim::Event { integration, event_id: "event-1", expires_at: 1_300 }]
        );
    }

    #[test]
    fn an_event_with_two_ids_claims_both_and_wins_only_when_both_are_fresh() {
        let integration = IntegrationId::new();
        let two = |request_id: &str| Write::RememberEvent {
            integration,
            event_ids: vec!["event-1".into(), "webhook-id:msg-1".into()],
            expires_at: 1_300,
            audit: audit(request_id),
        };
        assert_eq!(two("e").claims().len(), 2);
        let writes = vec![two("both"), two("first"), two("second"), remember(integration, "event-2", "after")];
        let settled = settle(&writes, &[true, true, true, false, false, true, true]).unwrap();
        assert_eq!(settled.won, [true, false, false, true]);
        assert_eq!(request_ids(&settled), ["both", "after"]);
        assert!(settle(&writes, &[true; 6]).is_err(), "one answer short");
    }

    #[test]
    fn plain_audits_always_win_and_need_no_answer() {
        let writes = vec![Write::Audit(audit("a")), Write::Audit(audit("b"))];
        let settled = settle(&writes, &[]).unwrap();
        assert_eq!(settled.won, [true, true]);
        assert!(settled.sessions.is_empty());
        assert_eq!(request_ids(&settled), ["a", "b"]);
    }

    #[test]
    fn a_redemption_writes_its_session_and_audit_only_when_its_claim_is_fresh() {
        let writes = vec![redeem("jti-1", "won"), redeem("jti-2", "lost")];
        let settled = settle(&writes, &[true, false]).unwrap();
        assert_eq!(settled.won, [true, false]);
        assert_eq!(settled.sessions, [writes[0].session().unwrap()]);
        assert_eq!(request_ids(&settled), ["won"]);
    }

    #[test]
    fn a_remembered_event_writes_its_audit_only_when_its_claim_is_fresh_and_opens_no_session() {
        let integration = IntegrationId::new();
        let writes = vec![remember(integration, "event-1", "lost"), remember(integration, "event-2", "won")];
        let settled = settle(&writes, &[false, true]).unwrap();
        assert_eq!(settled.won, [false, true]);
        assert!(settled.sessions.is_empty());
        assert_eq!(request_ids(&settled), ["won"]);
    }

    #[test]
    fn answers_go_to_the_claims_in_write_order_and_audits_stay_in_write_order() {
        let integration = IntegrationId::new();
        let writes = vec![
            redeem("jti-1", "redeem-won"),
            Write::Audit(audit("plain")),
            remember(integration, "event-1", "event-lost"),
            redeem("jti-2", "redeem-lost"),
            remember(integration, "event-2", "event-won"),
            redeem("jti-3", "redeem-won-too"),
        ];
        let settled = settle(&writes, &[true, false, false, true, true]).unwrap();
        assert_eq!(settled.won, [true, true, false, false, true, true]);
        assert_eq!(settled.sessions, [writes[0].session().unwrap(), writes[5].session().unwrap()]);
        assert_eq!(request_ids(&settled), ["redeem-won", "plain", "event-won", "redeem-won-too"]);
    }

    /// Duplicates are the database's to refuse: settle grants exactly what it is told, and never
    /// second-guesses it by comparing keys itself.
    #[test]
    fn settle_follows_the_database_even_for_claims_of_one_key() {
        let writes = vec![redeem("jti-1", "first"), redeem("jti-1", "second")];
        assert_eq!(settle(&writes, &[true, false]).unwrap().won, [true, false]);
        assert_eq!(settle(&writes, &[false, true]).unwrap().won, [false, true]);
        assert_eq!(settle(&writes, &[true, true]).unwrap().won, [true, true]);
    }

    #[test]
    fn the_rollup_counts_only_the_winners_by_hour_kind_outcome_and_reason() {
        let at = |request_id: &str, at: i64, reason: &str| {
            let mut event = audit(request_id);
            event.at = at;
            event.reason = reason.into();
            event
        };
        let mut lost = redeem("jti-1", "lost");
        *lost.audit_mut() = at("lost", 7_200, "redeemed");
        let writes = vec![
            Write::Audit(at("a", 7_199, "x")),
            Write::Audit(at("b", 3_600, "x")),
            Write::Audit(at("c", 7_200, "x")),
            Write::Audit(at("d", 7_201, "y")),
            Write::Audit(AuditEvent { outcome: Some(Outcome::Refused), ..at("e", 7_202, "x") }),
            lost,
        ];
        let settled = settle(&writes, &[false]).unwrap();
        let count = |hour, outcome, reason: &str, count| AuditCount {
            hour,
            kind: "test".into(),
            outcome,
            reason: reason.into(),
            count,
        };
        assert_eq!(
            settled.counts(),
            [
                count(3_600, None, "x", 2),
                count(7_200, None, "x", 1),
                count(7_200, None, "y", 1),
                count(7_200, Some(Outcome::Refused), "x", 1),
            ]
        );
        assert_eq!((hour_of(0), hour_of(3_599), hour_of(3_600)), (0, 0, 3_600));
    }

    #[test]
    fn too_few_or_too_many_answers_fail_the_batch() {
        let writes = vec![Write::Audit(audit("a")), redeem("jti-1", "r"), redeem("jti-2", "s")];
        for fresh in [&[true][..], &[true, true, true], &[]] {
            let error = settle(&writes, fresh).unwrap_err().to_string();
            assert!(error.contains(&format!("answered {} of a batch's 2 claims", fresh.len())), "{error}");
        }
    }
}
