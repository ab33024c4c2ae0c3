//! The audit streams' store contract (`handoff_core::store::Streams`) on both backends: a new
//! stream starts after the records committed before it; a cursor never moves past a record that
//! can still commit behind it (PostgreSQL: a transaction that was running when a later one
//! committed); one node at a time holds a stream's lease, and a node that lost it moves nothing.
//!
//! PostgreSQL runs as a throwaway cluster (`handoff_testkit::postgres`); without its binaries the
//! PostgreSQL variants print SKIPPED, and under `CI` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use handoff_core::model::AuditEvent;
use handoff_core::store::{Store, StreamLag, Write};
use handoff_core::stream::{AuditStream, Cursor, Filter, StreamKind, StreamRecord};
use handoff_store::PoolSettings;
use handoff_testkit::postgres;

const NOW: i64 = 1_700_000_000;

async fn sqlite() -> (Arc<dyn Store>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("handoff.db").display());
    (handoff_store::connect(&url, &PoolSettings::default()).await.unwrap(), url, dir)
}

fn stream(name: &str) -> AuditStream {
    let path = Some("/var/log/handoff/audit.jsonl".into());
    AuditStream::new(name.into(), StreamKind::Jsonl, None, path, Filter::default(), NOW)
}

async fn audit(store: &dyn Store, request_id: &str) {
    let event = AuditEvent { kind: "test.event".into(), request_id: Some(request_id.into()), ..AuditEvent::default() }
        .accepted(NOW, "ok");
    store.commit(vec![Write::Audit(event)]).await.unwrap();
}

fn request_ids(page: &[StreamRecord]) -> Vec<&str> {
    page.iter().map(|r| r.record.event.request_id.as_deref().unwrap()).collect()
}

/// Creation, order, lag, the lease and its fence, pause and failures.
async fn lifecycle(store: Arc<dyn Store>) {
    audit(store.as_ref(), "before").await;
    let created = stream("siem");
    store.create_stream(&created).await.unwrap();
    assert!(store.create_stream(&stream("siem")).await.is_err(), "names are unique");
    let s = store.stream(created.id).await.unwrap().unwrap();
    assert!(store.stream_records(s.cursor, 500).await.unwrap().is_empty(), "records before creation are not streamed");
    assert_eq!(store.stream_lag(s.cursor).await.unwrap(), StreamLag::default());

    for i in 0..5 {
        audit(store.as_ref(), &format!("r{i}")).await;
    }
    let page = store.stream_records(s.cursor, 3).await.unwrap();
    assert_eq!(request_ids(&page), ["r0", "r1", "r2"]);
    assert!(page.windows(2).all(|w| w[0].cursor < w[1].cursor), "commit order");
    let lag = store.stream_lag(s.cursor).await.unwrap();
    assert_eq!((lag.records, lag.oldest_at), (5, Some(NOW)));

    assert!(store.lease_stream(s.id, "node-a", NOW, NOW + 15).await.unwrap());
    assert!(store.lease_stream(s.id, "node-a", NOW + 5, NOW + 20).await.unwrap(), "the holder renews");
    assert!(!store.lease_stream(s.id, "node-b", NOW + 19, NOW + 34).await.unwrap(), "held until it expires");
    let last = page[2].cursor;
    assert!(store.advance_stream(s.id, "node-a", last, Some(NOW)).await.unwrap());
    assert!(store.lease_stream(s.id, "node-b", NOW + 21, NOW + 36).await.unwrap(), "an expired lease is taken");
    assert!(!store.advance_stream(s.id, "node-a", Cursor { tx: i64::MAX, id: 0 }, None).await.unwrap(), "fenced");
    assert!(!store.stream_failed(s.id, "node-a", "late", NOW).await.unwrap(), "fenced");
    let s = store.stream(s.id).await.unwrap().unwrap();
    assert_eq!((s.cursor, s.lease_owner.as_deref(), s.last_delivered_at), (last, Some("node-b"), Some(NOW)));
    assert_eq!(request_ids(&store.stream_records(s.cursor, 500).await.unwrap()), ["r3", "r4"], "resumes at the cursor");
    assert_eq!(store.stream_lag(s.cursor).await.unwrap().records, 2);

    assert!(store.stream_failed(s.id, "node-b", "503 Service Unavailable", NOW * 1000 + 2000).await.unwrap());
    assert!(store.stream_failed(s.id, "node-b", "503 Service Unavailable", NOW * 1000 + 4000).await.unwrap());
    assert!(store.set_stream_paused(s.id, true).await.unwrap());
    let paused = store.stream(s.id).await.unwrap().unwrap();
    assert_eq!((paused.paused, paused.failures, paused.next_attempt_at), (true, 2, NOW * 1000 + 4000));
    assert!(store.set_stream_paused(s.id, false).await.unwrap());
    let resumed = store.stream(s.id).await.unwrap().unwrap();
    assert_eq!((resumed.paused, resumed.failures, resumed.next_attempt_at, resumed.cursor), (false, 0, 0, last));

    store.release_stream(s.id, "node-a").await.unwrap();
    assert_eq!(store.stream(s.id).await.unwrap().unwrap().lease_owner.as_deref(), Some("node-b"), "not a's to give");
    store.release_stream(s.id, "node-b").await.unwrap();
    assert!(store.lease_stream(s.id, "node-c", NOW, NOW + 15).await.unwrap(), "released: free at once");
    assert_eq!(store.streams().await.unwrap().len(), 1);
    assert!(store.delete_stream(s.id).await.unwrap());
    assert!(store.stream(s.id).await.unwrap().is_none());
}

#[tokio::test]
async fn lifecycle_sqlite() {
    let (store, _url, _dir) = sqlite().await;
    lifecycle(store).await;
}

#[tokio::test]
async fn lifecycle_postgres() {
    if postgres::available() {
        let server = postgres::Cluster::start();
        lifecycle(handoff_store::connect(&server.url, &PoolSettings::default()).await.unwrap()).await;
    }
}

/// PostgreSQL: a transaction that took its id before a later one committed holds every stream
/// behind it until it ends; then both are read, in transaction order, and nothing is skipped.
#[tokio::test]
async fn a_running_transaction_holds_the_cursor_postgres() {
    if !postgres::available() {
        return;
    }
    let server = postgres::Cluster::start();
    let store = handoff_store::connect(&server.url, &PoolSettings::default()).await.unwrap();
    let s = stream("siem");
    store.create_stream(&s).await.unwrap();
    let head = store.stream(s.id).await.unwrap().unwrap().cursor;

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.url).await.unwrap();
    let mut slow = pool.begin().await.unwrap();
    sqlx::query("SELECT CAST(pg_current_xact_id()::text AS BIGINT)").execute(&mut *slow).await.unwrap();
    audit(store.as_ref(), "fast").await;
    sqlx::query(
        "INSERT INTO audit_log (at, kind, outcome, reason, request_id) VALUES ($1, 'test.event', 'accepted', 'ok', \
         'slow')",
    )
    .bind(NOW)
    .execute(&mut *slow)
    .await
    .unwrap();
    assert!(
        store.stream_records(head, 500).await.unwrap().is_empty(),
        "fast committed after slow took its transaction id: a cursor moved past it would skip slow"
    );
    assert_eq!(store.stream_lag(head).await.unwrap().records, 1, "the lag counts what is committed");
    slow.commit().await.unwrap();
    let page = store.stream_records(head, 500).await.unwrap();
    assert_eq!(request_ids(&page), ["slow", "fast"], "transaction order, although slow's id is higher");
    assert!(page[0].record.id > page[1].record.id);
    assert!(store.stream_records(page[1].cursor, 500).await.unwrap().is_empty());
    pool.close().await;
}

/// SQLite: ids are commit order; a second store on the file (another process) sees the same.
#[tokio::test]
async fn ids_are_commit_order_sqlite() {
    let (store, url, _dir) = sqlite().await;
    let s = stream("siem");
    store.create_stream(&s).await.unwrap();
    let other = handoff_store::connect(&url, &PoolSettings::default()).await.unwrap();
    audit(store.as_ref(), "a").await;
    audit(other.as_ref(), "b").await;
    audit(store.as_ref(), "c").await;
    let head = store.stream(s.id).await.unwrap().unwrap().cursor;
    let page = other.stream_records(head, 500).await.unwrap();
    assert_eq!(request_ids(&page), ["a", "b", "c"]);
    assert!(page.iter().all(|r| r.cursor.tx == 0));
}
