//! The OpenAPI document: served at `/openapi.json` with every operation (each `#[utoipa::path]` in
//! the server's sources), readable at `/openapi`, and true to the server. schemathesis (PyPI,
//! pinned in `tests/schemathesis/`) generates requests from the document — valid ones, invalid
//! ones, ones without credentials — and checks each answer against it: status, content type,
//! headers, body schema, never a 5xx. CI installs it (`.ci/run`); without it the test says
//! SKIPPED, and fails under `CI`.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{header, TestServer, ADMIN_TOKEN};

/// The schemathesis command line.
fn schemathesis() -> Command {
    let mut command = Command::new("python3");
    command.args(["-m", "schemathesis.cli"]);
    command
}

/// Whether schemathesis is installed; panics under CI when it is not.
fn schemathesis_installed() -> bool {
    let installed = schemathesis().arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        assert!(std::env::var_os("CI").is_none(), "CI must pip install -r tests/schemathesis/requirements.txt");
        eprintln!("SKIPPED: the schema test needs schemathesis (pip install -r tests/schemathesis/requirements.txt)");
    }
    installed
}

#[tokio::test]
async fn the_document_lists_every_operation_and_has_a_reference_page() {
    let server = TestServer::start().await;
    let response = server.http.get(format!("{}/openapi.json", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], server.url.as_str());
    let operations = operations(&doc);
    for expected in [
        "post /v1/sso",
        "patch /v1/organizations/{organization_id}/users/{user_id}",
        "post /v1/inbound/{slug}/sso",
        "get /auth/sso",
        "get /auth/verify",
        "get /launch/{slug}",
        "post /admin/v1/suppliers/{id}/secrets",
        "put /admin/v1/partners/{partner_id}/organizations/{organization_id}",
        "get /admin/v1/audit",
        "get /.well-known/jwks.json",
        "get /metrics",
    ] {
        assert!(operations.contains(&expected.to_owned()), "{expected} is not documented: {operations:?}");
    }
    assert!(operations.len() >= 50, "{} operations", operations.len());
    assert_eq!(doc["paths"]["/admin/v1/keys"]["get"]["security"], json!([{"admin_token": []}]));
    assert!(doc["components"]["securitySchemes"]["admin_token"]["scheme"] == "bearer");

    let page = server.http.get(format!("{}/openapi", server.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-security-policy").is_some_and(|csp| csp.contains("frame-ancestors 'none'")));
    assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<h2 id=\"post-v1-sso\"><code>POST /v1/sso</code></h2>"), "{html}");
    assert!(html.contains("x-partner-secret"));
    assert!(html.contains("ErrorEnvelope"));
}

/// Every operation of the document, as `"method path"`.
fn operations(doc: &Value) -> Vec<String> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| format!("{method} {path}")))
        .collect()
}

/// Every `#[utoipa::path(method, path = "…"` in the server's sources, as `"method path"` with the
/// file it is in. Walks the folders, so it keeps finding them when files move.
fn annotated_operations(folder: &Path, found: &mut Vec<(String, String)>) {
    const ATTRIBUTE: &str = "#[utoipa::path(";
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            annotated_operations(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // At the start of a line: an attribute, not a mention in a comment.
        for (number, line) in text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with(ATTRIBUTE)) {
            let place = format!("{}:{}", path.display(), number + 1);
            let operation = line.trim_start()[ATTRIBUTE.len()..].split_once(',').and_then(|(method, rest)| {
                Some((method.trim(), rest.trim_start().strip_prefix("path = \"")?.split_once('"')?.0))
            });
            let (method, route) =
                operation.unwrap_or_else(|| panic!("{place}: expected `{ATTRIBUTE}method, path = \"…\"`"));
            found.push((format!("{method} {route}"), place));
        }
    }
}

#[tokio::test]
async fn every_annotated_operation_is_in_the_document() {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../handoff-server/src").canonicalize().unwrap();
    let mut annotated = Vec::new();
    annotated_operations(&sources, &mut annotated);
    assert!(annotated.len() >= 50, "only {} annotations found under {}", annotated.len(), sources.display());

    let server = TestServer::start().await;
    let doc: Value =
        server.http.get(format!("{}/openapi.json", server.url)).send().await.unwrap().json().await.unwrap();
    let documented = operations(&doc);
    let missing: Vec<String> = annotated
        .iter()
        .filter(|(operation, _)| !documented.contains(operation))
        .map(|(operation, place)| format!("{operation} ({place})"))
        .collect();
    assert!(missing.is_empty(), "annotated but not in the document (add them to the module's `Api`): {missing:#?}");
}

// schemathesis is a blocking child process: the server needs worker threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_server_true_to_its_document() {
    if !schemathesis_installed() {
        return;
    }
    // Limits stay on but high: the generated requests without credentials would otherwise
    // meet the failed-authentication limit, and the run would test little beyond 429.
    let server = TestServer::with(|c| {
        c.failed_auth_limit = Some(1_000_000);
        c.failed_auth_limit_per_partner = Some(1_000_000);
        c.partner_rate_limit = Some(0);
    })
    .await;
    let fx = server.fixture().await;
    let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
    let slug = "portal";
    server
        .admin_post("/inbound-integrations", json!({"slug": slug, "unknown_user": "provision", "sandbox": true}))
        .await;

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/schemathesis/schemathesis.toml");
    // Two runs: first everything but the admin API, on intact fixtures; then the admin API,
    // which may delete or rotate them (it finds their ids in its own lists).
    let mut tested = 0;
    for tags in [["--exclude-tag", "admin"], ["--include-tag", "admin"]] {
        let mut command = schemathesis();
        command.arg("--config-file").arg(&config).args(["--no-color", "run", &format!("{}/openapi.json", server.url)]);
        command.args(["--workers", "2"]).args(tags);
        // A longer run than CI's: HANDOFF_SCHEMATHESIS_EXAMPLES=500 cargo nextest run schemathesis
        if let Ok(examples) = std::env::var("HANDOFF_SCHEMATHESIS_EXAMPLES") {
            command.args(["--max-examples", &examples]);
        }
        let output = command
            .env("HANDOFF_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HANDOFF_TEST_PARTNER_ID", &fx.credentials.partner_id)
            .env("HANDOFF_TEST_PARTNER_SECRET", &fx.credentials.partner_secret)
            .env("HANDOFF_TEST_ORGANIZATION_ID", &fx.credentials.organization_id)
            .env("HANDOFF_TEST_ORGANIZATION_SECRET", &fx.credentials.organization_secret)
            .env("HANDOFF_TEST_USER_ID", &fx.user.id)
            .env("HANDOFF_TEST_INBOUND_SLUG", slug)
            .env("HANDOFF_TEST_COOKIE", &cookie)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "schemathesis {tags:?} failed:\n{stdout}\n{stderr}");
        // The summary (operations, phases, cases) for the log.
        if let Some(at) = stdout.find("SUMMARY") {
            eprintln!("{tags:?}\n{}", &stdout[at..]);
        }
        tested += stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("Tested: "))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_default();
    }
    // It did test every operation of the document, with generated cases.
    assert!(tested >= 50, "{tested} operations tested");
}
