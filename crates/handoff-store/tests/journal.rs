//! The SQLite journal on a real database file: batches land in order, and the write-ahead log
//! stays bounded under a writer that never pauses (the background checkpointer restarts it).

use handoff_core::model::{AuditEvent, AuditFilter, Outcome};
use handoff_core::store::Write;
use handoff_store::PoolSettings;

fn event(i: usize) -> Write {
    Write::Audit(AuditEvent {
        at: 1_700_000_000,
        kind: "sso.mint".into(),
        outcome: Some(Outcome::Accepted),
        reason: "minted".into(),
        partner_id: Some("4f6c1f0e-6a57-4c3e-9d55-2b1c6f0f7a10".into()),
        organization_id: Some("0b3e9c55-8d0a-4c8e-a4f4-3f5a1f7e2c11".into()),
        user_id: Some("9a2d5c1e-7f3b-4a6d-8e0c-1b2a3c4d5e6f".into()),
        client_addr: Some("127.0.0.1".into()),
        request_id: Some(format!("request-{i}")),
        detail: Some(format!("jti={i:032x} redirect=/dashboard/patients/1234-5678-3456-2345")),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_bounded_under_a_writer_that_never_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("handoff.db");
    let store = handoff_store::connect(&format!("sqlite://{}", db.display()), &PoolSettings::default()).await.unwrap();

    // 6 000 commits of 20 rows, each rewriting several pages (the rows, four indexes, the hourly
    // rollup): without checkpoints that restart it, the log would hold every one of those page
    // writes — several times the database's own size (about 50 MiB here). With them it stays
    // near what a writer that never pauses adds between two checkpoints, whatever the count
    // (about 16 MiB on a 2-core machine; 32 MiB leaves room for a busy one).
    let (commits, rows) = (6_000, 20);
    for c in 0..commits {
        let writes = (0..rows).map(|r| event(c * rows + r)).collect();
        let results = store.commit(writes).await.unwrap();
        assert_eq!(results, vec![true; rows]);
    }

    let newest = store.audit(&AuditFilter { limit: 2, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0].event.request_id.as_deref(), Some(format!("request-{}", commits * rows - 1).as_str()));
    assert_eq!(newest[1].event.request_id.as_deref(), Some(format!("request-{}", commits * rows - 2).as_str()));

    let wal = std::fs::metadata(dir.path().join("handoff.db-wal")).unwrap().len();
    let database = std::fs::metadata(&db).unwrap().len();
    eprintln!("after {commits} commits: log {} KiB, database {} KiB", wal / 1024, database / 1024);
    assert!(wal < 32 * 1024 * 1024, "the write-ahead log grew to {} KiB", wal / 1024);
}
