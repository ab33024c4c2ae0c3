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
use handoff_core::webhook::SsoEvent;
use handoff_webhook::{Request, SignatureProfile};
use serde_json::{json, Value};

use crate::backend::Backend;
use crate::harness::{assert_problem, header, Fixture, TestServer};
use handoff_server::ConfigLayer;

#[derive(Clone, Default)]
pub(crate) struct Supplier {
    pub(crate) secret: Arc<Mutex<String>>,
    /// The profile the supplier was created with.
    pub(crate) profile: Arc<Mutex<SignatureProfile>>,
    pub(crate) events: Arc<Mutex<Vec<SsoEvent>>>,
    /// Every request to `/ok` as `handoff webhook verify --request` reads it: header lines, a
    /// blank line, the raw body.
    pub(crate) captured: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Seconds the supplier's clock is ahead of the wall clock: moved with the server's.
    pub(crate) skew: Arc<AtomicI64>,
    pub(crate) port: u16,
}

/// The test supplier: verifies like a real one, then answers per path.
async fn ok(State(supplier): State<Supplier>, headers: HeaderMap, body: Bytes) -> Response {
    let mut capture: Vec<u8> = Vec::new();
    for (name, value) in &headers {
        capture.extend(format!("{name}: {}\n", value.to_str().unwrap_or_default()).bytes());
    }
    capture.push(b'\n');
    capture.extend_from_slice(&body);
    supplier.captured.lock().unwrap().push(capture);
    let secret = supplier.secret.lock().unwrap().clone();
    let profile = *supplier.profile.lock().unwrap();
    let request = Request::from_headers(profile, |name| headers.get(name).and_then(|v| v.to_str().ok()), &body);
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + supplier.skew.load(Ordering::SeqCst);
    if let Err(error) = profile.verify(&[secret.as_str()], &request, now, 15) {
        let status = StatusCode::UNAUTHORIZED;
        return (status, Json(json!({"error": error.to_string(), "reason": error.reason()}))).into_response();
    }
    let Ok(event) = serde_json::from_slice::<SsoEvent>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "Malformed event"}))).into_response();
    };
    let email = event.data.email.clone();
    supplier.events.lock().unwrap().push(event);
    Json(json!({"redirectUrl": format!("http://localhost:{}/welcome?user={email}", supplier.port)})).into_response()
}

pub(crate) async fn start_supplier() -> Supplier {
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

/// A server whose suppliers may be on loopback, like the test suppliers.
pub(crate) async fn allowing_private() -> TestServer {
    TestServer::with(|c| c.allow_private_endpoints = Some(true)).await
}

/// A launch from the portal's own pages (a link on them): the browser says `same-origin`.
pub(crate) fn launch_request(server: &TestServer, slug: &str, cookie: &str) -> reqwest::RequestBuilder {
    server
        .http
        .get(format!("{}/launch/{slug}", server.url))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
}

async fn create_supplier(server: &TestServer, supplier: &Supplier, path: &str, timeout: i64) -> Value {
    create_supplier_signing(server, supplier, path, timeout, SignatureProfile::default()).await
}

/// A supplier at `path` whose events are signed with `profile`.
pub(crate) async fn create_supplier_signing(
    server: &TestServer,
    supplier: &Supplier,
    path: &str,
    timeout: i64,
    profile: SignatureProfile,
) -> Value {
    let created = server
        .admin_post(
            "/suppliers",
            json!({
                "slug": path, "name": format!("Supplier {path}"),
                "endpoint": format!("http://127.0.0.1:{}/{path}", supplier.port),
                "allowed_redirect_hosts": ["localhost"], "timeout_seconds": timeout,
                "signature_profile": profile.as_str()
            }),
        )
        .await;
    assert_eq!(created["signature_profile"], profile.as_str());
    *supplier.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    *supplier.profile.lock().unwrap() = profile;
    created
}

/// A fixture whose organization has an org number, signed in.
pub(crate) async fn signed_in(server: &TestServer) -> (Fixture, String) {
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
        let server = allowing_private().await;
        let created = create_supplier(&server, &supplier, "ok", 5).await;
        assert_eq!(created["launch_url"], format!("{}/launch/ok", server.url));
        let (fx, cookie) = signed_in(&server).await;
        let response = launch_request(&server, "ok", &cookie).send().await.unwrap();
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
        let server = allowing_private().await;
        let created = create_supplier(&server, &supplier, "ok", 5).await;
        let id = created["id"].as_str().unwrap();
        let (fx, cookie) = signed_in(&server).await;
        let launch = |cookie: String| {
            let request = launch_request(&server, "ok", &cookie);
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
        let server = allowing_private().await;
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
            let json = launch_request(&server, path, &cookie).header("accept", "application/json").send().await.unwrap();
            let body = assert_problem(json, status, slug).await;
            assert!(body["error"]["detail"].as_str().unwrap().contains(words), "{path}: {body}");
            let page = launch_request(&server, path, &cookie).send().await.unwrap();
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

    #[tokio::test]
    async fn a_launch_from_another_site_asks_first_and_sends_nothing() {
        let supplier = start_supplier().await;
        let server = allowing_private().await;
        create_supplier(&server, &supplier, "ok", 5).await;
        let (fx, cookie) = signed_in(&server).await;
        let url = format!("{}/launch/ok", server.url);
        let get = |headers: &[(&str, &str)]| {
            let mut request = server.http.get(&url).header("cookie", &cookie);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            async move { request.send().await.unwrap() }
        };
        let events = || supplier.events.lock().unwrap().len();

        // A link on another site, a bookmark, a sibling subdomain, or a request that says
        // nothing about where it comes from: the confirmation page, and nothing is sent.
        let mut token = String::new();
        for headers in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "none")],
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "cross-site"), ("origin", server.url.as_str())],
            &[("origin", "https://evil.example")],
            &[("referer", "https://evil.example/page")],
            &[],
        ] {
            let page = get(headers).await;
            assert_eq!(page.status(), 200, "{headers:?}");
            let csp = header(&page, "content-security-policy").unwrap().to_owned();
            for directive in ["default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"] {
                assert!(csp.contains(directive), "{csp}");
            }
            assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
            assert_eq!(header(&page, "referrer-policy"), Some("same-origin"));
            let html = page.text().await.unwrap();
            assert!(html.contains("<h1>Open Supplier ok?</h1>"), "{html}");
            assert!(html.contains("<form method=\"post\" action=\"/launch/ok\">"), "{html}");
            let start = html.find("name=\"token\" value=\"").unwrap() + 20;
            token = html[start..start + 64].to_owned();
        }
        assert_eq!(events(), 0, "a confirmation page sends nothing");
        assert!(server.audit("kind=launch").await.is_empty());

        // From the portal's own pages it launches at once.
        for headers in [
            &[("sec-fetch-site", "same-origin")][..],
            &[("origin", server.url.as_str())],
            &[("referer", format!("{}/dashboard", server.url).as_str())],
        ] {
            assert_eq!(get(headers).await.status(), 303, "{headers:?}");
        }
        assert_eq!(events(), 3);

        // The confirmation's button: the form POST with the session's token.
        let post = |token: Option<&str>, headers: &[(&str, &str)]| {
            let mut request = server.http.post(&url).header("cookie", &cookie);
            if let Some(token) = token {
                request = request.header("content-type", "application/x-www-form-urlencoded").body(format!("token={token}"));
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            async move { request.send().await.unwrap() }
        };
        let portal = [("sec-fetch-site", "same-origin"), ("origin", server.url.as_str())];
        let launched = post(Some(&token), &portal).await;
        assert_eq!(launched.status(), 303);
        assert!(header(&launched, "location").unwrap().contains("/welcome?user=kari@nordmann.no"));
        assert_eq!(events(), 4);

        // A forged confirmation: no token, a wrong one, another session's, or sent from another
        // page than the portal's.
        let link = handoff_client::Client::new(&server.url).mint_sso_link(&fx.credentials, &fx.user.id, None).await.unwrap();
        let other_cookie = server.sign_in(&link.redirect_url).await;
        let other_page = server.http.get(&url).header("cookie", &other_cookie).send().await.unwrap().text().await.unwrap();
        let start = other_page.find("name=\"token\" value=\"").unwrap() + 20;
        let other_token = other_page[start..start + 64].to_owned();
        assert_ne!(other_token, token);
        let wrong = "0".repeat(64);
        let forged = [
            (None, &portal[..]),
            (Some(wrong.as_str()), &portal[..]),
            (Some(other_token.as_str()), &portal[..]),
            (Some(token.as_str()), &[("origin", "https://evil.example")][..]),
            (Some(token.as_str()), &[("origin", "null")][..]),
            (Some(token.as_str()), &[("sec-fetch-site", "cross-site"), ("origin", server.url.as_str())][..]),
            (Some(token.as_str()), &[("sec-fetch-site", "same-site")][..]),
        ];
        for (token, headers) in forged {
            let refused = post(token, headers).await;
            assert_eq!(refused.status(), 403, "{token:?} {headers:?}");
            assert!(refused.text().await.unwrap().contains("<h1>"), "a page for the browser");
        }
        assert_eq!(events(), 4, "no forged confirmation reaches the supplier");
        let refused = server.audit("kind=launch&outcome=refused&limit=100").await;
        assert_eq!(refused.len(), forged.len());
        assert!(refused.iter().all(|r| r["reason"] == "forbidden" && r["detail"].as_str().unwrap().starts_with("supplier=ok")));
        // Without a session the confirmation sends nothing either.
        let anonymous = server.http.post(&url).body(format!("token={token}")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(events(), 4);
    }

    #[tokio::test]
    async fn suppliers_at_private_and_reserved_addresses_are_refused_unless_allowed() {
        let endpoints = [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/sso",
            "https://192.168.1.10/sso",
            "https://100.64.0.1/sso",
            "https://[fd00::1]/sso",
            "https://[fe80::1]/sso",
            "https://[::ffff:127.0.0.1]/sso",
            "https://[::ffff:a9fe:a9fe]/sso",
            "https://[::]/sso",
            "https://0.0.0.0/sso",
            "https://224.0.0.1/sso",
            "https://2130706433/sso",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://localhost/sso",
            "http://localhost:9/sso",
            "http://127.0.0.1:9/sso",
        ];
        let body = |i: usize, endpoint: &str| {
            json!({"slug": format!("s{i}"), "name": "S", "endpoint": endpoint, "allowed_redirect_hosts": ["a.example"]})
        };
        let server = TestServer::start().await;
        for (i, endpoint) in endpoints.iter().enumerate() {
            let url = format!("{}/admin/v1/suppliers", server.url);
            let response =
                server.http.post(url).bearer_auth(crate::harness::ADMIN_TOKEN).json(&body(i, endpoint)).send().await.unwrap();
            let problem = assert_problem(response, 400, "invalid-request").await;
            let detail = problem["error"]["detail"].as_str().unwrap();
            assert!(detail.contains("private or reserved address") && detail.contains("allow_private_endpoints"), "{endpoint}: {detail}");
        }
        let detail = |endpoint: &str| {
            let url = format!("{}/admin/v1/suppliers", server.url);
            let request = server.http.post(url).bearer_auth(crate::harness::ADMIN_TOKEN).json(&body(99, endpoint));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap()["error"]["detail"].as_str().unwrap().to_owned() }
        };
        assert!(detail("https://localhost/sso").await.contains("localhost resolves to"));
        assert!(detail("https://169.254.169.254/").await.contains("169.254.169.254 is a link-local address"));
        assert!(detail("https://[::ffff:127.0.0.1]/").await.contains("a loopback address"));
        assert!(server.audit("kind=admin.supplier.create").await.is_empty());

        // The operator of on-premise suppliers allows them.
        let allowing = allowing_private().await;
        for (i, endpoint) in endpoints.iter().enumerate() {
            let created = allowing.admin_post("/suppliers", body(i, endpoint)).await;
            assert_eq!(created["endpoint"], *endpoint);
        }
    }

    #[tokio::test]
    async fn a_supplier_that_resolves_to_a_private_address_is_never_connected() {
        // The operator allowed private endpoints, configured two suppliers on loopback, and
        // turned the setting off again (or the supplier's name now resolves elsewhere than when
        // it was configured): the same database, served without the setting.
        let shared = tempfile::tempdir().unwrap();
        let postgres = Backend::current().database();
        let database_url = postgres.as_ref().map(|pg| pg.url.clone());
        let on_shared = |allow: bool| {
            let (dir, database_url) = (shared.path().to_owned(), database_url.clone());
            move |c: &mut ConfigLayer| {
                c.data_dir = Some(dir);
                c.database_url = database_url;
                c.allow_private_endpoints = Some(allow);
            }
        };
        // A listener that reports every connection it accepts, in order.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (accepted, mut accepts) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let _ = accepted.send(peer);
                drop(stream);
            }
        });
        let configuring = TestServer::with(on_shared(true)).await;
        for (slug, host) in [("by-name", "localhost"), ("by-address", "127.0.0.1")] {
            configuring
                .admin_post(
                    "/suppliers",
                    json!({"slug": slug, "name": slug, "endpoint": format!("http://{host}:{port}/sso"),
                        "allowed_redirect_hosts": ["localhost"], "timeout_seconds": 1}),
                )
                .await;
        }
        drop(configuring);

        let server = TestServer::with(on_shared(false)).await;
        let (_, cookie) = signed_in(&server).await;
        for (slug, reason) in [("by-name", "localhost resolves to"), ("by-address", "127.0.0.1 is a loopback address")] {
            let response = launch_request(&server, slug, &cookie).header("accept", "application/json").send().await.unwrap();
            let body = assert_problem(response, 502, "bad-gateway").await;
            assert!(body["error"]["detail"].as_str().unwrap().contains("private or reserved address"), "{body}");
            let page = launch_request(&server, slug, &cookie).send().await.unwrap();
            assert_eq!(page.status(), 502);
            assert!(page.text().await.unwrap().contains("private or reserved address"));
            let audit = server.audit("kind=launch&outcome=refused").await;
            let detail = audit[0]["detail"].as_str().unwrap();
            assert!(detail.starts_with(&format!("supplier={slug}; ")) && detail.contains(reason), "{detail}");
        }
        assert_eq!(server.audit("kind=launch&outcome=refused").await.len(), 4);
        // Connections are accepted in the order they were made: if handoff had connected, its
        // connection would come before this probe's.
        let probe = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(accepts.recv().await, Some(probe.local_addr().unwrap()), "handoff connected to the listener");
    }
}
