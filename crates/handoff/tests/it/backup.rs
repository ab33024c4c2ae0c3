//! Backups with the real binary and the real tools: `handoff db backup` of a SQLite installation
//! under a load of mints, restored into a new data directory and served; a `pg_dump` of a served
//! PostgreSQL installation restored with `pg_restore` into a fresh cluster and served. Either
//! way the keys, the sessions, the used links and the remembered events survive.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use handoff_client::Client;
use handoff_testkit::postgres;

use crate::db_copy::{assert_survived, audit_log, handoff, install, stop, text, MASTER_KEY};
use crate::harness::{http_client, Spawned};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--master-key", MASTER_KEY, "--partner-rate-limit", "0"];
    let mut server = Spawned::serve_with(dir.path(), "127.0.0.1:0", None, &args);
    let installed = install(&server.url).await;
    let before = audit_log(&server.url).await;

    // A few clients mint and redeem flat out while the backup is taken.
    let stopping = Arc::new(AtomicBool::new(false));
    let minted = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (client, http) = (Client::new(&server.url), http_client());
        let fx = (installed.fixture.credentials.clone(), installed.fixture.user_id.clone());
        let (stopping, minted) = (stopping.clone(), minted.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stopping.load(Ordering::SeqCst) {
                let link = client.mint_sso_link(&fx.0, &fx.1, Some(&format!("/load/{c}/{i}"))).await.unwrap();
                assert_eq!(http.get(&link.redirect_url).send().await.unwrap().status(), 303);
                minted.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        }));
    }
    while minted.load(Ordering::SeqCst) < 100 {
        tokio::task::yield_now().await;
    }
    let path = dir.path().join("backup.db");
    let data = dir.path().to_str().unwrap().to_owned();
    let backup_path = path.to_str().unwrap().to_owned();
    let during = minted.load(Ordering::SeqCst);
    let output = tokio::task::spawn_blocking(move || {
        handoff(&["db", "backup", &backup_path, "--data-dir", &data, "--master-key", MASTER_KEY])
    })
    .await
    .unwrap();
    let after = minted.load(Ordering::SeqCst);
    stopping.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("integrity check ok") && out.contains("useless without the configured master key"), "{out}");
    assert!(!out.contains(MASTER_KEY), "{out}");
    eprintln!("mints acknowledged: {during} when the backup started, {after} when it ended");

    // The backup is a consistent database of its own, readable by the owner only.
    {
        let backup = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let verdict: String = backup.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
        assert_eq!(verdict, "ok");
        let dangling: i64 =
            backup.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| row.get(0)).unwrap();
        assert_eq!(dangling, 0);
        let redeemed: i64 = backup.query_row("SELECT COUNT(*) FROM consumed_tokens", [], |row| row.get(0)).unwrap();
        // The installation's redemption and every one acknowledged before the backup started.
        assert!(redeemed > i64::try_from(during).unwrap(), "{redeemed} consumed tokens, {during} before");
    }
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    // A backup never overwrites.
    let data = dir.path().to_str().unwrap();
    let again = handoff(&["db", "backup", path.to_str().unwrap(), "--data-dir", data, "--master-key", MASTER_KEY]);
    assert!(!again.status.success() && text(&again).contains("already exists"), "{}", text(&again));
    stop(&mut server);

    // Restore: a new data directory with the backup as its database, the same master key.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&path, restored.path().join("handoff.db")).unwrap();
    let server = Spawned::serve_with(restored.path(), server.url.trim_start_matches("http://"), None, &args);
    let log = audit_log(&server.url).await;
    for record in &before {
        assert!(log.contains(record), "lost in the backup: {record}");
    }
    assert_survived(&server.url, &installed).await;
}

#[test]
fn backup_refuses_postgres_and_names_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let path = dir.path().join("b.db");
    let url = "postgres://handoff:pw-never-printed@127.0.0.1:1/handoff";
    let output = handoff(&["db", "backup", path.to_str().unwrap(), "--data-dir", data, "--database-url", url]);
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(out.contains("pg_dump") && !out.contains("pw-never-printed"), "{out}");
    assert!(!path.exists());
    // And a SQLite database that is not there is no database to back up.
    let output = handoff(&["db", "backup", path.to_str().unwrap(), "--data-dir", data]);
    assert!(!output.status.success() && text(&output).contains("does not exist"), "{}", text(&output));
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_of_a_served_installation_restores_into_a_fresh_cluster() {
    if !postgres::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = postgres::Cluster::start();
    let args = ["--master-key", MASTER_KEY];
    let mut server = Spawned::serve_with(dir.path(), "127.0.0.1:0", Some(&first.url), &args);
    let installed = install(&server.url).await;
    let before = audit_log(&server.url).await;

    // Online, while the server runs, as docs/postgresql.md says.
    let dump = dir.path().join("handoff.dump");
    let dumped = std::process::Command::new(postgres::program("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&first.url)
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{}", text(&dumped));
    stop(&mut server);

    let second = postgres::Cluster::start();
    second.psql("SELECT 1");
    let restored = std::process::Command::new(postgres::program("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname", &second.url])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(restored.status.success(), "{}", text(&restored));
    let server = Spawned::serve_with(dir.path(), server.url.trim_start_matches("http://"), Some(&second.url), &args);
    assert_eq!(audit_log(&server.url).await, before);
    assert_survived(&server.url, &installed).await;
}
