//! Standard Webhooks (`signature_profile: "standard-webhooks"`) on both sides: an inbound
//! integration accepts what the reference implementation (PyPI `standardwebhooks`, pinned in
//! `tests/standard-webhooks/`) signs and refuses each broken variant with the failed check as
//! audit reason; a launch sends what the reference implementation verifies, with one signature
//! per secret during a rotation's overlap. Without the reference library the interop tests say
//! SKIPPED, and fail under `CI`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use handoff_core::Clock;
use handoff_webhook::SignatureProfile;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestServer;
use crate::launch::{allowing_private, create_supplier_signing, launch_request, signed_in, start_supplier};

const SW: SignatureProfile = SignatureProfile::StandardWebhooks;

/// The SDK's example supplier, compiled into this test binary as it is written.
#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../../../handoff-client/examples/supplier.rs"]
mod supplier_example;

/// A reference implementation of Standard Webhooks, driven through its script's command line
/// (`sign SECRET MSG_ID TIMESTAMP BODY_FILE`, `verify SECRET REQUEST_FILE`).
#[derive(Debug, Clone, Copy)]
enum Reference {
    /// PyPI `standardwebhooks`: `tests/standard-webhooks/interop.py`.
    Python,
    /// npm `standardwebhooks`: `tests/browser/standard-webhooks.mjs`.
    Node,
}

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

impl Reference {
    fn command(self) -> Command {
        let (program, script) = match self {
            Reference::Python => ("python3", "tests/standard-webhooks/interop.py"),
            Reference::Node => ("node", "tests/browser/standard-webhooks.mjs"),
        };
        let mut command = Command::new(program);
        command.arg(repo(script));
        command
    }

    fn installed(self) -> bool {
        match self {
            Reference::Python => Command::new("python3")
                .args(["-c", "import standardwebhooks"])
                .output()
                .is_ok_and(|o| o.status.success()),
            Reference::Node => {
                repo("tests/browser/node_modules/standardwebhooks/package.json").exists()
                    && Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success())
            }
        }
    }

    /// The reference's `webhook-signature` for `body`.
    fn sign(self, secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.json");
        std::fs::write(&file, body).unwrap();
        let output =
            self.command().args(["sign", secret, id, &timestamp.to_string(), file.to_str().unwrap()]).output().unwrap();
        assert!(output.status.success(), "{self:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The reference's verdict on a captured request: "valid" or "invalid: …".
    fn verify(self, secret: &str, capture: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("request.txt");
        std::fs::write(&file, capture).unwrap();
        let output = self.command().args(["verify", secret, file.to_str().unwrap()]).output().unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

/// The installed reference implementations; under CI both must be (`.ci/run` installs them).
fn references() -> Vec<Reference> {
    let mut installed = Vec::new();
    for reference in [Reference::Python, Reference::Node] {
        if reference.installed() {
            installed.push(reference);
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must pip install -r tests/standard-webhooks/requirements.txt and npm ci --prefix tests/browser"
            );
            eprintln!("SKIPPED: {reference:?} reference library not installed (see tests/standard-webhooks/)");
        }
    }
    installed
}

/// How many signatures a captured request's `webhook-signature` lists.
fn signature_entries(capture: &[u8]) -> usize {
    let text = String::from_utf8_lossy(capture);
    let value = text.lines().find_map(|l| l.strip_prefix("webhook-signature: ")).unwrap();
    value.split(' ').count()
}

/// A request's `webhook-id`, `webhook-timestamp` and `webhook-signature` (each may be left out)
/// and the audit reason of its refusal.
type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<String>, &'a str);

struct Portal {
    slug: String,
    secret: String,
    id: String,
}

/// An organization and a `standard-webhooks` integration that provisions its users.
async fn portal(server: &TestServer) -> Portal {
    let org =
        server.admin_post("/organizations", json!({"name": "Fjordklinikken", "org_numbers": ["123456789"]})).await;
    let created = server
        .admin_post(
            "/inbound-integrations",
            json!({"slug": "svix", "unknown_user": "provision", "signature_profile": "standard-webhooks", "sandbox": true}),
        )
        .await;
    assert_eq!(created["signature_profile"], "standard-webhooks");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/inbound-integrations/{id}/organizations/{}", org["id"].as_str().unwrap());
    server.admin.admin::<Value, Value>(Method::PUT, &path, None).await.unwrap();
    Portal { slug: "svix".into(), secret: created["secret"].as_str().unwrap().to_owned(), id }
}

/// A `whsec_` secret of 32 bytes in standard base64, as the spec's libraries decode it.
fn assert_standard_secret(secret: &str) {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    assert_eq!(key.len(), 32);
}

fn event(event_id: &str) -> Vec<u8> {
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    serde_json::to_vec(&json!({
        "eventId": event_id, "eventType": "Vinst_SSO", "eventTimestamp": now,
        "data": {"email": "sw@b.no", "firstName": "Sara", "lastName": "Wik", "orgNo": "123456789"}
    }))
    .unwrap()
}

/// POSTs `body` with these `webhook-*` headers (`None` leaves one out); status and answer.
async fn post(
    server: &TestServer,
    portal: &Portal,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut request = server
        .http
        .post(format!("{}/v1/inbound/{}/sso", server.url, portal.slug))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)] {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The reasons of the refused `inbound.sso` records, oldest first.
async fn refusal_reasons(server: &TestServer) -> Vec<String> {
    let records = server.audit("kind=inbound.sso&outcome=refused&limit=100").await;
    records.iter().rev().map(|r| r["reason"].as_str().unwrap().to_owned()).collect()
}

backend_tests! {
    #[tokio::test]
    async fn the_sdk_supplier_example_receives_a_real_launch() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = allowing_private().await;
        let created = server
            .admin_post(
                "/suppliers",
                json!({"slug": "rusty", "name": "Rusty", "signature_profile": "standard-webhooks",
                       "endpoint": format!("http://127.0.0.1:{port}/handoff/launch"),
                       "allowed_redirect_hosts": ["app.supplier.example"]}),
            )
            .await;
        let secret = created["secret"].as_str().unwrap();
        let verifier = handoff_client::webhooks::Verifier::new(SW, [secret], 15).unwrap();
        tokio::spawn(async move { axum::serve(listener, supplier_example::app(verifier)).await });
        let (_, cookie) = signed_in(&server).await;
        let response = launch_request(&server, "rusty", &cookie).send().await.unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(
            crate::harness::header(&response, "location"),
            Some("https://app.supplier.example/welcome?user=kari@nordmann.no")
        );
        // A secret the example does not hold: its extractor refuses, and the launch says so.
        let id = created["id"].as_str().unwrap();
        server.admin_post(&format!("/suppliers/{id}/secrets"), json!({"overlap_seconds": 0})).await;
        let response = launch_request(&server, "rusty", &cookie).send().await.unwrap();
        assert_eq!(response.status(), 502);
        let page = response.text().await.unwrap();
        assert!(page.contains("The supplier answered 401 instead of 200."), "{page}");
    }

    #[tokio::test]
    async fn inbound_refusals_name_the_failed_check_and_both_ids_are_remembered() {
        let server = TestServer::start().await;
        let portal = portal(&server).await;
        assert_standard_secret(&portal.secret);
        let now = server.clock.unix();
        let ts = now.to_string();
        let body = event("evt-1");
        let sign = |secret: &str, id: &str, ts: &str, body: &[u8]| SW.sign(&[secret], id, ts, body).unwrap();
        let good = sign(&portal.secret, "msg_1", &ts, &body);
        let stale = (now - 16).to_string();
        let future = (now + 16).to_string();
        let cases: Vec<Case> = vec![
            (Some("msg_1"), Some(&ts), None, "signature-header-missing"),
            (None, Some(&ts), Some(good.clone()), "webhook-id-missing"),
            (Some("msg 1"), Some(&ts), Some(good.clone()), "webhook-id-invalid"),
            (Some("msg_1"), None, Some(good.clone()), "timestamp-missing"),
            (Some("msg_1"), Some("2026-01-01T00:00:00Z"), Some(good.clone()), "timestamp-invalid"),
            (Some("msg_1"), Some(&stale), Some(sign(&portal.secret, "msg_1", &stale, &body)), "timestamp-outside-tolerance"),
            (Some("msg_1"), Some(&future), Some(sign(&portal.secret, "msg_1", &future, &body)), "timestamp-outside-tolerance"),
            (Some("msg_1"), Some(&ts), Some(good.replacen("v1,", "v2,", 1)), "signature-version-unsupported"),
            (Some("msg_1"), Some(&ts), Some("v1,".into()), "signature-mismatch"),
            (Some("msg_1"), Some(&ts), Some(good[..good.len() - 4].to_owned()), "signature-mismatch"),
            (Some("msg_2"), Some(&ts), Some(good.clone()), "signature-mismatch"),
        ];
        for (id, timestamp, signature, _) in &cases {
            let (status, answer) = post(&server, &portal, *id, *timestamp, signature.as_deref(), &body).await;
            assert_eq!(status, 401, "{answer}");
            assert_eq!(answer.as_object().unwrap().len(), 1, "seed 002's error shape: {answer}");
        }
        let reasons = refusal_reasons(&server).await;
        assert_eq!(reasons, cases.iter().map(|c| c.3).collect::<Vec<_>>());

        // Accepted once; the same webhook-id again, or the same eventId under a new webhook-id
        // (both signed), is a replay.
        let (status, answer) = post(&server, &portal, Some("msg_1"), Some(&ts), Some(&good), &body).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["redirectUrl"].as_str().unwrap().contains("/auth/sso?token="));
        let again = event("evt-2");
        let same_id = sign(&portal.secret, "msg_1", &ts, &again);
        assert_eq!(post(&server, &portal, Some("msg_1"), Some(&ts), Some(&same_id), &again).await.0, 409);
        let same_event = sign(&portal.secret, "msg_3", &ts, &body);
        let (status, answer) = post(&server, &portal, Some("msg_3"), Some(&ts), Some(&same_event), &body).await;
        assert_eq!((status, answer["error"].as_str().unwrap()), (409, "This webhook-id or eventId was already used."));
        // A sender may use one value for both ids.
        let both = event("msg_4");
        let signature = sign(&portal.secret, "msg_4", &ts, &both);
        assert_eq!(post(&server, &portal, Some("msg_4"), Some(&ts), Some(&signature), &both).await.0, 200);
        let reasons = refusal_reasons(&server).await;
        assert_eq!(reasons[reasons.len() - 2..], ["replayed-event", "replayed-event"]);

        // The sandbox reads the same headers and reports each check on its own.
        let stale_signature = sign(&portal.secret, "msg_5", &stale, &body);
        let report: Value = server
            .http
            .post(format!("{}/v1/inbound/svix/sso/test", server.url))
            .header("content-type", "application/json")
            .header("webhook-id", "msg_5")
            .header("webhook-timestamp", &stale)
            .header("webhook-signature", &stale_signature)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let checks: Vec<(&str, bool)> =
            report["checks"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap(), c["ok"].as_bool().unwrap())).collect();
        assert_eq!(checks[..3], [("content-type", true), ("timestamp", false), ("signature", true)], "{report}");
        assert_eq!(report["checks"][2]["detail"], "valid for profile standard-webhooks");

        // A rotation: the new secret is issued in the profile's form; during the overlap a
        // header signed by either secret, or listing both, is accepted.
        let rotated = server
            .admin_post(&format!("/inbound-integrations/{}/secrets", portal.id), json!({"overlap_seconds": 600}))
            .await;
        let new = rotated["secret"].as_str().unwrap();
        assert_standard_secret(new);
        for (n, secrets) in [vec![portal.secret.as_str()], vec![new], vec![new, portal.secret.as_str()]].iter().enumerate() {
            let id = format!("msg_rot_{n}");
            let body = event(&format!("evt-rot-{n}"));
            let signature = SW.sign(secrets, &id, &ts, &body).unwrap();
            assert_eq!(post(&server, &portal, Some(&id), Some(&ts), Some(&signature), &body).await.0, 200, "{n}");
        }
    }

    // The reference library runs as a blocking child process: the server needs worker threads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reference_libraries_sign_what_inbound_accepts_and_their_broken_variants_are_refused() {
        for reference in references() {
            reference_signs_what_inbound_accepts(reference).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reference_libraries_verify_launches_and_each_signature_of_a_rotation() {
        for reference in references() {
            reference_verifies_launches(reference).await;
        }
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_handoff")).args(args).output().unwrap()
}

/// `handoff webhook verify --request FILE` on `capture`: (success, stdout + stderr).
fn cli_verify(capture: &str, extra: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request.txt");
    std::fs::write(&file, capture).unwrap();
    let mut args = vec!["webhook", "verify", "--request", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = cli(&args);
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// The spec's example as a captured request, with `signature` and `body`.
fn spec_capture(signature: &str, body: &str) -> String {
    format!(
        "POST /hooks HTTP/1.1\r\nContent-Type: application/json\r\nwebhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\r\n\
         webhook-timestamp: 1614265330\r\nwebhook-signature: {signature}\r\n\r\n{body}"
    )
}

// The CLI runs as a blocking child process: the server needs a worker thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_sends_and_verifies_standard_webhooks_and_names_the_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, r#"{"test": 2432232314}"#).unwrap();
    let signed = cli(&[
        "webhook",
        "sign",
        "--profile",
        "standard-webhooks",
        "--secret",
        SPEC_SECRET,
        "--id",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "--timestamp",
        "1614265330",
        "--body-file",
        body_file.to_str().unwrap(),
    ]);
    let printed = String::from_utf8(signed.stdout).unwrap();
    assert!(
        printed.starts_with("webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\n"),
        "{printed}"
    );
    assert!(printed.contains(&format!("webhook-signature: {SPEC_SIGNATURE}\n")), "{printed}");
    assert!(printed.contains(&format!("-H 'webhook-signature: {SPEC_SIGNATURE}'")), "{printed}");
    let unprefixed =
        cli(&["webhook", "sign", "--profile", "standard-webhooks", "--secret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
    assert!(!unprefixed.status.success());
    assert!(String::from_utf8_lossy(&unprefixed.stderr).contains("starts with whsec_"));

    // verify --request: the spec's example passes (an old capture: --tolerance 0), and each
    // broken variant names its check.
    let body = r#"{"test": 2432232314}"#;
    let old = ["--profile", "standard-webhooks", "--secret", SPEC_SECRET, "--tolerance", "0"];
    assert_eq!(cli_verify(&spec_capture(SPEC_SIGNATURE, body), &old), (true, "valid\n".into()));
    let fresh = ["--profile", "standard-webhooks", "--secret", SPEC_SECRET];
    let tag = SPEC_SIGNATURE.strip_prefix("v1,").unwrap();
    for (capture, args, reason) in [
        (spec_capture(SPEC_SIGNATURE, body), &fresh[..], "timestamp-outside-tolerance"),
        (spec_capture(SPEC_SIGNATURE, r#"{"test": 2432232315}"#), &old[..], "signature-mismatch"),
        (spec_capture("v1,", body), &old[..], "signature-mismatch"),
        (spec_capture(&SPEC_SIGNATURE[..30], body), &old[..], "signature-mismatch"),
        (spec_capture(&format!("v2,{tag}"), body), &old[..], "signature-version-unsupported"),
        (
            spec_capture(SPEC_SIGNATURE, body).replace("webhook-id: msg", "webhook-idx: msg"),
            &old[..],
            "webhook-id-missing",
        ),
    ] {
        let (ok, text) = cli_verify(&capture, args);
        assert!(!ok && text.contains(&format!("({reason})")), "{reason}: {text}");
    }
    let unprefixed =
        ["--profile", "standard-webhooks", "--secret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--tolerance", "0"];
    let (ok, text) = cli_verify(&spec_capture(SPEC_SIGNATURE, body), &unprefixed);
    assert!(!ok && text.contains("starts with whsec_"), "{text}");
    let (ok, text) = cli_verify("webhook-id: x\nno blank line", &old);
    assert!(!ok && text.contains("no blank line"), "{text}");
    // A Vinst capture (the seed's alternative header spelling) through the same command.
    let vinst = "X-Vinst-Timestamp: 1747144200\nX-Vinst-Signature: 0e550248693fce953d539d27f878e04521b77fd74e3307bb33a7c988b4d17319\n\n";
    let seed_body = r#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"turid@jensen.com","firstName":"Turid","lastName":"Jensen","orgNo":"123456789"}}"#;
    let args = ["--profile", "body-hex", "--secret", "whsec_test_secret", "--tolerance", "0"];
    assert_eq!(cli_verify(&format!("{vinst}{seed_body}"), &args), (true, "valid\n".into()));

    // send: a Standard Webhooks portal's request, end to end.
    let server = TestServer::start().await;
    let portal = portal(&server).await;
    let url = format!("{}/v1/inbound/svix/sso", server.url);
    let send = |secret: &str| {
        cli(&[
            "webhook",
            "send",
            "--profile",
            "standard-webhooks",
            "--url",
            &url,
            "--secret",
            secret,
            "--email",
            "cli@b.no",
        ])
    };
    let sent = send(&portal.secret);
    let stdout = String::from_utf8_lossy(&sent.stdout);
    assert!(sent.status.success() && stdout.starts_with("200\n") && stdout.contains("redirectUrl"), "{stdout}");
    let wrong = send(&SW.new_secret(&[3; 32]));
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("Invalid signature."));
    assert_eq!(refusal_reasons(&server).await, ["signature-mismatch"]);
}

/// Runs the integrator guide's one-line `openssl dgst` examples (the `sh` block after
/// `<!-- openssl-examples -->`) and compares each output with the `#` line that follows it.
#[test]
fn the_documented_openssl_examples_give_the_documented_signatures() {
    if !Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var_os("CI").is_none(), "CI must have openssl");
        eprintln!("SKIPPED: needs openssl");
        return;
    }
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/inbound-webhooks.md");
    let guide = std::fs::read_to_string(guide).unwrap();
    let block = guide.split("<!-- openssl-examples -->\n```sh\n").nth(1).unwrap().split("\n```").next().unwrap();
    let lines: Vec<&str> = block.lines().collect();
    let mut checked = 0;
    for pair in lines.windows(2) {
        let (command, expected) = (pair[0], pair[1]);
        if command.starts_with('#') {
            continue;
        }
        let output = Command::new("sh").args(["-c", command]).output().unwrap();
        assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
        let printed = String::from_utf8(output.stdout).unwrap();
        assert_eq!(format!("# {}", printed.trim()), expected, "{command}");
        checked += 1;
    }
    assert_eq!(checked, 5, "one example per profile");
    // The same values from handoff's own code.
    let body = br#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"turid@jensen.com","firstName":"Turid","lastName":"Jensen","orgNo":"123456789"}}"#;
    for profile in [SignatureProfile::TimestampBodyHex, SignatureProfile::BodyBase64] {
        let signature = profile.sign(&["whsec_test_secret"], "", "1747144200", body).unwrap();
        assert!(block.contains(&format!("# {signature}")), "{profile}");
    }
}

/// `reference` signs an event that inbound accepts; each broken variant is refused with its check.
async fn reference_signs_what_inbound_accepts(reference: Reference) {
    let server = TestServer::start().await;
    let portal = portal(&server).await;
    let now = server.clock.unix();
    let ts = now.to_string();
    let body = event("evt-ref-1");
    let signature = reference.sign(&portal.secret, "msg_ref_1", now, &body);
    assert_eq!(signature, SW.sign(&[&portal.secret], "msg_ref_1", &ts, &body).unwrap());

    let mut tampered = body.clone();
    tampered[2] ^= 1;
    let stale = reference.sign(&portal.secret, "msg_ref_1", now - 16, &body);
    let future = reference.sign(&portal.secret, "msg_ref_1", now + 16, &body);
    let tag = signature.strip_prefix("v1,").unwrap();
    let refused: Vec<(String, Vec<u8>, String, &str)> = vec![
        (ts.clone(), tampered, signature.clone(), "signature-mismatch"),
        ((now - 16).to_string(), body.clone(), stale, "timestamp-outside-tolerance"),
        ((now + 16).to_string(), body.clone(), future, "timestamp-outside-tolerance"),
        (ts.clone(), body.clone(), signature[..signature.len() - 1].to_owned(), "signature-mismatch"),
        (ts.clone(), body.clone(), format!("v1,{}", &tag[..16]), "signature-mismatch"),
        (ts.clone(), body.clone(), "v1,".into(), "signature-mismatch"),
        (ts.clone(), body.clone(), format!("v2,{tag} v1a,{tag}"), "signature-version-unsupported"),
    ];
    for (timestamp, body, signature, _) in &refused {
        let (status, answer) = post(&server, &portal, Some("msg_ref_1"), Some(timestamp), Some(signature), body).await;
        assert_eq!(status, 401, "{signature}: {answer}");
    }
    assert_eq!(refusal_reasons(&server).await, refused.iter().map(|r| r.3).collect::<Vec<_>>());

    // The genuine one, also among unknown versions and a wrong v1.
    let listed = format!("v2,{tag} v1,AAAA {signature}");
    let (status, answer) = post(&server, &portal, Some("msg_ref_1"), Some(&ts), Some(&listed), &body).await;
    assert_eq!(status, 200, "{answer}");
}

/// `reference` verifies a captured launch, and each of the two signatures of a rotation.
async fn reference_verifies_launches(reference: Reference) {
    let supplier = start_supplier().await;
    let server = allowing_private().await;
    let created = create_supplier_signing(&server, &supplier, "ok", 5, SW).await;
    let old = supplier.secret.lock().unwrap().clone();
    assert_standard_secret(&old);
    let (fx, cookie) = signed_in(&server).await;
    assert_eq!(launch_request(&server, "ok", &cookie).send().await.unwrap().status(), 303);
    let capture = supplier.captured.lock().unwrap()[0].clone();
    let text = String::from_utf8_lossy(&capture).into_owned();
    let event_id = supplier.events.lock().unwrap()[0].event_id.clone();
    assert!(text.contains(&format!("webhook-id: {event_id}\n")), "{text}");
    assert!(!text.contains("vinst-"), "{text}");
    assert_eq!(reference.verify(&old, &capture), "valid");
    assert!(reference.verify(&SW.new_secret(&[9; 32]), &capture).starts_with("invalid"));

    // During the overlap both secrets sign, in one header: a supplier that has installed the
    // new secret and one that has not both accept.
    let id = created["id"].as_str().unwrap();
    let rotated = server.admin_post(&format!("/suppliers/{id}/secrets"), json!({"overlap_seconds": 3600})).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_standard_secret(&new);
    assert_eq!(launch_request(&server, "ok", &cookie).send().await.unwrap().status(), 303);
    *supplier.secret.lock().unwrap() = new.clone();
    assert_eq!(launch_request(&server, "ok", &cookie).send().await.unwrap().status(), 303);
    let capture = supplier.captured.lock().unwrap()[2].clone();
    assert_eq!(signature_entries(&capture), 2);
    assert_eq!(reference.verify(&old, &capture), "valid");
    assert_eq!(reference.verify(&new, &capture), "valid");

    // After the overlap only the new one signs.
    server.clock.advance(3600);
    supplier.skew.store(3600, Ordering::SeqCst);
    let link =
        handoff_client::Client::new(&server.url).mint_sso_link(&fx.credentials, &fx.user.id, None).await.unwrap();
    let cookie = server.sign_in(&link.redirect_url).await;
    assert_eq!(launch_request(&server, "ok", &cookie).send().await.unwrap().status(), 303);
    let capture = supplier.captured.lock().unwrap().last().unwrap().clone();
    assert_eq!(signature_entries(&capture), 1);
}
