//! Audit event streams (`/admin/v1/streams`): a stream delivers every audit record committed
//! after its creation, in commit order, at least once — to a JSON-lines file (every record once
//! after a clean run) or to a webhook. A failing receiver is retried with backoff (the test's
//! clock skips the waits), the stream shows `failing` after 5 failures in a row and recovers
//! where it stopped; a paused stream delivers nothing and resumes from its cursor. Every admin
//! action is audited; refusals have the documented status and problem.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{assert_problem, Fixture, TestServer};

/// How long a test waits for a stream to catch up before it fails.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(120);

/// Creates a stream through the admin API; the created view.
pub async fn create_stream(server: &TestServer, body: Value) -> Value {
    let response = server.admin_request(Method::POST, "/streams").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// Polls the stream at `base` until `done` holds for its status (the delivery runs in the
/// background every 250 ms); the status.
pub async fn wait_for(base: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let admin = handoff_client::Client::new(base).with_admin_token(crate::harness::ADMIN_TOKEN);
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let status: Value = admin.admin::<Value, Value>(Method::GET, &format!("/streams/{id}"), None).await.unwrap();
        if done(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "the stream did not get to {what}: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Mints `count` links, 8 at a time.
pub async fn mint_many(server: &TestServer, fx: &Fixture, count: usize) {
    let lane = |lane: usize| async move {
        for i in (lane..count).step_by(8) {
            server.mint(fx, &format!("/r/{i}")).await;
        }
    };
    tokio::join!(lane(0), lane(1), lane(2), lane(3), lane(4), lane(5), lane(6), lane(7));
}

/// The lines of a JSON-lines file, parsed.
pub fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The audit log's record ids after `after` in commit order, read from the database itself:
/// `(tx, id)` on both backends (tx is 0 on SQLite).
pub async fn committed_after(database_url: &str, after: i64) -> Vec<i64> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    let ids = sqlx::query_scalar::<_, i64>("SELECT id FROM audit_log WHERE id > $1 ORDER BY tx, id")
        .bind(after)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    ids
}

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// The id of the newest audit record (the stream starts after it).
async fn newest_id(server: &TestServer) -> i64 {
    server.audit("limit=1").await[0]["id"].as_i64().unwrap()
}

backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jsonl_stream_holds_every_record_once_in_commit_order() {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::with(|c| c.partner_rate_limit = Some(0)).await;
        let fx = server.fixture().await;
        let before = newest_id(&server).await;
        let path = dir.path().join("audit.jsonl");
        let created = create_stream(&server, json!({"name": "siem-file", "kind": "jsonl", "path": path})).await;
        assert_eq!((created["state"].as_str(), created["kind"].as_str()), (Some("active"), Some("jsonl")));
        assert!(created.get("secret").is_none(), "a file needs no secret");
        let id = created["id"].as_str().unwrap();
        mint_many(&server, &fx, 1000).await;
        let status = wait_for(&server.url, id, "no lag", |s| s["lag_records"] == 0).await;
        assert!(status["last_delivered_at"].is_string());

        let delivered = lines(&path);
        let committed = committed_after(&server.database_url, before).await;
        assert_eq!(ids(&delivered), committed, "every record after the creation, once, in commit order");
        assert_eq!(delivered[0]["kind"], "admin.stream.create", "the stream's own creation is its first record");
        assert_eq!(delivered.iter().filter(|r| r["kind"] == "sso.mint").count(), 1000);
        let exported = server.audit("limit=1&kind=sso.mint").await;
        let same = delivered.iter().find(|r| r["id"] == exported[0]["id"]).unwrap();
        assert_eq!(same, &exported[0], "the admin API's record shape, field for field");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filters_select_kinds_and_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let (minted, refused) = (dir.path().join("minted.jsonl"), dir.path().join("refused.jsonl"));
        let a = create_stream(&server, json!({"name": "minted", "kind": "jsonl", "path": minted,
            "kinds": ["sso.mint"], "outcomes": ["accepted"]})).await;
        let b = create_stream(&server, json!({"name": "refused", "kind": "jsonl", "path": refused,
            "kinds": ["sso.*"], "outcomes": ["refused"]})).await;
        assert_eq!((a["kinds"].clone(), a["outcomes"].clone()), (json!(["sso.mint"]), json!(["accepted"])));
        mint_many(&server, &fx, 5).await;
        let bad = server.mint_raw(&fx, "not-a-user", None).await;
        assert_eq!(bad.status(), 404);
        for s in [&a, &b] {
            wait_for(&server.url, s["id"].as_str().unwrap(), "no lag", |s| s["lag_records"] == 0).await;
        }
        let minted = lines(&minted);
        assert_eq!(minted.len(), 5);
        assert!(minted.iter().all(|r| r["kind"] == "sso.mint" && r["outcome"] == "accepted"));
        let refused = lines(&refused);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!((refused[0]["kind"].as_str(), refused[0]["outcome"].as_str()), (Some("sso.mint"), Some("refused")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_file_is_retried_shows_failing_and_recovers_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let path = logs.join("audit.jsonl");
        let created = create_stream(&server, json!({"name": "siem", "kind": "jsonl", "path": path})).await;
        let id = created["id"].as_str().unwrap();
        wait_for(&server.url, id, "no lag", |s| s["lag_records"] == 0).await;
        let before = newest_id(&server).await;
        // The directory goes away: every append fails until it is back.
        std::fs::remove_dir_all(&logs).unwrap();
        mint_many(&server, &fx, 3).await;
        let mut status = wait_for(&server.url, id, "a failure", |s| s["failures"].as_u64() >= Some(1)).await;
        assert_eq!(status["state"], "active");
        assert!(status["last_error"].as_str().unwrap().contains("cannot append"), "{status}");
        assert!(status["next_attempt_at"].is_string(), "waiting out its backoff: {status}");
        for failures in 2..=5 {
            // The clock stands still: nothing is retried before the test moves it past the
            // backoff (at most a minute).
            assert_eq!(server.admin_get(&format!("/streams/{id}")).await["failures"], failures - 1);
            server.clock.advance(61);
            status = wait_for(&server.url, id, "another failure", |s| s["failures"].as_u64() >= Some(failures)).await;
        }
        assert_eq!(status["state"], "failing");
        assert!(status["lag_records"].as_u64().unwrap() >= 3, "nothing was delivered: {status}");
        let text = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("handoff_stream_failing{stream=\"siem\"} 1"), "{text}");
        assert!(text.contains("handoff_stream_failures_total{stream=\"siem\"}"), "{text}");

        std::fs::create_dir(&logs).unwrap();
        server.clock.advance(61);
        let status = wait_for(&server.url, id, "recovery", |s| s["lag_records"] == 0).await;
        assert_eq!((status["state"].as_str(), status["failures"].as_u64()), (Some("active"), Some(0)));
        assert!(status.get("last_error").is_none());
        assert_eq!(ids(&lines(&path)), committed_after(&server.database_url, before).await, "nothing lost");
        let text = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("handoff_stream_failing{stream=\"siem\"} 0"), "{text}");
        assert!(text.contains("handoff_stream_lag_records{stream=\"siem\"} 0"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_stream_delivers_nothing_and_resumes_from_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let path = dir.path().join("audit.jsonl");
        let created = create_stream(&server, json!({"name": "siem", "kind": "jsonl", "path": path})).await;
        let id = created["id"].as_str().unwrap();
        wait_for(&server.url, id, "no lag", |s| s["lag_records"] == 0).await;
        let paused = server.admin_post(&format!("/streams/{id}/pause"), json!({})).await;
        assert_eq!(paused["state"], "paused");
        let delivered = lines(&path).len();
        mint_many(&server, &fx, 4).await;
        // What the background task would do, run here: a paused stream is skipped.
        server.services.deliver_streams().await;
        assert_eq!(lines(&path).len(), delivered, "nothing while paused");
        let listed = server.admin_get("/streams").await;
        assert_eq!(listed["items"][0]["state"], "paused");
        assert!(listed["items"][0]["lag_records"].as_u64().unwrap() >= 5, "the mints and the pause: {listed}");

        let resumed = server.admin_post(&format!("/streams/{id}/resume"), json!({})).await;
        assert_ne!(resumed["state"], "paused");
        wait_for(&server.url, id, "no lag", |s| s["lag_records"] == 0).await;
        let all = lines(&path);
        let kinds: Vec<&str> = all.iter().map(|r| r["kind"].as_str().unwrap()).collect();
        assert_eq!(&kinds[delivered..], ["admin.stream.pause", "sso.mint", "sso.mint", "sso.mint", "sso.mint", "admin.stream.resume"]);
        assert_eq!(all.len(), ids(&all).into_iter().collect::<std::collections::BTreeSet<_>>().len(), "each once");
    }

    #[tokio::test]
    async fn streams_are_managed_and_audited_and_refusals_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let path = dir.path().join("a.jsonl");
        let created = create_stream(&server, json!({"name": "siem", "kind": "jsonl", "path": path})).await;
        let id = created["id"].as_str().unwrap();
        assert_eq!(server.admin_get(&format!("/streams/{id}")).await["name"], "siem");
        assert_eq!(server.admin_get("/streams").await["items"].as_array().unwrap().len(), 1);

        let refusals = [
            (json!({"name": "siem", "kind": "jsonl", "path": dir.path().join("b.jsonl")}), 409, "conflict"),
            (json!({"name": "Not A Slug", "kind": "jsonl", "path": path}), 400, "invalid-request"),
            (json!({"name": "s3", "kind": "s3", "path": path}), 400, "invalid-request"),
            (json!({"name": "rel", "kind": "jsonl", "path": "audit.jsonl"}), 400, "invalid-request"),
            (json!({"name": "nodir", "kind": "jsonl", "path": dir.path().join("no/such/dir.jsonl")}), 400, "invalid-request"),
            (json!({"name": "dir", "kind": "jsonl", "path": dir.path()}), 400, "invalid-request"),
            (json!({"name": "mixed", "kind": "jsonl", "path": path, "url": "https://siem.example.com/"}), 400, "invalid-request"),
            (json!({"name": "nourl", "kind": "webhook"}), 400, "invalid-request"),
            (json!({"name": "plain", "kind": "webhook", "url": "http://siem.example.com/in"}), 400, "invalid-request"),
            (json!({"name": "private", "kind": "webhook", "url": "https://10.0.0.7/in"}), 400, "invalid-request"),
            (json!({"name": "kinds", "kind": "jsonl", "path": path, "kinds": ["sso mint"]}), 400, "invalid-request"),
            (json!({"name": "outcomes", "kind": "jsonl", "path": path, "outcomes": ["maybe"]}), 400, "invalid-request"),
            (json!({"name": "extra", "kind": "jsonl", "path": path, "colour": "red"}), 400, "invalid-request"),
        ];
        for (body, status, slug) in &refusals {
            let response = server.admin_request(Method::POST, "/streams").json(body).send().await.unwrap();
            assert_problem(response, *status, slug).await;
        }
        let refused = server.audit("kind=admin.request&outcome=refused&limit=100").await;
        assert_eq!(refused.len(), refusals.len(), "every refusal is audited: {refused:?}");
        for missing in [Method::GET, Method::DELETE] {
            let response = server.admin_request(missing, "/streams/0190a1b2-0000-7000-8000-000000000000").send().await.unwrap();
            assert_problem(response, 404, "not-found").await;
        }
        let response = server.admin_request(Method::POST, "/streams/nope/pause").send().await.unwrap();
        assert_problem(response, 404, "not-found").await;
        let unauthenticated = server.http.get(format!("{}/admin/v1/streams", server.url)).send().await.unwrap();
        assert_problem(unauthenticated, 401, "authentication-required").await;

        let deleted = server.admin_request(Method::DELETE, &format!("/streams/{id}")).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        assert!(server.admin_get("/streams").await["items"].as_array().unwrap().is_empty());
        for kind in ["admin.stream.create", "admin.stream.delete"] {
            let records = server.audit(&format!("kind={kind}&outcome=accepted")).await;
            assert_eq!(records.len(), 1, "{kind}");
            assert!(records[0]["detail"].as_str().unwrap().contains("stream=siem"), "{records:?}");
        }
    }
}

// The CLI runs as a blocking child process: the server needs a worker thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_streams() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start().await;
    let cli = |args: &[&str]| -> Value {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(["admin", "--url", &server.url, "--token", crate::harness::ADMIN_TOKEN, "streams"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap()
        }
    };
    let path = dir.path().join("audit.jsonl");
    let created = cli(&[
        "create",
        "--name",
        "siem",
        "--kind",
        "jsonl",
        "--path",
        path.to_str().unwrap(),
        "--kind-filter",
        "admin.*",
        "--outcome",
        "accepted",
    ]);
    let id = created["id"].as_str().unwrap();
    assert_eq!((created["kinds"].clone(), created["outcomes"].clone()), (json!(["admin.*"]), json!(["accepted"])));
    assert_eq!(cli(&["list"])["items"][0]["id"], id);
    assert_eq!(cli(&["pause", id])["state"], "paused");
    assert_eq!(cli(&["get", id])["state"], "paused");
    assert_ne!(cli(&["resume", id])["state"], "paused");
    assert_eq!(cli(&["delete", id]), Value::Null);
    assert!(cli(&["list"])["items"].as_array().unwrap().is_empty());
    let via: Vec<Value> = server.audit("kind=admin.stream.pause").await;
    assert_eq!(via.len(), 1);
}

backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_are_run_from_the_console() {
        use crate::console_resources::{via_console, Console};
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let console = Console::sign_in(&server).await;
        let list = console.page("/admin/streams").await;
        assert!(list.contains("aria-current=\"page\">Streams</a>"), "{list}");
        assert!(list.contains("No streams yet"), "{list}");

        // A refused field is shown on the form, with what was sent.
        let refused = console.post("/admin/streams", &[("name", "siem"), ("kind", "jsonl"), ("path", "relative.jsonl")]).await;
        assert_eq!(refused.status(), 400);
        let html = refused.text().await.unwrap();
        assert!(html.contains("path must be an absolute file path"), "{html}");
        assert!(html.contains("value=\"relative.jsonl\""), "{html}");

        let path = dir.path().join("audit.jsonl");
        let created = console
            .post("/admin/streams", &[("name", "siem"), ("kind", "jsonl"), ("path", path.to_str().unwrap()),
                ("url", "https://ignored.example.com/"), ("kinds", "admin.*\n"), ("outcome", "accepted")])
            .await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        assert!(html.contains("<h1>siem</h1>") && html.contains("admin.*") && html.contains("accepted"), "{html}");
        assert!(!html.contains("shown only this once"), "a file stream has no secret");
        let stream = &server.admin_get("/streams").await["items"][0];
        let id = stream["id"].as_str().unwrap().to_owned();
        assert_eq!((stream["kinds"].clone(), stream["outcomes"].clone()), (json!(["admin.*"]), json!(["accepted"])));
        assert!(console.page("/admin/streams").await.contains(&format!("/admin/streams/{id}")));

        let paused = console.post(&format!("/admin/streams/{id}/pause"), &[]).await;
        assert_eq!(paused.status(), 303);
        let page = console.page(&format!("/admin/streams/{id}")).await;
        assert!(page.contains("<dd>paused</dd>") && page.contains(">Resume</button>"), "{page}");
        assert_eq!(console.post(&format!("/admin/streams/{id}/resume"), &[]).await.status(), 303);
        assert!(console.page(&format!("/admin/streams/{id}")).await.contains(">Pause</button>"));

        assert!(console.page(&format!("/admin/streams/{id}/delete")).await.contains("the stream siem"));
        assert_eq!(console.post(&format!("/admin/streams/{id}/delete"), &[]).await.status(), 303);
        assert!(server.admin_get("/streams").await["items"].as_array().unwrap().is_empty());
        for kind in ["admin.stream.create", "admin.stream.pause", "admin.stream.resume", "admin.stream.delete"] {
            via_console(&server, kind).await;
        }
    }
}
