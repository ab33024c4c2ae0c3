//! Webhook audit streams against a receiver the test starts (`tests/standard-webhooks/
//! receiver.py`), which verifies every batch with the reference Standard Webhooks library (PyPI
//! `standardwebhooks`): 10 000 sign-in records arrive exactly as committed, in order; a receiver
//! that is down, answers 500 or hangs is retried with backoff (the test's clock skips the waits),
//! the stream shows `failing` and recovers where it stopped, losing nothing; and on PostgreSQL
//! with three `handoff serve` processes, `kill -9` of the delivering node hands the stream to
//! another, every record arriving at least once and a duplicate only as the same record. Without
//! the library the tests print SKIPPED; under `CI` they fail.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use handoff_core::Clock as _;
use handoff_testkit::postgres;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Spawned, TestServer, ADMIN_TOKEN};
use crate::streams::{committed_after, create_stream, mint_many, wait_for};
use crate::streams_crash::append_records;

/// The receiver process and its directory (secret, mode, what it received).
struct Receiver {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// Whether the reference library is installed; panics under `CI` when it is not.
fn reference_library() -> bool {
    let ok = Command::new("python3").args(["-c", "import standardwebhooks"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI must pip install -r tests/standard-webhooks/requirements.txt");
        eprintln!("SKIPPED: needs the reference library (pip install -r tests/standard-webhooks/requirements.txt)");
    }
    ok
}

impl Receiver {
    fn start() -> Receiver {
        Self::start_in(tempfile::tempdir().unwrap(), 0)
    }

    /// A receiver on `port` (0: a free one) keeping its files in `dir`.
    fn start_in(dir: tempfile::TempDir, port: u16) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/standard-webhooks/receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening on ").unwrap().parse().unwrap();
        Receiver { child, dir, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/audit", self.port)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set(&self, name: &str, value: &str) {
        std::fs::write(self.file(name), value).unwrap();
    }

    /// Every batch it verified and accepted: (webhook-id, records).
    fn batches(&self) -> Vec<(String, Vec<Value>)> {
        crate::streams::lines(&self.file("received.jsonl"))
            .into_iter()
            .map(|b| (b["webhook_id"].as_str().unwrap().to_owned(), b["records"].as_array().unwrap().clone()))
            .collect()
    }

    fn records(&self) -> Vec<Value> {
        self.batches().into_iter().flat_map(|(_, records)| records).collect()
    }

    fn rejected(&self) -> String {
        std::fs::read_to_string(self.file("rejected")).unwrap_or_default()
    }

    /// Stops it, keeping its directory for the next one.
    fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// A webhook stream to `receiver` on `server`, its secret handed to the receiver; (id, the
/// newest record before it).
async fn webhook_stream(server: &TestServer, receiver: &Receiver) -> (String, i64) {
    let created = create_stream(server, json!({"name": "siem", "kind": "webhook", "url": receiver.url()})).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.set("secret", secret);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(server.admin_get(&format!("/streams/{id}")).await.get("secret").is_none(), "shown once");
    let creation = server.audit("kind=admin.stream.create").await[0]["id"].as_i64().unwrap();
    (id, creation - 1)
}

backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_thousand_sign_ins_arrive_signed_exactly_as_committed_in_order() {
        if !reference_library() {
            return;
        }
        let receiver = Receiver::start();
        let server = TestServer::with(|c| {
            c.allow_private_endpoints = Some(true);
            c.partner_rate_limit = Some(0);
        })
        .await;
        let fx = server.fixture().await;
        let (id, before) = webhook_stream(&server, &receiver).await;
        // Real sign-in links through the partner API, and the bulk of the load through the
        // journal from a second connection (as other nodes would write it).
        mint_many(&server, &fx, 200).await;
        append_records(&server.database_url, 9_800).await;
        mint_many(&server, &fx, 100).await;
        let status = wait_for(&server.url, &id, "no lag", |s| s["lag_records"] == 0).await;
        assert_eq!((status["state"].as_str(), status["failures"].as_u64()), (Some("active"), Some(0)));

        assert_eq!(receiver.rejected(), "", "every batch verifies with the reference library");
        let batches = receiver.batches();
        let delivered = receiver.records();
        assert_eq!(ids(&delivered), committed_after(&server.database_url, before).await, "exactly, in order");
        assert!(delivered.iter().filter(|r| r["kind"] == "sso.mint").count() >= 10_000);
        assert!(batches.iter().all(|(_, records)| !records.is_empty() && records.len() <= 500));
        let stream = id.replace('-', "");
        for (webhook_id, records) in &batches {
            assert_eq!(webhook_id, &format!("msg_{stream}_{}", records[0]["id"]), "stable per batch");
        }
        let exported = server.audit(&format!("limit=1&kind=sso.mint&partner_id={}", fx.partner.id)).await;
        let same = delivered.iter().find(|r| r["id"] == exported[0]["id"]).unwrap();
        assert_eq!(same, &exported[0], "the admin API's record shape");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_down_then_back_gets_everything() {
        if !reference_library() {
            return;
        }
        let receiver = Receiver::start();
        let port = receiver.port;
        let server = TestServer::with(|c| c.allow_private_endpoints = Some(true)).await;
        let (id, before) = webhook_stream(&server, &receiver).await;
        wait_for(&server.url, &id, "no lag", |s| s["lag_records"] == 0).await;
        let dir = receiver.stop();
        append_records(&server.database_url, 1_200).await;
        let status = wait_for(&server.url, &id, "a failure", |s| s["failures"] == 1).await;
        assert_eq!(status["last_error"], "cannot connect to the receiver");
        let retry = time::OffsetDateTime::parse(status["next_attempt_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        assert!(retry.unix_timestamp() - server.clock.unix() <= 1, "the first retry is within a second: {status}");
        server.clock.advance(2);
        wait_for(&server.url, &id, "a second failure", |s| s["failures"] == 2).await;

        let receiver = Receiver::start_in(dir, port);
        server.clock.advance(3);
        let status = wait_for(&server.url, &id, "no lag", |s| s["lag_records"] == 0).await;
        assert_eq!(status["failures"], 0);
        assert_eq!(receiver.rejected(), "");
        assert_eq!(ids(&receiver.records()), committed_after(&server.database_url, before).await, "nothing lost");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_answering_500_or_hanging_makes_the_stream_fail_then_recover() {
        if !reference_library() {
            return;
        }
        let receiver = Receiver::start();
        let server = TestServer::with(|c| c.allow_private_endpoints = Some(true)).await;
        let (id, before) = webhook_stream(&server, &receiver).await;
        wait_for(&server.url, &id, "no lag", |s| s["lag_records"] == 0).await;
        receiver.set("mode", "fail");
        append_records(&server.database_url, 700).await;
        let mut status = Value::Null;
        for failures in 1..=5_u32 {
            status = wait_for(&server.url, &id, "a failure", |s| s["failures"] == failures).await;
            assert_eq!(status["last_error"], "the receiver answered 500 Internal Server Error");
            // The backoff doubles from a second: past it, and no further (the receiver's
            // timestamp tolerance is 5 minutes).
            server.clock.advance((1 << (failures - 1)) + 1);
        }
        assert_eq!(status["state"], "failing");
        let text = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("handoff_stream_failing{stream=\"siem\"} 1"), "{text}");

        receiver.set("mode", "hang");
        let status = wait_for(&server.url, &id, "a timeout", |s| s["failures"] == 6).await;
        assert_eq!(status["last_error"], "the receiver did not answer within 10s");
        assert_eq!(status["state"], "failing");
        receiver.set("mode", "ok");
        server.clock.advance(61);
        let status = wait_for(&server.url, &id, "no lag", |s| s["lag_records"] == 0).await;
        assert_eq!((status["state"].as_str(), status["failures"].as_u64()), (Some("active"), Some(0)));
        assert_eq!(receiver.rejected(), "");
        assert_eq!(ids(&receiver.records()), committed_after(&server.database_url, before).await, "resumed where it stopped");
    }
}

/// The master key every node shares.
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_delivering_node_hands_the_stream_over_postgres() {
    if !postgres::available() || !reference_library() {
        return;
    }
    let database = postgres::Cluster::start();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Spawned> = dirs
        .iter()
        .map(|dir| {
            let args = ["--master-key", MASTER_KEY, "--allow-private-endpoints"];
            Spawned::serve_with(dir.path(), "127.0.0.1:0", Some(&database.url), &args)
        })
        .collect();
    let receiver = Receiver::start();
    receiver.set("mode", "slow");
    let admin = handoff_client::Client::new(&nodes[0].url).with_admin_token(ADMIN_TOKEN);
    let body = json!({"name": "siem", "kind": "webhook", "url": receiver.url()});
    let created: Value = admin.admin(Method::POST, "/streams", Some(&body)).await.unwrap();
    receiver.set("secret", created["secret"].as_str().unwrap());
    let id = created["id"].as_str().unwrap().to_owned();
    let before = committed_after(&database.url, 0).await.into_iter().max().unwrap() - 1;
    append_records(&database.url, 6_000).await;

    // The node holding the lease dies once a few batches have arrived.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while receiver.batches().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status: Value = admin.admin::<Value, Value>(Method::GET, &format!("/streams/{id}"), None).await.unwrap();
    assert!(status["lag_records"].as_u64().unwrap() > 0, "done before the kill: the test proves nothing");
    let owner = lease_owner(&database.url, &id).await;
    let delivering = nodes.iter().position(|n| n.stderr().contains(&owner)).unwrap();
    nodes[delivering].kill9();
    let survivor = nodes.iter().enumerate().find(|(i, _)| *i != delivering).unwrap().1.url.clone();

    receiver.set("mode", "ok");
    wait_for(&survivor, &id, "no lag", |s| s["lag_records"] == 0).await;
    let taken_over = lease_owner(&database.url, &id).await;
    assert_ne!(taken_over, owner, "another node delivers now");
    assert_eq!(receiver.rejected(), "");
    let committed = committed_after(&database.url, before).await;
    let mut first_seen: BTreeMap<i64, Value> = BTreeMap::new();
    for record in receiver.records() {
        let id = record["id"].as_i64().unwrap();
        match first_seen.get(&id) {
            Some(seen) => assert_eq!(seen, &record, "a duplicate is the same record"),
            None => {
                first_seen.insert(id, record);
            }
        }
    }
    let mut expected = committed.clone();
    expected.sort_unstable();
    assert_eq!(first_seen.keys().copied().collect::<Vec<_>>(), expected, "every record at least once");
}

async fn lease_owner(database_url: &str, stream: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    let owner: Option<String> = sqlx::query_scalar("SELECT lease_owner FROM audit_streams WHERE id = $1")
        .bind(stream)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    owner.unwrap()
}

#[tokio::test]
async fn the_console_shows_a_webhook_streams_secret_once() {
    use crate::console_resources::{shown_secret, Console};
    let server = TestServer::with(|c| c.allow_private_endpoints = Some(true)).await;
    let console = Console::sign_in(&server).await;
    let created = console
        .post("/admin/streams", &[("name", "siem"), ("kind", "webhook"), ("url", "http://127.0.0.1:9/audit")])
        .await;
    assert_eq!(created.status(), 200);
    let secret = shown_secret(&created.text().await.unwrap());
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = server.admin_get("/streams").await["items"][0]["id"].as_str().unwrap().to_owned();
    let page = console.page(&format!("/admin/streams/{id}")).await;
    assert!(!page.contains(&secret) && !page.contains("shown only this once"), "only on the answer to the form");
}
