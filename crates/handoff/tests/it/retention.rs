//! Audit retention (`audit_retention_days`): the background purge deletes exactly the audit
//! records older than the retention, in batches, and nothing else — sessions, single-use claims,
//! remembered event ids and the overview's rollup stay; the oldest record and the last purge show
//! on `/admin/v1/stats`, the console's overview and `/metrics`; 0 keeps everything. On
//! PostgreSQL two nodes prune one database at once safely, and a node that finds the prune lock
//! taken leaves the work to its holder. The clock is the test's: records are spread over days by
//! moving it, and the purge the background task runs every 10 minutes is run at once.

use handoff_core::model::AuditEvent;
use handoff_core::store::Write;
use handoff_webhook::SignatureProfile;

use crate::harness::sign_one;
use handoff_core::Clock;
use handoff_server::PURGE_BATCH;
use handoff_testkit::postgres;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::console::signed_in;
use crate::harness::TestServer;
use crate::stats::portal;

pub const DAY: i64 = 86_400;
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).unwrap().format(&Rfc3339).unwrap()
}

/// A record's `at` in Unix seconds.
pub fn at(record: &Value) -> i64 {
    OffsetDateTime::parse(record["at"].as_str().unwrap(), &Rfc3339).unwrap().unix_timestamp()
}

/// Every audit record, newest first, read through the admin API page by page.
pub async fn all_records(server: &TestServer) -> Vec<Value> {
    let mut records = Vec::new();
    let mut query = "limit=1000".to_owned();
    loop {
        let page = server.admin_get(&format!("/audit?{query}")).await;
        records.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1000&cursor={cursor}"),
            None => return records,
        }
    }
}

/// Appends `count` mint records at `at` through the journal on a second connection to the
/// server's database, as a busy installation would have written them (without `count` requests);
/// `detail` gives each its detail.
pub async fn bulk(server: &TestServer, count: usize, at: i64, detail: impl Fn(usize) -> String) {
    let store = handoff_store::connect(&server.database_url, &Default::default()).await.unwrap();
    let indexes: Vec<usize> = (0..count).collect();
    for chunk in indexes.chunks(500) {
        let writes = chunk
            .iter()
            .map(|&i| {
                let event = AuditEvent {
                    kind: "sso.mint".into(),
                    partner_id: Some("partner-bulk".into()),
                    client_addr: Some("192.0.2.7".into()),
                    detail: Some(detail(i)),
                    ..AuditEvent::default()
                };
                Write::Audit(event.accepted(at, "minted"))
            })
            .collect();
        store.commit(writes).await.unwrap();
    }
}

/// POSTs the inbound event `event_id` for ada@example.com, signed at the server's time.
async fn send_event(
    server: &TestServer,
    endpoint: &str,
    secret: &str,
    profile: SignatureProfile,
    event_id: &str,
) -> u16 {
    let body = serde_json::to_vec(&json!({
        "eventId": event_id,
        "eventType": "Vinst_SSO",
        "eventTimestamp": rfc3339(server.clock.unix()),
        "data": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "orgNo": "123456789"}
    }))
    .unwrap();
    let timestamp = server.clock.unix().to_string();
    let response = server
        .http
        .post(endpoint)
        .header("content-type", "application/json")
        .header("Vinst-Timestamp", &timestamp)
        .header("Vinst-Signature", sign_one(profile, secret, &timestamp, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// Partner mints accepted over the overview's 30 days.
fn mints_in_30_days(stats: &Value) -> u64 {
    stats["daily"].as_array().unwrap().iter().map(|day| day["partner_mint"]["accepted"].as_u64().unwrap()).sum()
}

/// The value of the sample `name` (without labels) in a Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(server: &TestServer) -> String {
    server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap()
}

/// The console overview's health card, as text.
async fn health_card(server: &TestServer) -> String {
    let cookie = signed_in(server).await;
    let html = server.http.get(format!("{}/admin", server.url)).header("cookie", &cookie).send().await.unwrap();
    let html = html.text().await.unwrap();
    let start = html.find("id=\"health-facts\"").unwrap();
    let card = &html[start..start + html[start..].find("</dl>").unwrap()];
    let mut text = String::new();
    for (i, part) in card.split('<').enumerate() {
        text.push_str(if i == 0 { "" } else { part.split_once('>').map_or("", |(_, t)| t) });
    }
    text
}

backend_tests! {
    #[tokio::test]
    async fn the_purge_deletes_exactly_the_records_older_than_the_retention_in_batches_and_nothing_else() {
        let server = TestServer::with(|c| c.audit_retention_days = Some(10)).await;
        let t0 = server.clock.unix();
        let fx = server.fixture().await;
        let first = server.mint(&fx, "/dashboard/first").await;
        server.sign_in(&first).await;
        // More old records than two batches.
        bulk(&server, 2 * PURGE_BATCH as usize + 500, t0, |i| format!("bulk {i}")).await;
        server.clock.advance(5 * DAY);
        for i in 0..3 {
            server.mint(&fx, &format!("/dashboard/{i}")).await;
        }
        server.clock.advance(7 * DAY);
        let now = t0 + 12 * DAY;
        let cutoff = now - 10 * DAY;
        // Today: a session, its redeemed link and a remembered inbound event id.
        let (endpoint, secret, profile) = portal(&server).await;
        let event_id = uuid::Uuid::new_v4().to_string();
        assert_eq!(send_event(&server, &endpoint, &secret, profile, &event_id).await, 200);
        let link = server.mint(&fx, "/dashboard/today").await;
        let cookie = server.sign_in(&link).await;

        let before = all_records(&server).await;
        let (old, kept): (Vec<Value>, Vec<Value>) = before.iter().cloned().partition(|r| at(r) < cutoff);
        assert!(old.len() > 2 * PURGE_BATCH as usize && old.iter().all(|r| at(r) == t0), "{}", old.len());
        assert!(kept.iter().all(|r| at(r) >= t0 + 5 * DAY) && kept.len() >= 3 + 4, "{kept:?}");
        let mints_before = mints_in_30_days(&server.admin_get("/stats").await);

        let run = server.services.purge_audit().await.unwrap();
        assert_eq!(run.removed, old.len() as u64);
        assert_eq!(run.batches as usize, old.len() / PURGE_BATCH as usize + 1, "a batch at most {PURGE_BATCH} records");
        assert_eq!((run.at, run.cutoff, run.other_node), (now, cutoff, false));

        // Exactly the newer records are left, unchanged, and the purge is on record.
        let after = all_records(&server).await;
        assert_eq!(after[0]["kind"], "audit.purge", "{:?}", after[0]);
        assert_eq!((after[0]["outcome"].as_str(), after[0]["reason"].as_str()), (Some("accepted"), Some("purged")));
        let detail = format!("removed={} before={} audit_retention_days=10", old.len(), rfc3339(cutoff));
        assert_eq!(after[0]["detail"], detail);
        assert_eq!(after[1..], kept[..]);
        // The rollup keeps counting what happened: the overview's 30 days are the same.
        assert_eq!(mints_in_30_days(&server.admin_get("/stats").await), mints_before);
        assert!(mints_before > 2 * u64::from(PURGE_BATCH), "{mints_before}");

        // Nothing but audit records went: the session, the single-use claim, the event id.
        assert_eq!(server.who_am_i(&cookie).await["user_id"], fx.user.id.as_str());
        assert_eq!(server.open(&link).await.status(), 409);
        assert_eq!(send_event(&server, &endpoint, &secret, profile, &event_id).await, 409);

        // Another run finds nothing to delete and writes no record.
        let again = server.services.purge_audit().await.unwrap();
        assert_eq!((again.removed, again.batches), (0, 1));
        assert_eq!(server.audit("kind=audit.purge").await.len(), 1);
    }

    #[tokio::test]
    async fn the_oldest_record_and_the_last_purge_show_on_the_stats_the_console_and_metrics() {
        let server = TestServer::with(|c| c.audit_retention_days = Some(30)).await;
        let t0 = server.clock.unix();
        server.fixture().await;
        // The purge runs as the server starts, in the background: wait for it (bounded), then it
        // found nothing old.
        let mut health = server.admin_get("/stats").await["health"].clone();
        for _ in 0..200 {
            if !health["last_audit_purge"].is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            health = server.admin_get("/stats").await["health"].clone();
        }
        assert_eq!(health["audit_retention_days"], 30);
        assert_eq!(health["oldest_audit_record_at"], rfc3339(t0));
        let start = json!({"at": rfc3339(t0), "before": rfc3339(t0 - 30 * DAY), "removed": 0, "other_node": false});
        assert_eq!(health["last_audit_purge"], start);

        server.clock.advance(20 * DAY);
        let fx = server.fixture().await;
        server.mint(&fx, "/dashboard").await;
        server.clock.advance(15 * DAY);
        let now = t0 + 35 * DAY;
        let old = all_records(&server).await.iter().filter(|r| at(r) == t0).count() as u64;
        let run = server.services.purge_audit().await.unwrap();
        assert_eq!(run.removed, old);

        let health = server.admin_get("/stats").await["health"].clone();
        assert_eq!(health["oldest_audit_record_at"], rfc3339(t0 + 20 * DAY));
        let last = json!({"at": rfc3339(now), "before": rfc3339(now - 30 * DAY), "removed": old, "other_node": false});
        assert_eq!(health["last_audit_purge"], last);

        let card = health_card(&server).await;
        for row in [
            "Audit retention30 days".to_owned(),
            format!("Oldest audit record{} (15 days old)", rfc3339(t0 + 20 * DAY)),
            format!("Last audit purge{} (0 s ago): {old} records from before {} removed", rfc3339(now), rfc3339(now - 30 * DAY)),
        ] {
            assert!(card.contains(&row), "{row}: {card}");
        }

        let text = metrics(&server).await;
        assert_eq!(sample(&text, "handoff_audit_retention_days"), Some(30.0));
        assert_eq!(sample(&text, "handoff_audit_oldest_record_age_seconds"), Some((15 * DAY) as f64));
        assert_eq!(sample(&text, "handoff_audit_last_purge_timestamp_seconds"), Some(now as f64));
        assert_eq!(sample(&text, "handoff_audit_purged_records_total"), Some(old as f64));
    }

    #[tokio::test]
    async fn retention_zero_keeps_every_record() {
        let server = TestServer::start().await;
        let t0 = server.clock.unix();
        let fx = server.fixture().await;
        server.clock.advance(400 * DAY);
        server.mint(&fx, "/dashboard").await;
        let before = all_records(&server).await;
        assert!(server.services.purge_audit().await.is_none(), "retention is off");
        assert_eq!(all_records(&server).await, before);

        let health = server.admin_get("/stats").await["health"].clone();
        assert_eq!(health["audit_retention_days"], 0);
        assert_eq!(health["oldest_audit_record_at"], rfc3339(t0));
        assert_eq!(health["last_audit_purge"], Value::Null);
        let card = health_card(&server).await;
        for row in ["Audit retentionEvery record is kept (audit_retention_days = 0)", "Last audit purgeOff"] {
            assert!(card.contains(row), "{row}: {card}");
        }
        assert!(card.contains(&format!("Oldest audit record{} (400 days old)", rfc3339(t0))), "{card}");
        let text = metrics(&server).await;
        assert_eq!(sample(&text, "handoff_audit_retention_days"), Some(0.0));
        assert_eq!(sample(&text, "handoff_audit_oldest_record_age_seconds"), Some((400 * DAY) as f64));
    }
}

/// Two nodes on one PostgreSQL database, with the same master key, retention and time.
async fn two_nodes(database: &postgres::Cluster, days: u32) -> (TestServer, TestServer) {
    let node = || {
        TestServer::with(|c| {
            c.database_url = Some(database.url.clone());
            c.master_key = Some(MASTER_KEY.into());
            c.audit_retention_days = Some(days);
        })
    };
    let a = node().await;
    let b = node().await;
    b.clock.advance(a.clock.unix() - b.clock.unix());
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_pruning_one_postgresql_database_at_once_both_finish_and_leave_the_right_records() {
    if !postgres::available() {
        return;
    }
    let database = postgres::Cluster::start();
    let (a, b) = two_nodes(&database, 10).await;
    let t0 = a.clock.unix();
    let old = 4 * PURGE_BATCH as usize + 321;
    bulk(&a, old, t0, |i| format!("bulk {i}")).await;
    for node in [&a, &b] {
        node.clock.advance(11 * DAY);
    }
    let fx = b.fixture().await;
    a.mint(&fx, "/dashboard").await;
    let before = all_records(&a).await;
    let kept: Vec<Value> = before.iter().filter(|r| at(r) > t0).cloned().collect();
    let removed = before.len() - kept.len();
    assert!(removed >= old, "{removed}");

    let (ran_a, ran_b) = tokio::join!(a.services.purge_audit(), b.services.purge_audit());
    let (ran_a, ran_b) = (ran_a.unwrap(), ran_b.unwrap());
    assert_eq!(ran_a.removed + ran_b.removed, removed as u64, "{ran_a:?} {ran_b:?}");

    let after = all_records(&b).await;
    let (purges, rest): (Vec<Value>, Vec<Value>) = after.into_iter().partition(|r| r["kind"] == "audit.purge");
    assert_eq!(rest, kept);
    let noted: u64 = purges
        .iter()
        .map(|p| {
            p["detail"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .strip_prefix("removed=")
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(noted, removed as u64, "{purges:?}");
}

#[tokio::test]
async fn a_node_that_finds_the_prune_lock_taken_leaves_the_purge_to_its_holder() {
    use sqlx::Connection as _;
    if !postgres::available() {
        return;
    }
    let database = postgres::Cluster::start();
    let (a, _b) = two_nodes(&database, 10).await;
    let t0 = a.clock.unix();
    bulk(&a, 1500, t0, |i| format!("bulk {i}")).await;
    a.clock.advance(11 * DAY);
    let before = all_records(&a).await.len();

    // Another node in the middle of a batch: it holds the transaction-level lock.
    let mut other = sqlx::PgConnection::connect(&database.url).await.unwrap();
    let mut batch = other.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(handoff_store::AUDIT_PRUNE_LOCK)
        .execute(&mut *batch)
        .await
        .unwrap();
    let deferred = a.services.purge_audit().await.unwrap();
    assert_eq!((deferred.removed, deferred.batches, deferred.other_node), (0, 0, true));
    assert_eq!(all_records(&a).await.len(), before);
    let health = a.admin_get("/stats").await["health"].clone();
    assert_eq!(health["last_audit_purge"]["other_node"], true);
    assert_eq!(health["last_audit_purge"]["removed"], 0);

    // Its transaction ends (and the lock with it): the next run deletes them.
    batch.commit().await.unwrap();
    let run = a.services.purge_audit().await.unwrap();
    assert!(!run.other_node && run.removed >= 1500, "{run:?}");
    assert_eq!(all_records(&a).await.len(), before - run.removed as usize + 1);
}
