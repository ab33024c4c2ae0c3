//! Audit streams across `kill -9` with the real binary: the node delivering a JSON-lines stream
//! dies in the middle of the backlog, a new process on the same database takes the stream over
//! once the dead one's lease has expired, and the file ends up with every record at least once
//! and none more than twice (the batch in flight at the kill is appended again), each line whole.

use std::collections::BTreeMap;

use handoff_core::model::AuditEvent;
use handoff_core::store::Write;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend::Backend;
use crate::harness::{Spawned, ADMIN_TOKEN};
use crate::streams::{committed_after, lines, wait_for};

/// Commits `count` mint records through the journal on a connection of the test's own (as
/// sign-ins on another node would), 500 per transaction.
pub async fn append_records(database_url: &str, count: usize) {
    let store = handoff_store::connect(database_url, &Default::default()).await.unwrap();
    let writes: Vec<usize> = (0..count).collect();
    for chunk in writes.chunks(500) {
        let batch = chunk
            .iter()
            .map(|i| {
                let event = AuditEvent {
                    kind: "sso.mint".into(),
                    partner_id: Some("partner-bulk".into()),
                    detail: Some(format!("n={i}")),
                    ..AuditEvent::default()
                };
                #[allow(clippy::disallowed_methods)]
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                Write::Audit(event.accepted(now, "minted"))
            })
            .collect();
        store.commit(batch).await.unwrap();
    }
}

/// How many times each record id appears.
pub fn counts(records: &[Value]) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts.entry(record["id"].as_i64().unwrap()).or_default() += 1;
    }
    counts
}

backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jsonl_stream_survives_kill_9_of_its_node_with_each_record_at_most_twice() {
        let (dir, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let postgres = Backend::current().database();
        let database_url = postgres
            .as_ref()
            .map_or_else(|| format!("sqlite://{}", dir.path().join("handoff.db").display()), |pg| pg.url.clone());
        let mut first = Spawned::serve_with(dir.path(), "127.0.0.1:0", Some(&database_url), &[]);
        let admin = handoff_client::Client::new(&first.url).with_admin_token(ADMIN_TOKEN);
        let path = logs.path().join("audit.jsonl");
        let created: Value = admin
            .admin(Method::POST, "/streams", Some(&json!({"name": "siem", "kind": "jsonl", "path": path})))
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let head = committed_after(&database_url, 0).await.last().copied().unwrap();
        append_records(&database_url, 20_000).await;
        // Dies while the backlog is being appended (some of it is in the file, not all).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while lines(&path).len() < 2_000 {
            assert!(tokio::time::Instant::now() < deadline, "nothing was delivered: {}", first.stderr());
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        first.kill9();
        let at_kill = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(at_kill < 20_000, "the kill came after the whole backlog: the test proves nothing");

        let second = Spawned::serve_with(dir.path(), "127.0.0.1:0", Some(&database_url), &[]);
        let status = wait_for(&second.url, &id, "no lag", |s| s["lag_records"] == 0).await;
        assert_eq!(status["state"], "active");
        let delivered = lines(&path);
        let committed = committed_after(&database_url, head - 1).await;
        let counts = counts(&delivered);
        assert_eq!(counts.keys().copied().collect::<Vec<_>>(), {
            let mut sorted = committed.clone();
            sorted.sort_unstable();
            sorted
        }, "every committed record, none other");
        assert!(counts.values().all(|&n| n <= 2), "a record at most twice");
        let twice = counts.values().filter(|&&n| n == 2).count();
        assert!(twice <= 500, "only the batch in flight is appended again: {twice}");
        // In commit order apart from the batch appended again.
        let mut seen = std::collections::BTreeSet::new();
        let order: Vec<i64> = delivered.iter().map(|r| r["id"].as_i64().unwrap()).filter(|id| seen.insert(*id)).collect();
        assert_eq!(order, committed);
        drop(second);
    }
}
