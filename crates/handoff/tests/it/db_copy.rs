//! `handoff db copy` with the real binary: a SQLite installation with a live session, a used
//! link and a remembered webhook event is stopped, copied into a freshly migrated PostgreSQL
//! database and served there — the session still works, the used link and the event stay
//! refused, the keys are the same and the audit log is complete. Also what the copy refuses.
//!
//! `Installed` (what an installation holds that must survive a move) is shared with `backup.rs`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use handoff_client::Client;
use handoff_webhook::SignatureProfile;

use crate::harness::sign_one;
use handoff_testkit::postgres;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{header, http_client, remote_fixture, verify_with_jwks, RemoteFixture, Spawned, ADMIN_TOKEN};

/// The master key of every installation here, as an operator configures it.
pub const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Runs the `handoff` binary to completion.
pub fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .env_remove("HANDOFF_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// SIGTERM, and wait for the clean exit: the installation is stopped.
pub fn stop(server: &mut Spawned) {
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(server.child.wait().unwrap().success(), "{}", server.stderr());
}

/// A signed inbound event as the portal sent it, for replaying it byte for byte.
pub struct SentEvent {
    slug: String,
    body: Vec<u8>,
    timestamp: String,
    signature: String,
}

impl SentEvent {
    pub async fn send(&self, url: &str) -> reqwest::Response {
        http_client()
            .post(format!("{url}/v1/inbound/{}/sso", self.slug))
            .header("content-type", "application/json")
            .header("Vinst-Timestamp", &self.timestamp)
            .header("Vinst-Signature", &self.signature)
            .body(self.body.clone())
            .send()
            .await
            .unwrap()
    }
}

/// What an installation holds that must survive a move, as its clients saw it.
pub struct Installed {
    pub fixture: RemoteFixture,
    /// A portal session cookie (`name=value`) of a redeemed link.
    pub cookie: String,
    /// The link that cookie came from: redeemed, so refused from now on.
    pub used_link: String,
    /// A link minted and never opened: redeemable once, wherever the data goes.
    pub unused_link: String,
    /// An identity token the session got, signed with the identity key.
    pub identity_token: String,
    pub event: SentEvent,
    pub jwks: Value,
}

/// Fills the installation at `url` with everything [`Installed`] names.
pub async fn install(url: &str) -> Installed {
    let fixture = remote_fixture(url).await;
    let client = Client::new(url);
    let http = http_client();
    let used_link = client.mint_sso_link(&fixture.credentials, &fixture.user_id, Some("/dashboard/a")).await.unwrap();
    let redeemed = http.get(&used_link.redirect_url).send().await.unwrap();
    assert_eq!(redeemed.status(), 303);
    let cookie = crate::harness::set_cookie_pair(&redeemed);
    let identity_token = verify(url, &cookie).await;
    let unused_link = client.mint_sso_link(&fixture.credentials, &fixture.user_id, Some("/dashboard/b")).await.unwrap();

    let admin = Client::new(url).with_admin_token(ADMIN_TOKEN);
    let organization: Value = admin
        .admin(Method::POST, "/organizations", Some(&json!({"name": "Vinst org", "org_numbers": ["123456789"]})))
        .await
        .unwrap();
    let integration: Value = admin
        .admin(
            Method::POST,
            "/inbound-integrations",
            Some(&json!({"slug": "vinst", "unknown_user": "provision", "tolerance_seconds": 300})),
        )
        .await
        .unwrap();
    let path = format!(
        "/inbound-integrations/{}/organizations/{}",
        integration["id"].as_str().unwrap(),
        organization["id"].as_str().unwrap()
    );
    admin.admin::<Value, Value>(Method::PUT, &path, None).await.unwrap();
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let body = serde_json::to_vec(&json!({
        "eventId": uuid::Uuid::new_v4().to_string(), "eventType": "Vinst_SSO",
        "eventTimestamp": now.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "data": {"email": "e@vinst.no", "firstName": "E", "lastName": "V", "orgNo": "123456789"}
    }))
    .unwrap();
    let timestamp = now.unix_timestamp().to_string();
    let signature =
        sign_one(SignatureProfile::TimestampBodyHex, integration["secret"].as_str().unwrap(), &timestamp, &body);
    let event = SentEvent { slug: "vinst".into(), body, timestamp, signature };
    assert_eq!(event.send(url).await.status(), 200);

    let jwks = jwks(url).await;
    Installed {
        fixture,
        cookie,
        used_link: used_link.redirect_url,
        unused_link: unused_link.redirect_url,
        identity_token,
        event,
        jwks,
    }
}

pub async fn jwks(url: &str) -> Value {
    http_client().get(format!("{url}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
}

/// `GET /auth/verify` with `cookie` must pass; answers the identity token it hands out.
async fn verify(url: &str, cookie: &str) -> String {
    let response = http_client().get(format!("{url}/auth/verify")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(response.status(), 200, "the session does not work at {url}");
    header(&response, "x-handoff-token").unwrap().to_owned()
}

/// Every audit record of the server at `url`, newest first.
pub async fn audit_log(url: &str) -> Vec<Value> {
    let admin = Client::new(url).with_admin_token(ADMIN_TOKEN);
    let mut records = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value =
            admin.admin::<Value, Value>(Method::GET, &format!("/audit?limit=1000{cursor}"), None).await.unwrap();
        records.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return records,
        }
    }
}

/// Checks, on the server at `url` that took over the data of `installed`, that everything it
/// holds survived: the keys (the JWKS, a token signed before), the session, the used link and the
/// event (refused), the unused link (redeems once), and that new writes work (new audit ids).
pub async fn assert_survived(url: &str, installed: &Installed) {
    assert_eq!(jwks(url).await, installed.jwks, "the keys changed");
    let (_, claims) =
        verify_with_jwks(&http_client(), &format!("{url}/.well-known/jwks.json"), &installed.identity_token).await;
    assert_eq!(claims["sub"], installed.fixture.user_id.as_str());
    let token = verify(url, &installed.cookie).await;
    verify_with_jwks(&http_client(), &format!("{url}/.well-known/jwks.json"), &token).await;

    let http = http_client();
    let again = http.get(&installed.used_link).header("accept", "application/json").send().await.unwrap();
    assert_eq!(again.status(), 409, "a redeemed link must stay redeemed");
    let replay = installed.event.send(url).await;
    assert_eq!(replay.status(), 409, "a remembered event must stay refused");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["error"], "This eventId was already used.");
    assert_eq!(http.get(&installed.unused_link).send().await.unwrap().status(), 303);
    assert_eq!(http.get(&installed.unused_link).send().await.unwrap().status(), 409);

    // New records get new ids (on PostgreSQL: the sequence went on after the copied ids).
    let newest_before = audit_log(url).await[0]["id"].as_i64().unwrap();
    let client = Client::new(url);
    let fx = &installed.fixture;
    client.mint_sso_link(&fx.credentials, &fx.user_id, Some("/dashboard/c")).await.unwrap();
    assert!(audit_log(url).await[0]["id"].as_i64().unwrap() > newest_before);
}

/// `url` with its database name replaced by `name`.
fn on_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("handoff.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_installation_copied_to_postgres_serves_on() {
    if !postgres::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = Spawned::serve_with(dir.path(), "127.0.0.1:0", None, &["--master-key", MASTER_KEY]);
    let installed = install(&sqlite.url).await;
    // Some volume, so that the audit log takes several batches.
    let client = Client::new(&sqlite.url);
    for i in 0..60 {
        let fx = &installed.fixture;
        client.mint_sso_link(&fx.credentials, &fx.user_id, Some(&format!("/d/{i}"))).await.unwrap();
    }
    let audit = audit_log(&sqlite.url).await;
    stop(&mut sqlite);

    let cluster = postgres::Cluster::start();
    // A password in the URL (trust ignores it): it must never be printed.
    cluster.psql("CREATE ROLE mover LOGIN SUPERUSER PASSWORD 'pw-never-printed'");
    let target = cluster.url.replace("postgres@", "mover:pw-never-printed@");
    let data = dir.path().to_str().unwrap();
    let migrated = handoff(&["migrate", "--data-dir", data, "--database-url", &target]);
    assert!(migrated.status.success(), "{}", text(&migrated));

    let from = sqlite_url(dir.path());
    let copied = handoff(&["db", "copy", "--from", &from, "--to", &target, "--batch", "25"]);
    let out = text(&copied);
    assert!(copied.status.success(), "{out}");
    assert!(!out.contains("pw-never-printed"), "{out}");
    assert!(out.contains("mover:***@"), "{out}");
    let total = audit.len();
    let progress = String::from_utf8_lossy(&copied.stderr);
    assert!(progress.contains(&format!("audit_log: 25/{total}")), "{progress}");
    assert!(progress.contains(&format!("audit_log: {total}/{total}")), "{progress}");
    assert!(progress.contains("consumed_tokens: 1/1") && progress.contains("webhook_events: 1/1"), "{progress}");
    let summary = String::from_utf8_lossy(&copied.stdout);
    assert!(summary.contains("row counts verified"), "{summary}");
    assert!(
        summary.contains(&format!("sequence of audit_log.id continues at {}", audit[0]["id"].as_i64().unwrap() + 1)),
        "{summary}"
    );

    let mut postgres = Spawned::serve_with(
        dir.path(),
        sqlite.url.trim_start_matches("http://"),
        Some(&cluster.url),
        &["--master-key", MASTER_KEY],
    );
    assert_eq!(postgres.url, sqlite.url);
    // First, before anything new is written: the audit log is complete and equal, after the
    // record of the copy itself.
    let log = audit_log(&postgres.url).await;
    assert_eq!(log[1..], audit[..]);
    assert_eq!((log[0]["kind"].as_str(), log[0]["outcome"].as_str()), (Some("admin.db.copy"), Some("accepted")));
    let detail = log[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with(&format!("from={from} version=")) && detail.ends_with("via=cli"), "{detail}");
    assert!(log[0]["id"].as_i64().unwrap() > audit[0]["id"].as_i64().unwrap());
    assert_survived(&postgres.url, &installed).await;

    // Refusals, each a clear message and a non-zero exit, the password never shown:
    let refused = |output: Output, expected: &str| {
        let out = text(&output);
        assert!(!output.status.success(), "{out}");
        assert!(out.contains(expected), "expected {expected:?} in: {out}");
        assert!(!out.contains("pw-never-printed"), "{out}");
    };
    // a target that is not empty (the one just copied into),
    refused(handoff(&["db", "copy", "--from", &from, "--to", &target]), "is not empty (rows in ");
    // a target that is not migrated,
    cluster.psql("CREATE DATABASE fresh");
    let fresh = on_database(&target, "fresh");
    refused(handoff(&["db", "copy", "--from", &from, "--to", &fresh]), "is not migrated");
    // a target at another schema version,
    cluster.psql("CREATE DATABASE older");
    let older = on_database(&target, "older");
    assert!(handoff(&["migrate", "--data-dir", data, "--database-url", &older]).status.success());
    postgres::psql(&older, "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)");
    refused(handoff(&["db", "copy", "--from", &from, "--to", &older]), "the schemas differ: the source is at version");
    // and the directions it does not copy.
    refused(handoff(&["db", "copy", "--from", &target, "--to", &fresh]), "--from must be a SQLite database");
    refused(handoff(&["db", "copy", "--from", &from, "--to", &from]), "--to must be a PostgreSQL database");
    // The refused copies wrote nothing.
    let tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'";
    assert_eq!(postgres::psql(&fresh, tables).trim(), "0");
    assert_eq!(postgres::psql(&older, "SELECT COUNT(*) FROM keys").trim(), "0");
    stop(&mut postgres);
}

/// The documented procedure stops the source first. A copy of a source that is still serving
/// reads one snapshot; if anything was committed to the source meanwhile, it is refused and
/// the target left empty, rather than leaving PostgreSQL behind the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_source_written_meanwhile_is_refused_and_writes_nothing() {
    if !postgres::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = ["--master-key", MASTER_KEY, "--partner-rate-limit", "0"];
    let sqlite = Spawned::serve_with(dir.path(), "127.0.0.1:0", None, &args);
    let fx = remote_fixture(&sqlite.url).await;
    let cluster = postgres::Cluster::start();
    let data = dir.path().to_str().unwrap().to_owned();
    assert!(handoff(&["migrate", "--data-dir", &data, "--database-url", &cluster.url]).status.success());

    // Clients mint flat out until the copy has ended; the copy starts once each has minted, so
    // the writes are under way (and not still connecting) while it runs.
    let copying = Arc::new(AtomicBool::new(true));
    let minted = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..3 {
        let (client, credentials, user_id, copying, minted) =
            (Client::new(&sqlite.url), fx.credentials.clone(), fx.user_id.clone(), copying.clone(), minted.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while copying.load(Ordering::SeqCst) {
                client.mint_sso_link(&credentials, &user_id, Some(&format!("/d/{c}/{i}"))).await.unwrap();
                minted.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        }));
    }
    while minted.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (from, to) = (sqlite_url(dir.path()), cluster.url.clone());
    // One row per statement: the copy takes a while, and the clients write throughout.
    let copied =
        tokio::task::spawn_blocking(move || handoff(&["db", "copy", "--from", &from, "--to", &to, "--batch", "1"]))
            .await
            .unwrap();
    copying.store(false, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let out = text(&copied);
    assert!(!copied.status.success(), "{out}");
    assert!(out.contains("the source database changed while it was copied"), "{out}");
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM audit_log").trim(), "0");
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM organizations").trim(), "0");
}
