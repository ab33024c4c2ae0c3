//! Outbound launch into suppliers: handoff signs the signed-in user's event, a supplier on
//! loopback verifies signature, freshness and fields, and the browser follows only an allowed
//! `redirectUrl`; every failure is a clear page.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use handoff_core::webhook::{check_timestamp, SignatureProfile, SsoEvent};
use serde_json::{json, Value};

use crate::harness::{assert_problem, header, Fixture, TestServer};

#[derive(Clone, Default)]
struct Supplier {
    secret: Arc<Mutex<String>>,
    events: Arc<Mutex<Vec<SsoEvent>>>,
    /// Seconds the supplier's clock is ahead of the wall clock: moved with the server's.
    skew: Arc<AtomicI64>,
    port: u16,
}

/// The test supplier: verifies like a real one, then answers per path.
async fn ok(State(supplier): State<Supplier>, headers: HeaderMap, body: Bytes) -> Response {
    let timestamp = headers.get("vinst-timestamp").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let signature = headers.get("vinst-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let secret = supplier.secret.lock().unwrap().clone();
    if !SignatureProfile::TimestampBodyHex.verify([secret.as_str()], timestamp, &body, signature) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "Invalid signature"}))).into_response();
    }
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + supplier.skew.load(Ordering::SeqCst);
    if check_timestamp(timestamp, now, 15).is_err() {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "Stale timestamp"}))).into_response();
    }
    let Ok(event) = serde_json::from_slice::<SsoEvent>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "Malformed event"}))).into_response();
    };
    let email = event.data.email.clone();
    supplier.events.lock().unwrap().push(event);
    Json(json!({"redirectUrl": format!("http://localhost:{}/welcome?user={email}", supplier.port)})).into_response()
}

async fn start_supplier() -> Supplier {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let supplier = Supplier { port: listener.local_addr().unwrap().port(), ..Supplier::default() };
    let router = Router::new()
        .route("/ok", post(ok))
        .route("/evil", post(|| async { Json(json!({"redirectUrl": "https://evil.example.com/phish"})) }))
        .route("/scheme", post(|| async { Json(json!({"redirectUrl": "javascript:alert(1)"})) }))
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                "late"
            }),
        )
        .route("/fail", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/garbage", post(|| async { "not json" }))
        .route("/huge", post(|| async { Json(json!({"redirectUrl": "x".repeat(100 * 1024)})) }))
        .route("/moved", post(|| async { (StatusCode::FOUND, [("location", "https://evil.example.com/")]) }))
        .with_state(supplier.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    supplier
}

async fn create_supplier(server: &TestServer, supplier: &Supplier, path: &str, timeout: i64) -> Value {
    let created = server
        .admin_post(
            "/suppliers",
            json!({
                "slug": path, "name": format!("Supplier {path}"),
                "endpoint": format!("http://127.0.0.1:{}/{path}", supplier.port),
                "allowed_redirect_hosts": ["localhost"], "timeout_seconds": timeout
            }),
        )
        .await;
    *supplier.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    created
}

/// A fixture whose organization has an org number, signed in.
async fn signed_in(server: &TestServer) -> (Fixture, String) {
    let fx = server.fixture().await;
    let numbered: Value =
        server.admin_post("/organizations", json!({"name": "Numbered", "org_numbers": ["987654321"]})).await;
    let partner = &fx.partner.id;
    let org = numbered["id"].as_str().unwrap();
    server
        .admin
        .admin::<Value, Value>(reqwest::Method::PUT, &format!("/partners/{partner}/organizations/{org}"), None)
        .await
        .unwrap();
    let user = server.create_user(org, "kari@nordmann.no").await;
    let credentials = handoff_client::PartnerCredentials {
        organization_id: org.to_owned(),
        organization_secret: numbered["secret"].as_str().unwrap().to_owned(),
        ..fx.credentials.clone()
    };
    let link = handoff_client::Client::new(&server.url).mint_sso_link(&credentials, &user.id, None).await.unwrap();
    let cookie = server.sign_in(&link.redirect_url).await;
    (Fixture { user, credentials, ..fx }, cookie)
}

backend_tests! {
    #[tokio::test]
    async fn a_launch_signs_the_event_and_follows_the_allowed_redirect() {
        let supplier = start_supplier().await;
        let server = TestServer::start().await;
        let created = create_supplier(&server, &supplier, "ok", 5).await;
        assert_eq!(created["launch_url"], format!("{}/launch/ok", server.url));
        let (fx, cookie) = signed_in(&server).await;
        let response = server.http.get(format!("{}/launch/ok", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(
            header(&response, "location"),
            Some(format!("http://localhost:{}/welcome?user=kari@nordmann.no", supplier.port).as_str())
        );
        let events = supplier.events.lock().unwrap().clone();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_type, "Vinst_SSO");
        assert_eq!(event.data.email, "kari@nordmann.no");
        assert_eq!(event.data.first_name, "Turid");
        assert_eq!(event.data.org_no, "987654321");
        assert!(uuid::Uuid::parse_str(&event.event_id).is_ok());
        let audit = server.audit("kind=launch&outcome=accepted").await;
        assert_eq!(audit[0]["user_id"], fx.user.id.as_str());
    }

    #[tokio::test]
    async fn a_rotated_supplier_secret_keeps_signing_until_the_overlap_ends() {
        let supplier = start_supplier().await;
        let server = TestServer::start().await;
        let created = create_supplier(&server, &supplier, "ok", 5).await;
        let id = created["id"].as_str().unwrap();
        let (fx, cookie) = signed_in(&server).await;
        let launch = |cookie: String| {
            let request = server.http.get(format!("{}/launch/ok", server.url)).header("cookie", cookie);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        let old = supplier.secret.lock().unwrap().clone();

        let rotated = server.admin_post(&format!("/suppliers/{id}/secrets"), json!({"overlap_seconds": 3600})).await;
        let new = rotated["secret"].as_str().unwrap().to_owned();
        assert!(new.starts_with("whsec_") && new != old);
        let read: Value = server.admin.admin::<Value, Value>(reqwest::Method::GET, &format!("/suppliers/{id}"), None).await.unwrap();
        assert_eq!(read["previous_secret_expires_at"], rotated["previous_expires_at"]);
        // During the overlap handoff still signs with the old secret: a supplier that has not
        // installed the new one yet keeps working, one that already switched does not yet.
        assert_eq!(launch(cookie.clone()).await, 303);
        *supplier.secret.lock().unwrap() = new.clone();
        assert_eq!(launch(cookie.clone()).await, 502);
        // Once the overlap is over, the new secret signs.
        server.clock.advance(3600);
        supplier.skew.store(3600, Ordering::SeqCst);
        let link = handoff_client::Client::new(&server.url).mint_sso_link(&fx.credentials, &fx.user.id, None).await.unwrap();
        let cookie = server.sign_in(&link.redirect_url).await;
        assert_eq!(launch(cookie.clone()).await, 303);

        // After a leak: overlap 0 ends the old secret at once.
        let leaked = server.admin_post(&format!("/suppliers/{id}/secrets"), json!({"overlap_seconds": 0})).await;
        assert_eq!(launch(cookie.clone()).await, 502);
        *supplier.secret.lock().unwrap() = leaked["secret"].as_str().unwrap().to_owned();
        assert_eq!(launch(cookie.clone()).await, 303);
        assert_eq!(supplier.events.lock().unwrap().len(), 3, "one event per accepted launch");

        // A second rotation during an overlap replaces the secret that waits, not the one that
        // signs: B never signs, C does once the overlap is over.
        let signing = supplier.secret.lock().unwrap().clone();
        server.admin_post(&format!("/suppliers/{id}/secrets"), json!({"overlap_seconds": 600})).await;
        let c = server.admin_post(&format!("/suppliers/{id}/secrets"), json!({"overlap_seconds": 600})).await;
        assert_eq!(launch(cookie.clone()).await, 303, "the signing secret is unchanged");
        server.clock.advance(600);
        supplier.skew.store(3600 + 600, Ordering::SeqCst);
        *supplier.secret.lock().unwrap() = c["secret"].as_str().unwrap().to_owned();
        let link = handoff_client::Client::new(&server.url).mint_sso_link(&fx.credentials, &fx.user.id, None).await.unwrap();
        let cookie = server.sign_in(&link.redirect_url).await;
        assert_eq!(launch(cookie.clone()).await, 303, "C signs after the overlap");
        assert_ne!(signing, c["secret"].as_str().unwrap());

        for bad in [json!({"overlap_seconds": -1}), json!({"overlap_seconds": 604801}), json!({"overlap": 5})] {
            let url = format!("{}/admin/v1/suppliers/{id}/secrets", server.url);
            let refused = server.http.post(url).bearer_auth(crate::harness::ADMIN_TOKEN).json(&bad).send().await.unwrap();
            assert_problem(refused, 400, "invalid-request").await;
        }
        assert_eq!(server.audit("kind=admin.supplier.rotate_secret").await.len(), 4);
    }

    #[tokio::test]
    async fn launch_failures_are_clear_pages_and_audited() {
        let supplier = start_supplier().await;
        let server = TestServer::start().await;
        for path in ["evil", "scheme", "fail", "garbage", "huge", "moved"] {
            create_supplier(&server, &supplier, path, 5).await;
        }
        create_supplier(&server, &supplier, "hang", 1).await;
        let (_, cookie) = signed_in(&server).await;
        let cases = [
            ("evil", 502, "bad-gateway", "not allowed"),
            ("scheme", 502, "bad-gateway", "not allowed"),
            ("fail", 502, "bad-gateway", "answered 500"),
            ("garbage", 502, "bad-gateway", "redirectUrl"),
            ("huge", 502, "bad-gateway", "over 64 KiB"),
            ("moved", 502, "bad-gateway", "answered 302"),
            ("hang", 504, "gateway-timeout", "within 1 seconds"),
        ];
        for (path, status, slug, words) in cases {
            let url = format!("{}/launch/{path}", server.url);
            let json =
                server.http.get(&url).header("cookie", &cookie).header("accept", "application/json").send().await.unwrap();
            let body = assert_problem(json, status, slug).await;
            assert!(body["error"]["detail"].as_str().unwrap().contains(words), "{path}: {body}");
            let page = server.http.get(&url).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(page.status().as_u16(), status);
            assert!(page.text().await.unwrap().contains("<h1>"), "{path}: a page for the browser");
        }
        let refused = server.audit("kind=launch&outcome=refused&limit=100").await;
        assert_eq!(refused.len(), cases.len() * 2);
        // Without a session nothing is sent.
        let anonymous = server.http.get(format!("{}/launch/evil", server.url)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        let unknown =
            server.http.get(format!("{}/launch/nope", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
    }

    #[tokio::test]
    async fn suppliers_need_https_endpoints_and_real_hosts() {
        let server = TestServer::start().await;
        let post = |body: Value| {
            let http = server.http.clone();
            let url = format!("{}/admin/v1/suppliers", server.url);
            async move { http.post(url).bearer_auth(crate::harness::ADMIN_TOKEN).json(&body).send().await.unwrap() }
        };
        for endpoint in ["http://supplier.example.com/sso", "ftp://x", "not a url"] {
            let response =
                post(json!({"slug": "s", "name": "S", "endpoint": endpoint, "allowed_redirect_hosts": ["a.example"]}))
                    .await;
            assert_problem(response, 400, "invalid-request").await;
        }
        let no_hosts =
            post(json!({"slug": "s", "name": "S", "endpoint": "https://s.example/sso", "allowed_redirect_hosts": []}))
                .await;
        assert_problem(no_hosts, 400, "invalid-request").await;
        let ok = post(json!({"slug": "s", "name": "S", "endpoint": "https://s.example/sso", "allowed_redirect_hosts": ["App.S.Example"]})).await;
        assert_eq!(ok.status(), 201);
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body["allowed_redirect_hosts"], json!(["app.s.example"]));
    }
}
