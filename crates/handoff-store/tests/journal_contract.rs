//! The journal's single-use contract (`handoff_core::store::Write`), on both write paths
//! `handoff_store::connect` picks: the rusqlite writer thread (a SQLite file) and the sqlx batch
//! path (PostgreSQL). There is no third: an in-memory SQLite database is refused by `connect`
//! (every pool connection would open a database of its own).
//!
//! The contract: of all the claims ever made of one `jti` (`Write::Redeem`) or one
//! `(integration, eventId)` (`Write::RememberEvent`, which may claim several ids and then wins only
//! when all are new), exactly one wins (`true`), whether the
//! others race it from other tasks, other commits, other store instances (nodes) or sit in the
//! same batch after it; a loser (`false`) writes nothing: no session and no audit record (the
//! server audits the refusal with a write of its own). Plain audits always win. Results come
//! back in write order, and a failed batch commits nothing. The hourly rollup `audit_counts` is
//! the audit log grouped by hour, kind, outcome and reason, exactly, after every case: a loser is
//! counted nowhere, and a failed batch counts nothing.
//!
//! PostgreSQL runs as a throwaway cluster (`handoff_testkit::postgres`); without its binaries the
//! PostgreSQL variants print SKIPPED, and under `CI` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use handoff_core::ids::{IntegrationId, OrganizationId, SessionId, UserId};
use handoff_core::model::{
    AuditEvent, AuditFilter, InboundIntegration, Organization, Outcome, SealedSecrets, Session, UnknownUserPolicy,
    User, UserStatus,
};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{AuditCount, Store, Write};
use handoff_store::PoolSettings;
use handoff_testkit::postgres;
use sqlx::Row as _;
use tokio::sync::Barrier;

/// How many committers race for one claim.
const RACERS: usize = 8;
/// How many claims they race for, one after the other.
const ROUNDS: usize = 5;
const NOW: i64 = 1_700_000_000;

/// Generates one test per write path for every contract case.
macro_rules! journal_tests {
    ($( $(#[$attr:meta])* async fn $name:ident($db:ident: Db) $body:block )*) => {$(
        mod $name {
            use super::*;

            async fn case($db: Db) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_file() {
                case(Db::sqlite_file()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if postgres::available() {
                    let server = postgres::Cluster::start();
                    case(Db::postgres(&server)).await
                }
            }
        }
    )*};
}

/// A database and how to open stores on it.
struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    fn sqlite_file() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("handoff.db").display());
        Db { url, _dir: Some(dir) }
    }

    fn postgres(server: &postgres::Cluster) -> Db {
        Db { url: server.url.clone(), _dir: None }
    }

    /// `nodes` stores on the database, as that many nodes would open it, with an organization, a
    /// user and two integrations to write for.
    async fn open(&self, nodes: usize) -> (Vec<Arc<dyn Store>>, Fixture) {
        let first = handoff_store::connect(&self.url, &PoolSettings::default()).await.unwrap();
        let fixture = Fixture::create(first.as_ref()).await;
        let mut stores = vec![first];
        for _ in 1..nodes {
            stores.push(handoff_store::connect(&self.url, &PoolSettings::default()).await.unwrap());
        }
        (stores, fixture)
    }
}

struct Fixture {
    organization: OrganizationId,
    user: UserId,
    integrations: [IntegrationId; 2],
}

impl Fixture {
    async fn create(store: &dyn Store) -> Fixture {
        let organization = OrganizationId::new();
        store
            .create_organization(&Organization {
                id: organization,
                name: "Clinic".into(),
                org_numbers: vec!["559900-0001".into()],
                credential: Credential::new(SecretDigest::of("organization secret")),
                created_at: NOW,
            })
            .await
            .unwrap();
        let user = UserId::new();
        store
            .create_user(&User {
                id: user,
                organization_id: organization,
                email: "ada@example.com".into(),
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                status: UserStatus::Active,
                status_set_by: None,
                created_at: NOW,
            })
            .await
            .unwrap();
        let mut integrations = [IntegrationId::new(), IntegrationId::new()];
        for (i, id) in integrations.iter_mut().enumerate() {
            store
                .create_integration(&InboundIntegration {
                    id: *id,
                    slug: format!("portal-{i}"),
                    name: format!("Portal {i}"),
                    secrets: SealedSecrets { current: vec![7; 48], previous: None },
                    signature_profile: Default::default(),
                    tolerance_seconds: 300,
                    event_type: "sso".into(),
                    unknown_user: UnknownUserPolicy::Reject,
                    register_url: None,
                    landing_path: "/".into(),
                    sandbox: false,
                    created_at: NOW,
                })
                .await
                .unwrap();
        }
        Fixture { organization, user, integrations }
    }

    fn audit(&self, kind: &str, request_id: &str) -> AuditEvent {
        AuditEvent {
            at: NOW,
            kind: kind.into(),
            outcome: Some(Outcome::Accepted),
            reason: "accepted".into(),
            partner_id: None,
            organization_id: Some(self.organization.to_string()),
            user_id: Some(self.user.to_string()),
            client_addr: Some("127.0.0.1".into()),
            request_id: Some(request_id.into()),
            detail: None,
        }
    }

    /// A redemption of `jti` opening a session of its own; its audit's request id is `request_id`.
    fn redeem(&self, jti: &str, request_id: &str) -> (Write, SessionId) {
        let id = SessionId::new();
        let session = Session {
            id,
            secret_digest: SecretDigest::of(request_id),
            user_id: self.user,
            organization_id: self.organization,
            partner_id: None,
            embed: false,
            created_at: NOW,
            last_seen_at: NOW,
            expires_at: NOW + 3600,
        };
        let write = Write::Redeem {
            jti: jti.into(),
            token_expires_at: NOW + 60,
            session,
            audit: self.audit("sso.redeem", request_id),
        };
        (write, id)
    }

    fn remember(&self, integration: usize, event_id: &str, request_id: &str) -> Write {
        Write::RememberEvent {
            integration: self.integrations[integration],
            event_ids: vec![event_id.into()],
            expires_at: NOW + 300,
            audit: self.audit("inbound.sso", request_id),
        }
    }
}

/// The request ids of the audit records of `kind`, oldest first.
async fn audited(store: &dyn Store, kind: &str) -> Vec<String> {
    let filter = AuditFilter { kind: Some(kind.into()), limit: 1000, ..AuditFilter::default() };
    let mut records = store.audit(&filter).await.unwrap();
    records.reverse();
    records.into_iter().map(|r| r.event.request_id.unwrap_or_default()).collect()
}

/// Checks that the rollup is the audit log grouped by its key, as the database itself groups it.
async fn assert_rollup_is_the_log(db: &Db, store: &dyn Store) {
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let grouped: Vec<AuditCount> = sqlx::query(
        "SELECT at - at % 3600 AS hour, kind, COALESCE(outcome, '') AS outcome, reason, COUNT(*) AS count \
         FROM audit_log GROUP BY at - at % 3600, kind, COALESCE(outcome, ''), reason ORDER BY 1, 2, 3, 4",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|row| AuditCount {
        hour: row.get("hour"),
        kind: row.get("kind"),
        outcome: Outcome::parse(row.get("outcome")),
        reason: row.get("reason"),
        count: u64::try_from(row.get::<i64, _>("count")).unwrap(),
    })
    .collect();
    pool.close().await;
    assert_eq!(store.audit_counts(i64::MIN, i64::MAX, 3600).await.unwrap(), grouped);
}

/// Commits each batch from its own task, on the stores in turn, all released at once; returns
/// each batch's results.
async fn race(stores: &[Arc<dyn Store>], batches: Vec<Vec<Write>>) -> Vec<Vec<bool>> {
    let start = Arc::new(Barrier::new(batches.len()));
    let tasks: Vec<_> = batches
        .into_iter()
        .enumerate()
        .map(|(i, batch)| {
            let (store, start) = (stores[i % stores.len()].clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.commit(batch).await.unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// The one index in `results` that won.
fn only_winner(results: &[Vec<bool>]) -> usize {
    assert!(results.iter().all(|r| r.len() == 1), "one result per write: {results:?}");
    let winners: Vec<usize> = (0..results.len()).filter(|&i| results[i][0]).collect();
    assert_eq!(winners.len(), 1, "exactly one winner, not {winners:?}");
    winners[0]
}

journal_tests! {
    async fn racing_redemptions_of_one_jti_have_one_winner(db: Db) {
        let (stores, f) = db.open(RACERS).await;
        let mut expected_audits = Vec::new();
        for round in 0..ROUNDS {
            let jti = format!("jti-{round}");
            let (batches, sessions): (Vec<_>, Vec<_>) = (0..RACERS)
                .map(|racer| {
                    let (write, session) = f.redeem(&jti, &format!("redeem-{round}-{racer}"));
                    (vec![write], session)
                })
                .unzip();
            let winner = only_winner(&race(&stores, batches).await);
            expected_audits.push(format!("redeem-{round}-{winner}"));

            // Only the winner opened its session (seen from every node).
            for store in &stores {
                for (racer, session) in sessions.iter().enumerate() {
                    let found = store.session(*session).await.unwrap();
                    assert_eq!(found.is_some(), racer == winner, "round {round}, racer {racer}'s session");
                }
            }
            // A later claim, on any node, still loses.
            let (late, late_session) = f.redeem(&jti, "late");
            assert_eq!(stores[round % stores.len()].commit(vec![late]).await.unwrap(), vec![false]);
            assert!(stores[0].session(late_session).await.unwrap().is_none());
        }
        // One audit record per jti, the winner's; none for a loser.
        assert_eq!(audited(stores[0].as_ref(), "sso.redeem").await, expected_audits);
        assert_rollup_is_the_log(&db, stores[0].as_ref()).await;
    }

    async fn racing_deliveries_of_one_event_id_have_one_winner(db: Db) {
        let (stores, f) = db.open(RACERS).await;
        let mut expected_audits = Vec::new();
        for round in 0..ROUNDS {
            let event_id = format!("event-{round}");
            let batches =
                (0..RACERS).map(|racer| vec![f.remember(0, &event_id, &format!("event-{round}-{racer}"))]).collect();
            let winner = only_winner(&race(&stores, batches).await);
            expected_audits.push(format!("event-{round}-{winner}"));

            // The event is remembered once: a later delivery, on any node, still loses.
            let late = f.remember(0, &event_id, "late");
            assert_eq!(stores[round % stores.len()].commit(vec![late]).await.unwrap(), vec![false]);
        }
        assert_eq!(audited(stores[0].as_ref(), "inbound.sso").await, expected_audits);
        assert_rollup_is_the_log(&db, stores[0].as_ref()).await;
    }

    async fn racing_batches_claiming_the_same_keys_in_opposite_orders_both_commit(db: Db) {
        // On PostgreSQL each claim waits for the transaction that holds its key: batches that took
        // the same keys in opposite orders would wait for each other in a cycle (a deadlock, and
        // a failed batch) unless every batch inserts its claims in one order.
        let (stores, f) = db.open(2).await;
        for round in 0..ROUNDS * 4 {
            let (a, b) = (format!("jti-{round}-a"), format!("jti-{round}-b"));
            let (e, g) = (format!("event-{round}-e"), format!("event-{round}-g"));
            let batch = |first: &str, second: &str, event_first: &str, event_second: &str, who: &str| {
                vec![
                    f.redeem(first, &format!("{who}-1")).0,
                    f.redeem(second, &format!("{who}-2")).0,
                    f.remember(0, event_first, &format!("{who}-3")),
                    f.remember(0, event_second, &format!("{who}-4")),
                ]
            };
            let batches = vec![batch(&a, &b, &e, &g, "forth"), batch(&b, &a, &g, &e, "back")];
            let results = race(&stores, batches).await;
            // Each key was won once, by one of the two batches.
            let won = |batch: usize, write: usize| results[batch][write];
            assert!(won(0, 0) != won(1, 1) && won(0, 1) != won(1, 0), "round {round}: {results:?}");
            assert!(won(0, 2) != won(1, 3) && won(0, 3) != won(1, 2), "round {round}: {results:?}");
        }
        assert_rollup_is_the_log(&db, stores[0].as_ref()).await;
    }

    async fn a_batch_of_winners_and_losers_writes_only_the_winners_in_order(db: Db) {
        let (stores, f) = db.open(1).await;
        let store = stores[0].as_ref();
        let (spent, _) = f.redeem("jti-spent", "earlier-redeem");
        let seen = f.remember(0, "event-seen", "earlier-event");
        assert_eq!(store.commit(vec![spent, seen]).await.unwrap(), vec![true, true]);

        let (first, first_session) = f.redeem("jti-a", "a-first");
        let (again, again_session) = f.redeem("jti-a", "a-again");
        let (respent, respent_session) = f.redeem("jti-spent", "spent-again");
        let (fresh, fresh_session) = f.redeem("jti-b", "b");
        let batch = vec![
            first,
            f.remember(0, "event-1", "event-1"),
            Write::Audit(f.audit("sso.redeem", "plain-audit")),
            again,
            f.remember(0, "event-1", "event-1-again"),
            respent,
            f.remember(0, "event-seen", "seen-again"),
            // The same event id from another integration is another event.
            f.remember(1, "event-1", "event-1-elsewhere"),
            fresh,
        ];
        let results = store.commit(batch).await.unwrap();
        assert_eq!(results, vec![true, true, true, false, false, false, false, true, true]);

        for (session, opened) in
            [(first_session, true), (again_session, false), (respent_session, false), (fresh_session, true)]
        {
            assert_eq!(store.session(session).await.unwrap().is_some(), opened, "session {session}");
        }
        assert_eq!(audited(store, "sso.redeem").await, ["earlier-redeem", "a-first", "plain-audit", "b"]);
        assert_eq!(audited(store, "inbound.sso").await, ["earlier-event", "event-1", "event-1-elsewhere"]);
        assert_rollup_is_the_log(&db, store).await;
    }

    async fn an_event_with_two_ids_wins_only_when_both_are_new(db: Db) {
        let (stores, f) = db.open(2).await;
        let two = |event_id: &str, webhook_id: &str, request_id: &str| {
            let mut write = f.remember(0, event_id, request_id);
            if let Write::RememberEvent { event_ids, .. } = &mut write {
                event_ids.push(format!("webhook-id:{webhook_id}"));
            }
            write
        };
        let first = two("event-1", "msg-1", "first");
        assert_eq!(stores[0].commit(vec![first]).await.unwrap(), vec![true]);
        // On the other node: the same webhook-id with a new eventId, the same eventId with a new
        // webhook-id, and (in the same batch) a pair whose ids are both new, twice.
        let batch = vec![
            two("event-2", "msg-1", "same-webhook-id"),
            two("event-1", "msg-2", "same-event-id"),
            two("event-3", "msg-3", "both-new"),
            two("event-3", "msg-3", "both-new-again"),
        ];
        assert_eq!(stores[1].commit(batch).await.unwrap(), vec![false, false, true, false]);
        // A loser's fresh id stays claimed: its event is refused, and so is a later copy of it.
        let late = two("event-2", "msg-9", "late-copy");
        assert_eq!(stores[0].commit(vec![late]).await.unwrap(), vec![false]);
        assert_eq!(audited(stores[0].as_ref(), "inbound.sso").await, ["first", "both-new"]);
        assert_rollup_is_the_log(&db, stores[0].as_ref()).await;
    }

    async fn a_failed_batch_commits_nothing(db: Db) {
        let (stores, f) = db.open(1).await;
        let store = stores[0].as_ref();
        let (claim, claim_session) = f.redeem("jti-a", "a");
        // A session of a user that does not exist breaks the batch (a foreign key).
        let (Write::Redeem { jti, token_expires_at, mut session, audit }, broken_session) = f.redeem("jti-b", "b")
        else {
            unreachable!()
        };
        session.user_id = UserId::new();
        let broken = Write::Redeem { jti, token_expires_at, session, audit };
        let batch = vec![
            Write::Audit(f.audit("sso.redeem", "plain-audit")),
            f.remember(0, "event-1", "event-1"),
            claim,
            broken,
        ];
        assert!(store.commit(batch).await.is_err());

        assert!(store.session(claim_session).await.unwrap().is_none());
        assert!(store.session(broken_session).await.unwrap().is_none());
        assert!(audited(store, "sso.redeem").await.is_empty());
        assert!(audited(store, "inbound.sso").await.is_empty());
        // Nothing was claimed: the same claims win now.
        let (claim, claim_session) = f.redeem("jti-a", "a-retry");
        let results = store.commit(vec![f.remember(0, "event-1", "event-1-retry"), claim]).await.unwrap();
        assert_eq!(results, vec![true, true]);
        assert!(store.session(claim_session).await.unwrap().is_some());
        assert_rollup_is_the_log(&db, store).await;
    }

    async fn the_migration_rolls_up_the_log_it_finds(db: Db) {
        // The schema as it was before the rollup, with a log written then.
        let mut before = if db.url.starts_with("sqlite:") {
            sqlx::migrate!("./migrations/sqlite")
        } else {
            sqlx::migrate!("./migrations/postgres")
        };
        before.migrations = before.migrations.iter().filter(|m| m.version < 7).cloned().collect::<Vec<_>>().into();
        let url = if db.url.starts_with("sqlite:") { format!("{}?mode=rwc", db.url) } else { db.url.clone() };
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        before.run(&pool).await.unwrap();
        for (at, kind, outcome, reason) in [
            (NOW, "sso.mint", Some("accepted"), "minted"),
            (NOW + 1, "sso.mint", Some("accepted"), "minted"),
            (NOW + 3_600, "sso.mint", Some("refused"), "unauthorized"),
            (NOW, "admin.request", None, "unauthorized"),
        ] {
            sqlx::query("INSERT INTO audit_log (at, kind, outcome, reason) VALUES ($1, $2, $3, $4)")
                .bind(at)
                .bind(kind)
                .bind(outcome)
                .bind(reason)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;

        let (stores, f) = db.open(1).await;
        let store = stores[0].as_ref();
        assert_eq!(store.audit_counts(i64::MIN, i64::MAX, 3600).await.unwrap().iter().map(|c| c.count).sum::<u64>(), 4);
        assert_rollup_is_the_log(&db, store).await;
        // The journal counts on from there.
        store.commit(vec![Write::Audit(f.audit("sso.mint", "after"))]).await.unwrap();
        assert_rollup_is_the_log(&db, store).await;
    }

    async fn racing_batches_roll_up_exactly_what_the_log_holds(db: Db) {
        let (stores, f) = db.open(RACERS).await;
        for round in 0..ROUNDS {
            let batches = (0..RACERS)
                .map(|racer| {
                    let (redeem, _) = f.redeem(&format!("jti-{round}"), &format!("redeem-{round}-{racer}"));
                    let event = f.remember(round % 2, &format!("event-{round}"), &format!("event-{round}-{racer}"));
                    // Plain audits over several hours, outcomes and reasons, many batches sharing keys.
                    let mut mint = f.audit("sso.mint", &format!("mint-{round}-{racer}"));
                    mint.at = NOW + i64::try_from(racer).unwrap() * 1_800;
                    if racer % 3 == 0 {
                        mint.outcome = Some(Outcome::Refused);
                        mint.reason = format!("reason-{}", racer % 2);
                    }
                    let bare = AuditEvent { outcome: None, ..f.audit("admin.request", &format!("bare-{round}")) };
                    vec![Write::Audit(mint.clone()), redeem, event, Write::Audit(bare), Write::Audit(mint)]
                })
                .collect();
            race(&stores, batches).await;
        }
        assert_rollup_is_the_log(&db, stores[0].as_ref()).await;
        let counts = stores[0].audit_counts(i64::MIN, i64::MAX, 3600).await.unwrap();
        let total = |kind: &str| counts.iter().filter(|c| c.kind == kind).map(|c| c.count).sum::<u64>();
        let rounds = u64::try_from(ROUNDS).unwrap();
        let racers = u64::try_from(RACERS).unwrap();
        assert_eq!(total("sso.redeem"), rounds, "one winner per jti; the losers are counted nowhere");
        assert_eq!(total("inbound.sso"), rounds, "one winner per event id");
        assert_eq!(total("sso.mint"), 2 * rounds * racers);
        assert_eq!(total("admin.request"), rounds * racers);
        // Only the window asked for: the hours starting in since..until.
        let hour = NOW - NOW % 3600;
        let first_hour = stores[0].audit_counts(hour, hour + 3600, 3600).await.unwrap();
        assert!(!first_hour.is_empty() && first_hour.iter().all(|c| c.hour == hour), "{first_hour:?}");
        // Summed per day by the database: the same records, one row per day and key.
        let day = NOW - NOW % 86_400;
        let daily = stores[0].audit_counts(i64::MIN, i64::MAX, 86_400).await.unwrap();
        let mut by_key = std::collections::BTreeMap::new();
        for c in &counts {
            *by_key.entry((c.hour - c.hour % 86_400, c.kind.clone(), c.outcome, c.reason.clone())).or_insert(0) += c.count;
        }
        let summed: Vec<AuditCount> = by_key
            .into_iter()
            .map(|((hour, kind, outcome, reason), count)| AuditCount { hour, kind, outcome, reason, count })
            .collect();
        assert_eq!(daily, summed);
        assert!(daily.iter().all(|c| c.hour == day || c.hour == day + 86_400), "{daily:?}");
    }
}

/// An in-memory SQLite database would be one per pooled connection (sqlx opens each anew) and
/// the journal would write to a stray file: it is refused with a clear message instead.
#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused() {
    for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite://handoff.db?mode=memory"] {
        let error = handoff_store::connect(url, &PoolSettings::default()).await.err().map(|e| e.to_string());
        assert!(error.as_deref().is_some_and(|e| e.contains("in-memory SQLite")), "{url}: {error:?}");
    }
}
