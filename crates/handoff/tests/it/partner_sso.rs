//! `POST /v1/sso` and `GET /auth/sso`: the seed's examples, every row of the error table,
//! single use under concurrency, expiry, tampering, and the audit trail.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::{assert_problem, header, Fixture, TestServer};

/// Sends [`mint_request`] with the body `{"redirect_path": "/dashboard"}`.
async fn mint_with(server: &TestServer, fx: &Fixture, overrides: &[(&str, &str)]) -> reqwest::Response {
    mint_request(server, fx, overrides).json(&json!({"redirect_path": "/dashboard"})).send().await.unwrap()
}

/// `POST /v1/sso` without a body, with the fixture's headers, `overrides` replacing some of them.
fn mint_request(server: &TestServer, fx: &Fixture, overrides: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut request = server.http.post(format!("{}/v1/sso", server.url));
    let headers = fx.headers(&fx.user.id);
    for (name, value) in &headers {
        let value = overrides.iter().find(|(n, _)| n == name).map_or(value.as_str(), |(_, v)| v);
        request = request.header(*name, value);
    }
    // Overrides naming other headers (`x-forwarded-for`) are added.
    for (name, value) in overrides.iter().filter(|(n, _)| headers.iter().all(|(h, _)| h != n)) {
        request = request.header(*name, *value);
    }
    request
}

/// A second user of the fixture's organization (a name that needs escaping) and a sign-in link
/// to `path` for them: the "attacker" of a login CSRF.
async fn other_users_link(server: &TestServer, fx: &Fixture, path: &str) -> (String, String) {
    let user = server
        .admin_post(
            &format!("/organizations/{}/users", fx.org.id),
            json!({"email": "eve@example.com", "given_name": "<b>Eve", "family_name": "O'Hara"}),
        )
        .await;
    let id = user["id"].as_str().unwrap().to_owned();
    let link = handoff_client::Client::new(&server.url).mint_sso_link(&fx.credentials, &id, Some(path)).await.unwrap();
    (id, link.redirect_url)
}

/// The `value` of the hidden input `name` on a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} on {page}")) + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// `GET /auth/session` with `cookie`: the signed-in user's id, if any.
async fn session_user(server: &TestServer, cookie: &str) -> Option<String> {
    let response =
        server.http.get(format!("{}/auth/session", server.url)).header("cookie", cookie).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    body["user_id"].as_str().map(str::to_owned)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

backend_tests! {
    #[tokio::test]
    async fn seed_examples_answer_the_documented_shape() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        for path in [
            "/dashboard/patients/1234-5678-3456-2345",
            "/dashboard/patients/1234-5678-3456-2345/prescriptions",
            "/embed/patients/1234-5678-3456-2345/prescriptions",
        ] {
            let response = server.mint_raw(&fx, &fx.user.id, Some(json!({ "redirect_path": path }))).await;
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["success"], true);
            let data = &body["data"];
            let token = data["sso_token"].as_str().unwrap();
            assert!(token.starts_with("eyJ"));
            assert_eq!(data["expires_in"], 300);
            let encoded = path.replace('/', "%2F");
            assert_eq!(data["redirect_url"], format!("{}/auth/sso?token={token}&redirect={encoded}", server.url));
            let landing = server.open(data["redirect_url"].as_str().unwrap()).await;
            assert_eq!(landing.status(), 303);
            assert_eq!(header(&landing, "location"), Some(path));
        }
    }

    #[tokio::test]
    async fn empty_body_lands_on_the_default_path_and_ttl_follows_config() {
        let server = TestServer::with(|c| {
            c.sso_token_ttl = Some(120);
            c.default_redirect_path = Some("/home".into());
        })
        .await;
        let fx = server.fixture().await;
        let response = server.mint_raw(&fx, &fx.user.id, None).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["expires_in"], 120);
        let landing = server.open(body["data"]["redirect_url"].as_str().unwrap()).await;
        assert_eq!(header(&landing, "location"), Some("/home"));
    }

    #[tokio::test]
    async fn missing_headers_are_all_named() {
        let server = TestServer::start().await;
        let response = server.http.post(format!("{}/v1/sso", server.url)).send().await.unwrap();
        let body = assert_problem(response, 400, "invalid-request").await;
        assert_eq!(
            body["error"]["detail"],
            "Missing required headers: x-partner-id, x-partner-secret, x-organization-id, x-organization-secret, x-user-id"
        );
        let fx = server.fixture().await;
        let mut request = server.http.post(format!("{}/v1/sso", server.url));
        for (name, value) in fx.headers("unused").into_iter().filter(|(n, _)| *n != "x-user-id") {
            request = request.header(name, value);
        }
        let body = assert_problem(request.send().await.unwrap(), 400, "invalid-request").await;
        assert_eq!(body["error"]["detail"], "Missing required headers: x-user-id");
    }

    #[tokio::test]
    async fn every_row_of_the_error_table() {
        let server = TestServer::with(|c| c.failed_auth_limit = Some(1000)).await;
        let fx = server.fixture_with(json!({"name": "Narrow", "allowed_path_prefixes": ["/dashboard"]})).await;

        // 400: malformed JSON, unknown field, bad redirect_path.
        let request = mint_request(&server, &fx, &[("content-type", "application/json")]).body("{\"redirect_path\":");
        let body = assert_problem(request.send().await.unwrap(), 400, "invalid-request").await;
        assert!(body["error"]["detail"].as_str().unwrap().starts_with("Malformed JSON body"));
        assert_problem(server.mint_raw(&fx, &fx.user.id, Some(json!({"redirect": "/x"}))).await, 400, "invalid-request")
            .await;
        // Only an object is a body (serde alone would take `[]` for a struct of defaults); `null`
        // is no body.
        for (body, status) in [(json!([]), 400), (json!("/x"), 400), (Value::Null, 200)] {
            let response = server.mint_raw(&fx, &fx.user.id, Some(body.clone())).await;
            assert_eq!(response.status().as_u16(), status, "{body}");
        }
        assert_problem(
            server.mint_raw(&fx, &fx.user.id, Some(json!({"redirect_path": "//evil.com"}))).await,
            400,
            "invalid-request",
        )
        .await;

        // 401: unknown partner, wrong partner secret, unknown organization, wrong organization secret.
        let unknown = uuid::Uuid::new_v4().to_string();
        for (overrides, detail) in [
            (vec![("x-partner-id", unknown.as_str())], "Invalid partner credentials"),
            (vec![("x-partner-id", "not-a-uuid")], "Invalid partner credentials"),
            (vec![("x-partner-secret", "hps_wrong")], "Invalid partner credentials"),
            (vec![("x-organization-id", unknown.as_str())], "Invalid organization credentials"),
            (vec![("x-organization-secret", "hos_wrong")], "Invalid organization credentials"),
        ] {
            let body = assert_problem(mint_with(&server, &fx, &overrides).await, 401, "authentication-required").await;
            assert_eq!(body["error"]["detail"], detail);
        }

        // 403: not linked, path outside the allowed prefixes, user disabled.
        let other = server.fixture().await;
        let cross = mint_with(
            &server,
            &fx,
            &[("x-organization-id", &other.org.id), ("x-organization-secret", &other.credentials.organization_secret)],
        )
        .await;
        assert_problem(cross, 403, "forbidden").await;
        assert_problem(server.mint_raw(&fx, &fx.user.id, Some(json!({"redirect_path": "/admin"}))).await, 403, "forbidden")
            .await;
        let disabled = server.create_user(&fx.org.id, "disabled@jensen.com").await;
        server.set_user_status(&disabled.id, "disabled").await;
        assert_problem(server.mint_raw(&fx, &disabled.id, None).await, 403, "forbidden").await;

        // 404: unknown user, a user of another organization, a malformed user id.
        for user in [uuid::Uuid::new_v4().to_string(), other.user.id.clone(), "nope".to_owned()] {
            assert_problem(server.mint_raw(&fx, &user, None).await, 404, "not-found").await;
        }

        // 413 and 415.
        let big = json!({"redirect_path": format!("/dashboard?q={}", "a".repeat(70 * 1024))});
        assert_problem(server.mint_raw(&fx, &fx.user.id, Some(big)).await, 413, "payload-too-large").await;
        let request = mint_request(&server, &fx, &[("content-type", "text/plain")]).body("redirect_path=/dashboard");
        assert_problem(request.send().await.unwrap(), 415, "unsupported-media-type").await;

        // Every refusal above left an audit record with its reason.
        let refused = server.audit("kind=sso.mint&outcome=refused&limit=100").await;
        let reasons: Vec<&str> = refused.iter().map(|r| r["reason"].as_str().unwrap()).collect();
        for slug in [
            "invalid-request",
            "authentication-required",
            "partner-not-linked",
            "path-not-allowed",
            "user-disabled",
            "not-found",
            "payload-too-large",
            "unsupported-media-type",
        ] {
            assert!(reasons.contains(&slug), "no audit record for {slug}: {reasons:?}");
        }
        assert_eq!(refused.len(), 3 + 2 + 5 + 3 + 3 + 1 + 1);
    }

    #[tokio::test]
    async fn failed_authentication_is_rate_limited_with_retry_after() {
        let server = TestServer::with(|c| c.failed_auth_limit = Some(3)).await;
        let fx = server.fixture().await;
        for _ in 0..3 {
            assert_problem(
                mint_with(&server, &fx, &[("x-partner-secret", "hps_wrong")]).await,
                401,
                "authentication-required",
            )
            .await;
        }
        // Now even the right credentials wait.
        let response = mint_with(&server, &fx, &[]).await;
        let retry_after: u64 = header(&response, "retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after));
        assert_problem(response, 429, "rate-limited").await;
        server.clock.advance(61);
        assert_eq!(mint_with(&server, &fx, &[]).await.status(), 200);
        assert!(server.audit("kind=sso.mint&outcome=refused").await.iter().any(|r| r["reason"] == "rate-limited"));
    }

    #[tokio::test]
    async fn failed_authentications_are_limited_per_partner_across_addresses() {
        let server = TestServer::with(|c| {
            c.failed_auth_limit_per_partner = Some(3);
            c.trusted_proxies = Some("127.0.0.1, ::1".into());
        })
        .await;
        let fx = server.fixture().await;
        let other = server.fixture_with(json!({"name": "Other EHR"})).await;
        // Three addresses, each far below its own limit, guess at one partner's secrets.
        let guesses = [("198.51.100.1", "x-partner-secret"), ("198.51.100.2", "x-organization-secret"), ("198.51.100.3", "x-partner-secret")];
        for (address, secret) in guesses {
            let response = mint_with(&server, &fx, &[(secret, "wrong"), ("x-forwarded-for", address)]).await;
            assert_problem(response, 401, "authentication-required").await;
        }
        // Now that partner waits, whoever asks and with whatever credentials.
        let response = mint_with(&server, &fx, &[("x-forwarded-for", "198.51.100.4")]).await;
        let retry_after: u64 = header(&response, "retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after));
        assert_problem(response, 429, "rate-limited").await;
        // Other partners are not held up; after the window the partner is back.
        assert_eq!(mint_with(&server, &other, &[("x-forwarded-for", "198.51.100.4")]).await.status(), 200);
        server.clock.advance(61);
        assert_eq!(mint_with(&server, &fx, &[("x-forwarded-for", "198.51.100.4")]).await.status(), 200);
        let refused = server.audit(&format!("kind=sso.mint&outcome=refused&partner_id={}", fx.partner.id)).await;
        assert_eq!(refused.iter().filter(|r| r["reason"] == "rate-limited").count(), 1);
    }

    #[tokio::test]
    async fn oversized_or_too_many_headers_are_refused_with_431() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let server = TestServer::start().await;
        let addr = server.url.trim_start_matches("http://").to_owned();
        let big = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
        let many: String = (0..200).map(|i| format!("X-Header-{i}: v\r\n")).collect();
        for (what, headers) in [("a 1 MiB header", big), ("200 headers", many)] {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let request = format!("POST /v1/sso HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
            // The server may answer and close before it has read everything.
            let _ = stream.write_all(request.as_bytes()).await;
            let mut answer = vec![0; 64];
            let n = stream.read(&mut answer).await.unwrap();
            let status = String::from_utf8_lossy(&answer[..n]).lines().next().unwrap_or_default().to_owned();
            assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large", "{what}");
        }
        // The server is still there.
        assert_eq!(server.http.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn headers_sent_too_slowly_lose_the_connection() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let server = TestServer::with(|c| c.header_read_timeout = Some(1)).await;
        let addr = server.url.trim_start_matches("http://").to_owned();
        // A slow-loris client: the request line and one header, then nothing more.
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        // The server closes the connection (the bound only keeps a broken server from hanging
        // the suite); whatever it says first is not an answer to the unfinished request.
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the connection is still open");
        let text = String::from_utf8_lossy(&answer);
        assert!(!text.contains("200 OK"), "{text}");
        // Complete requests are served as before.
        assert_eq!(server.http.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn each_partner_has_a_request_budget_per_second() {
        let server = TestServer::with(|c| c.partner_rate_limit = Some(2)).await;
        let fx = server.fixture().await;
        let other = server.fixture_with(json!({"name": "Other EHR"})).await;
        assert_eq!(mint_with(&server, &fx, &[]).await.status(), 200);
        assert_eq!(mint_with(&server, &fx, &[]).await.status(), 200);
        let response = mint_with(&server, &fx, &[]).await;
        assert_eq!(header(&response, "retry-after"), Some("1"));
        assert_problem(response, 429, "rate-limited").await;
        assert_eq!(mint_with(&server, &other, &[]).await.status(), 200, "another partner has its own budget");
        server.clock.advance(1);
        assert_eq!(mint_with(&server, &fx, &[]).await.status(), 200, "a new second, a new budget");
        let refused = server.audit("kind=sso.mint&outcome=refused").await;
        assert_eq!(refused.iter().filter(|r| r["reason"] == "rate-limited").count(), 1);
    }

    #[tokio::test]
    async fn fifty_concurrent_redemptions_of_one_token_succeed_exactly_once() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard").await;
        let attempts = (0..50).map(|_| {
            let http = server.http.clone();
            let url = url.clone();
            tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
        });
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");
        assert_eq!(server.audit("kind=sso.redeem&outcome=accepted").await.len(), 1);
        assert_eq!(server.audit("kind=sso.redeem&outcome=refused&limit=100").await.len(), 49);
    }

    #[tokio::test]
    async fn links_expire_after_the_configured_ttl() {
        let server = TestServer::with(|c| c.sso_token_ttl = Some(2)).await;
        let fx = server.fixture().await;
        let early = server.mint(&fx, "/dashboard").await;
        let late = server.mint(&fx, "/dashboard").await;
        // Within ttl plus the 5 s leeway for clock skew: accepted.
        server.clock.advance(6);
        assert_eq!(server.open(&early).await.status(), 303);
        // One second later the other link is past it.
        server.clock.advance(1);
        let response = server.http.get(&late).header("accept", "application/json").send().await.unwrap();
        assert_problem(response, 410, "expired-token").await;
        // A browser gets a page that says what happened and what to do.
        let page = server.open(&late).await;
        assert_eq!(page.status(), 410);
        assert!(header(&page, "content-type").unwrap().starts_with("text/html"));
        let text = page.text().await.unwrap();
        assert!(text.contains("Sign-in link expired") && text.contains("open the portal again"), "{text}");
    }

    #[tokio::test]
    async fn a_tampered_redirect_parameter_is_refused_and_does_not_burn_the_link() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard/patients/1").await;
        for tampered in ["%2Fdashboard%2Fpatients%2F2", "https%3A%2F%2Fevil.com", "%2F%2Fevil.com"] {
            let bad = url.replace("redirect=%2Fdashboard%2Fpatients%2F1", &format!("redirect={tampered}"));
            let response = server.http.get(&bad).header("accept", "application/json").send().await.unwrap();
            let body = assert_problem(response, 400, "invalid-token").await;
            assert_eq!(body["error"]["detail"], "The redirect does not match the signed path.");
        }
        let response = server.open(&url).await;
        assert_eq!(header(&response, "location"), Some("/dashboard/patients/1"));
        // Without the parameter, the signed path is used.
        let url = server.mint(&fx, "/dashboard/x").await;
        let bare = url.split("&redirect=").next().unwrap();
        assert_eq!(header(&server.open(bare).await, "location"), Some("/dashboard/x"));
    }

    #[tokio::test]
    async fn forged_tokens_are_refused() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let link = server.admin_sdk_mint(&fx, "/dashboard").await;
        let token = link.sso_token.as_str();
        let mut parts = token.split('.');
        let (header_b64, payload_b64, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let header_json: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).unwrap()).unwrap();
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).unwrap()).unwrap();
        assert_eq!(header_json["alg"], "HS256");
        assert_eq!(header_json["typ"], "handoff-sso+jwt");
        assert!(header_json["kid"].is_string());

        let none_header = json!({"alg": "none", "typ": "JWT", "kid": header_json["kid"]});
        claims["jti"] = json!("forged-1");
        let resigned = {
            let input = format!("{header_b64}.{}", b64(&claims));
            let mut mac = Hmac::<Sha256>::new_from_slice(b"attacker key").unwrap();
            mac.update(input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
        };
        let mut elevated = claims.clone();
        elevated["sub"] = json!(uuid::Uuid::new_v4().to_string());
        let forged = [
            format!("{}.{}.", b64(&none_header), b64(&claims)),
            format!("{}.{}", b64(&none_header), b64(&claims)),
            resigned,
            format!("{header_b64}.{}.{signature}", b64(&elevated)),
            token[..token.len() - 5].to_owned(),
            format!("{header_b64}.{payload_b64}"),
            "not-a-token".to_owned(),
            String::new(),
        ];
        for candidate in forged {
            let url = format!("{}/auth/sso?token={candidate}&redirect=%2Fdashboard", server.url);
            let response = server.http.get(url).header("accept", "application/json").send().await.unwrap();
            assert_problem(response, 400, "invalid-token").await;
        }
        // The genuine token still works once.
        assert_eq!(server.open(&link.redirect_url).await.status(), 303);
    }

    #[tokio::test]
    async fn redemption_rechecks_user_and_partner() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard").await;
        server.set_user_status(&fx.user.id, "disabled").await;
        let response = server.http.get(&url).header("accept", "application/json").send().await.unwrap();
        assert_problem(response, 403, "forbidden").await;

        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard").await;
        server
            .admin
            .admin::<Value, Value>(
                reqwest::Method::DELETE,
                &format!("/partners/{}/organizations/{}", fx.partner.id, fx.org.id),
                None,
            )
            .await
            .unwrap();
        let response = server.http.get(&url).header("accept", "application/json").send().await.unwrap();
        assert_problem(response, 403, "forbidden").await;
    }

    #[tokio::test]
    async fn accepted_and_refused_attempts_are_audited_with_context() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let link = server.admin_sdk_mint(&fx, "/dashboard/a").await;
        server.open(&link.redirect_url).await;
        server.open(&link.redirect_url).await;

        let minted = server.audit("kind=sso.mint&outcome=accepted").await;
        assert_eq!(minted.len(), 1);
        let m = &minted[0];
        assert_eq!(m["partner_id"], fx.partner.id.as_str());
        assert_eq!(m["organization_id"], fx.org.id.as_str());
        assert_eq!(m["user_id"], fx.user.id.as_str());
        assert_eq!(m["client_addr"], "127.0.0.1");
        assert!(m["request_id"].as_str().is_some_and(|id| id.len() == 36));
        let detail = m["detail"].as_str().unwrap();
        assert!(detail.starts_with("jti=") && !detail.contains(&link.sso_token));

        let redeemed = server.audit("kind=sso.redeem").await;
        assert_eq!(redeemed.len(), 2);
        assert_eq!(redeemed[0]["outcome"], "refused");
        assert_eq!(redeemed[0]["reason"], "token-already-used");
        assert_eq!(redeemed[1]["outcome"], "accepted");
        assert_eq!(redeemed[1]["user_id"], fx.user.id.as_str());
        // Filters narrow; the cursor pages.
        let by_user = server.audit(&format!("user_id={}&limit=1", fx.user.id)).await;
        assert_eq!(by_user.len(), 1);
        let page = server.admin_get(&format!("/audit?user_id={}&limit=1", fx.user.id)).await;
        let cursor = page["next_cursor"].as_str().unwrap();
        let next = server.audit(&format!("user_id={}&limit=1&cursor={cursor}", fx.user.id)).await;
        assert_ne!(next[0]["id"], page["items"][0]["id"]);
    }

    #[tokio::test]
    async fn a_link_of_another_user_asks_before_replacing_the_session() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let victim = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let (eve, link) = other_users_link(&server, &fx, "/dashboard/eve").await;
        let token = link.split("token=").nth(1).unwrap().split('&').next().unwrap().to_owned();

        // The browser signed in as Turid opens Eve's link: a question, not a switch.
        let asked = server.http.get(&link).header("cookie", &victim).send().await.unwrap();
        assert_eq!(asked.status(), 200);
        assert!(asked.headers().get("set-cookie").is_none());
        assert_eq!(
            header(&asked, "content-security-policy"),
            Some(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; \
                 frame-ancestors 'none'"
            )
        );
        assert_eq!(header(&asked, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&asked, "cache-control"), Some("no-store"));
        // The form's Origin must be sent, its URL (with the token) never as a Referer.
        assert_eq!(header(&asked, "referrer-policy"), Some("strict-origin"));
        let page = asked.text().await.unwrap();
        assert!(page.contains("You are signed in as <strong>Turid Jensen</strong>"), "{page}");
        assert!(page.contains("Continue as &lt;b&gt;Eve O&#39;Hara?"), "{page}");
        assert!(!page.contains("<b>Eve"), "{page}");
        assert!(page.contains("<form method=\"post\" action=\"/auth/sso\">") && page.contains("<a href=\"/\">"));
        assert_eq!(page.matches(&token).count(), 1, "the token only in the form's hidden field: {page}");
        assert_eq!(hidden(&page, "token"), token);
        let confirm = hidden(&page, "confirm");
        assert_eq!(session_user(&server, &victim).await.as_deref(), Some(fx.user.id.as_str()), "still Turid");

        // A JSON client is told of the conflict; the link stays unused.
        let json = server.http.get(&link).header("cookie", &victim).header("accept", "application/json").send().await;
        assert_problem(json.unwrap(), 409, "conflict").await;

        let post = |cookie: Option<&str>, origin: Option<&str>, body: String| {
            let mut request = server
                .http
                .post(format!("{}/auth/sso", server.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(body);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie.to_owned());
            }
            if let Some(origin) = origin {
                request = request.header("origin", origin.to_owned());
            }
            request.send()
        };
        let portal = server.url.clone();
        let good = format!("token={token}&confirm={confirm}");
        let other_session = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        for (what, cookie, origin, body) in [
            ("no confirmation token", Some(&victim), Some(&portal), format!("token={token}")),
            ("a wrong token", Some(&victim), Some(&portal), format!("token={token}&confirm={}", "0".repeat(64))),
            ("another session's token", Some(&other_session), Some(&portal), good.clone()),
            ("no session", None, Some(&portal), good.clone()),
            ("a foreign origin", Some(&victim), Some(&"https://evil.example".to_owned()), good.clone()),
            ("origin null", Some(&victim), Some(&"null".to_owned()), good.clone()),
        ] {
            let response = post(cookie.map(String::as_str), origin.map(String::as_str), body).await.unwrap();
            assert!(response.headers().get("set-cookie").is_none(), "{what}");
            assert_problem(response, 403, "forbidden").await;
        }
        let refused = server.audit("kind=sso.redeem&outcome=refused").await;
        assert_eq!(refused.len(), 7, "{refused:?}");
        assert!(refused.iter().all(|r| r["user_id"] == eve.as_str()));
        assert_eq!(session_user(&server, &victim).await.as_deref(), Some(fx.user.id.as_str()), "still Turid");

        // Confirmed from the portal's page: Eve is signed in, Turid's session has ended.
        let confirmed = post(Some(&victim), Some(&portal), good.clone()).await.unwrap();
        assert_eq!(confirmed.status(), 303);
        assert_eq!(header(&confirmed, "location"), Some("/dashboard/eve"));
        let eves = crate::harness::set_cookie_pair(&confirmed);
        assert!(eves.starts_with("handoff="), "{eves}");
        assert_eq!(session_user(&server, &eves).await.as_deref(), Some(eve.as_str()));
        assert_eq!(session_user(&server, &victim).await, None, "the replaced session has ended");
        let accepted = server.audit("kind=sso.redeem&outcome=accepted").await;
        assert!(accepted[0]["detail"].as_str().unwrap().ends_with(&format!("replaces the session of user {}", fx.user.id)));
        // Consumed now, and only now.
        assert_problem(post(Some(&eves), Some(&portal), good).await.unwrap(), 403, "forbidden").await;
        let again = server.http.get(&link).header("accept", "application/json").send().await.unwrap();
        assert_problem(again, 409, "token-already-used").await;
    }

    #[tokio::test]
    async fn a_link_redeems_at_once_for_the_same_user_no_session_or_an_embed() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let turid = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let same = server.http.get(server.mint(&fx, "/dashboard/x").await).header("cookie", &turid).send().await.unwrap();
        assert_eq!(same.status(), 303);
        assert_eq!(header(&same, "location"), Some("/dashboard/x"));
        // Embed sessions have their own partitioned cookie: another user's embed link replaces nothing.
        let (eve, embed) = other_users_link(&server, &fx, "/embed/x").await;
        let embedded = server.http.get(&embed).header("cookie", &turid).send().await.unwrap();
        assert_eq!(embedded.status(), 303);
        assert!(header(&embedded, "set-cookie").unwrap().starts_with("__Host-handoff-embed="));
        assert_eq!(session_user(&server, &turid).await.as_deref(), Some(fx.user.id.as_str()));
        let link = handoff_client::Client::new(&server.url)
            .mint_sso_link(&fx.credentials, &eve, Some("/dashboard"))
            .await
            .unwrap();
        assert_eq!(server.open(&link.redirect_url).await.status(), 303, "no session: signed in at once");
    }

    #[tokio::test]
    async fn a_head_probe_does_not_use_the_link() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard").await;
        let probe = server.http.head(&url).send().await.unwrap();
        assert_eq!(probe.status(), 200);
        assert!(probe.headers().get("set-cookie").is_none());
        assert_eq!(server.open(&url).await.status(), 303);
    }

    #[tokio::test]
    async fn the_client_address_comes_from_trusted_proxies_only() {
        // Untrusted: a client's own X-Forwarded-For is ignored.
        let server = TestServer::with(|c| c.failed_auth_limit = Some(2)).await;
        let fx = server.fixture().await;
        for _ in 0..2 {
            let response = mint_with(&server, &fx, &[("x-partner-secret", "hps_wrong")]).await;
            assert_eq!(response.status(), 401);
        }
        let spoofed = mint_request(&server, &fx, &[("x-forwarded-for", "198.51.100.7")]).send().await.unwrap();
        assert_eq!(spoofed.status(), 429, "a forged X-Forwarded-For must not escape the limit");

        // Trusted (the loopback peer is the proxy): each forwarded client has its own limit and
        // appears in the audit log; entries left of the last untrusted one are the client's claims.
        let server = TestServer::with(|c| {
            c.failed_auth_limit = Some(2);
            c.trusted_proxies = Some("127.0.0.1, ::1".into());
        })
        .await;
        let fx = server.fixture().await;
        let send = |forwarded: &'static str, secret: &'static str| {
            let mut overrides = vec![("x-forwarded-for", forwarded)];
            if !secret.is_empty() {
                overrides.push(("x-partner-secret", secret));
            }
            let request = mint_request(&server, &fx, &overrides);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(send("203.0.113.9", "hps_wrong").await, 401);
        assert_eq!(send("6.6.6.6, 203.0.113.9", "hps_wrong").await, 401);
        assert_eq!(send("203.0.113.9", "").await, 429);
        assert_eq!(send("203.0.113.10", "").await, 200);
        let refused = server.audit("kind=sso.mint&outcome=refused").await;
        assert!(refused.iter().all(|r| r["client_addr"] == "203.0.113.9"), "{refused:?}");
        // Entries with ports are addresses too; an entry that is no address ends the walk, so a
        // claim left of it is never believed: the proxy's own address stands.
        assert_eq!(send("203.0.113.11:4711", "hps_wrong").await, 401);
        assert_eq!(send("6.6.6.6, unknown", "hps_wrong").await, 401);
        let addrs: Vec<Value> =
            server.audit("kind=sso.mint&outcome=refused&limit=2").await.iter().map(|r| r["client_addr"].clone()).collect();
        assert_eq!(addrs, [json!("127.0.0.1"), json!("203.0.113.11")]);

        // Another header, when the proxy is configured to send that one.
        let server = TestServer::with(|c| {
            c.trusted_proxies = Some("127.0.0.1".into());
            c.client_addr_header = Some("X-Real-IP".into());
        })
        .await;
        let fx = server.fixture().await;
        let request = mint_request(&server, &fx, &[("x-real-ip", "192.0.2.44"), ("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(request.send().await.unwrap().status(), 200);
        let accepted = server.audit("kind=sso.mint&outcome=accepted").await;
        assert_eq!(accepted[0]["client_addr"], "192.0.2.44");
    }

    #[tokio::test]
    async fn a_credential_header_sent_twice_is_refused_naming_it() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let other = server.create_user(&fx.org.id, "other@jensen.com").await;
        let names = ["x-partner-id", "x-partner-secret", "x-organization-id", "x-organization-secret", "x-user-id"];
        for repeated in names {
            let mut request = server.http.post(format!("{}/v1/sso", server.url));
            for (name, value) in fx.headers(&fx.user.id) {
                request = request.header(name, value.clone());
                if name == repeated {
                    // A second value: another user, or the same value again.
                    let second = if name == "x-user-id" { other.id.clone() } else { value };
                    request = request.header(name, second);
                }
            }
            let body = assert_problem(request.send().await.unwrap(), 400, "invalid-request").await;
            let detail = body["error"]["detail"].as_str().unwrap();
            assert!(detail.contains(repeated), "{repeated}: {detail}");
        }
        // The users API reads the same headers.
        let mut request = server.http.get(format!("{}/v1/organizations/{}/users/{}", server.url, fx.org.id, fx.user.id));
        for (name, value) in fx.headers(&fx.user.id) {
            request = request.header(name, value);
        }
        let response = request.header("x-organization-id", fx.org.id.clone()).send().await.unwrap();
        assert_problem(response, 400, "invalid-request").await;
        let refused = server.audit("kind=sso.mint&outcome=refused").await;
        assert_eq!(refused.len(), 5, "every refusal is audited: {refused:?}");
        assert!(server.audit("outcome=accepted&kind=sso.mint").await.is_empty());
    }

    #[tokio::test]
    async fn ipv6_clients_are_counted_per_64() {
        let server = TestServer::with(|c| {
            c.failed_auth_limit = Some(3);
            c.trusted_proxies = Some("127.0.0.1".into());
        })
        .await;
        let fx = server.fixture().await;
        let send = |forwarded: &'static str| {
            let overrides = [("x-forwarded-for", forwarded), ("x-partner-secret", "hps_wrong")];
            let request = mint_request(&server, &fx, &overrides);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        // Three addresses of one /64 share one budget; the next /64 has its own.
        for forwarded in ["2001:db8:1:2::1", "2001:db8:1:2::2", "[2001:db8:1:2:ffff::3]:443"] {
            assert_eq!(send(forwarded).await, 401, "{forwarded}");
        }
        assert_eq!(send("2001:db8:1:2:abcd::99").await, 429);
        assert_eq!(send("2001:db8:1:3::1").await, 401);
        // The audit log keeps each full address.
        let refused = server.audit("kind=sso.mint&outcome=refused").await;
        assert!(refused.iter().any(|r| r["client_addr"] == "2001:db8:1:2:abcd::99"), "{refused:?}");
    }
}
