//! Three `handoff serve` processes behind one PgBouncer in transaction pooling mode (Debian's,
//! with fewer server connections than the nodes' pools, so clients share them), with
//! `database_statement_cache = false`: single use holds across nodes, sign-in works, and a node
//! does not migrate through the pooler.

use std::process::Command;

use handoff_client::Client;
use handoff_testkit::{pgbouncer, postgres};

use crate::harness::{http_client, remote_fixture, set_cookie_pair, Spawned, ADMIN_TOKEN};

/// The master key every node shares.
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// `handoff migrate` against `database_url`, as an operator runs it against PostgreSQL itself.
fn migrate(database_url: &str) {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["migrate", "--database-url", database_url, "--admin-token", ADMIN_TOKEN, "--master-key", MASTER_KEY])
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("HANDOFF_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "migrate: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_pgbouncer_redeem_each_link_exactly_once() {
    if !pgbouncer::available() {
        return;
    }
    let database = postgres::Cluster::start();
    migrate(&database.url);
    // Four server connections for three nodes of eight connections each.
    let bouncer = pgbouncer::Bouncer::start(&database, 4);
    let public = format!("http://127.0.0.1:{}", handoff_testkit::unused_port());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Spawned> = dirs
        .iter()
        .map(|dir| {
            let args = ["--master-key", MASTER_KEY, "--public-url", &public, "--database-statement-cache", "false"];
            Spawned::serve_with(dir.path(), "127.0.0.1:0", Some(&bouncer.url), &args)
        })
        .collect();
    let fx = remote_fixture(&nodes[0].url).await;
    let http = http_client();
    for round in 0..10 {
        let minting = Client::new(&nodes[round % 3].url);
        let link = minting.mint_sso_link(&fx.credentials, &fx.user_id, Some("/dashboard")).await.unwrap();
        let path = link.redirect_url.strip_prefix(&public).unwrap().to_owned();
        let attempts: Vec<_> = (0..45)
            .map(|i| {
                let url = format!("{}{path}", nodes[i % 3].url);
                let http = http.clone();
                tokio::spawn(async move {
                    let response = http.get(url).send().await.unwrap();
                    let status = response.status().as_u16();
                    (status, (status == 303).then(|| set_cookie_pair(&response)))
                })
            })
            .collect();
        let mut statuses = Vec::new();
        let mut cookies = Vec::new();
        for attempt in attempts {
            let (status, cookie) = attempt.await.unwrap();
            statuses.push(status);
            cookies.extend(cookie);
        }
        assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "round {round}: {statuses:?}\n{}", bouncer.log());
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 44, "round {round}: {statuses:?}");
        // The session the winner got works on every node.
        for node in &nodes {
            let who =
                http.get(format!("{}/auth/session", node.url)).header("cookie", &cookies[0]).send().await.unwrap();
            assert_eq!(who.status(), 200, "round {round}");
            let who: serde_json::Value = who.json().await.unwrap();
            assert_eq!(who["user_id"], fx.user_id.as_str());
        }
    }
    for node in &nodes {
        assert!(!node.stderr().contains("store failure"), "{}", node.stderr());
    }
}

#[tokio::test]
async fn a_node_behind_pgbouncer_refuses_to_migrate_through_it() {
    if !pgbouncer::available() {
        return;
    }
    let database = postgres::Cluster::start();
    let bouncer = pgbouncer::Bouncer::start(&database, 2);
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--master-key", MASTER_KEY])
        .args(["--database-url", &bouncer.url, "--database-statement-cache", "false", "--data-dir"])
        .arg(data.path())
        .env_remove("HANDOFF_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("are pending") && stderr.contains("handoff migrate"), "{stderr}");
    // Nothing was created through the pooler.
    assert_eq!(database.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim(), "0");
}
