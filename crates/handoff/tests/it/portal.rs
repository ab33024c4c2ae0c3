//! Sessions after redemption: cookies, framing, forward-auth, who-am-I, logout, revocation.

use serde_json::Value;

use crate::harness::{assert_problem, header, http_client_from, set_cookie_pair, verify_with_jwks, TestServer};

backend_tests! {
    #[tokio::test]
    async fn top_level_session_cookie_and_framing() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard/patients/1?tab=rx").await;
        let response = server.open(&url).await;
        assert_eq!(response.status(), 303);
        assert_eq!(header(&response, "location"), Some("/dashboard/patients/1?tab=rx"));
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"));
        let cookie = header(&response, "set-cookie").unwrap().to_owned();
        // Plain-http loopback development: no Secure, so no __Host- prefix.
        assert!(cookie.starts_with("handoff="), "{cookie}");
        assert!(cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Lax") && cookie.contains("; Path=/"));
        assert!(!cookie.contains("Secure") && !cookie.contains("Partitioned"));
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        let (id, secret) = value.split_once('.').unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "the session id");
        assert_eq!(secret.len(), 43, "a 256-bit secret");

        let page =
            server.http.get(format!("{}/dashboard/patients/1", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
        assert!(header(&page, "content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        let text = page.text().await.unwrap();
        assert!(text.contains("Signed in as Turid Jensen") && text.contains("turid@jensen.com"), "{text}");
    }

    #[tokio::test]
    async fn https_portals_get_host_prefixed_secure_cookies() {
        let server = TestServer::with(|c| c.public_url = Some("https://portal.example.com".into())).await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard").await;
        assert!(url.starts_with("https://portal.example.com/auth/sso?token="));
        let local = url.replace("https://portal.example.com", &server.url);
        let response = server.open(&local).await;
        let cookie = header(&response, "set-cookie").unwrap();
        assert!(cookie.starts_with("__Host-handoff="), "{cookie}");
        assert!(cookie.contains("; Secure") && cookie.contains("; SameSite=Lax") && cookie.contains("; HttpOnly"));
    }

    #[tokio::test]
    async fn embed_sessions_are_partitioned_and_framed_by_the_partner_only() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/embed/patients/1/prescriptions?prefill=amoxicillin").await;
        let response = server.open(&url).await;
        assert_eq!(response.status(), 303);
        let cookie = header(&response, "set-cookie").unwrap().to_owned();
        assert!(cookie.starts_with("__Host-handoff-embed="), "{cookie}");
        for attribute in ["; Path=/", "; HttpOnly", "; Secure", "; SameSite=None", "; Partitioned"] {
            assert!(cookie.contains(attribute), "{attribute} missing in {cookie}");
        }
        assert_eq!(header(&response, "content-security-policy"), Some("frame-ancestors https://ehr.example.com"));
        assert_eq!(header(&response, "x-frame-options"), None);

        let pair = set_cookie_pair(&response);
        let page = server
            .http
            .get(format!("{}/embed/patients/1/prescriptions?prefill=amoxicillin", server.url))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(header(&page, "content-security-policy").unwrap().ends_with("frame-ancestors https://ehr.example.com"));
        assert_eq!(header(&page, "x-frame-options"), None);
        // The embed session does not sign the top-level portal in.
        let top = server.http.get(format!("{}/dashboard", server.url)).header("cookie", &pair).send().await.unwrap();
        assert_eq!(top.status(), 401);
        assert_eq!(header(&top, "x-frame-options"), Some("DENY"));
    }

    #[tokio::test]
    async fn forward_auth_answers_200_with_identity_or_401() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let verify = format!("{}/auth/verify", server.url);
        let anonymous = server.http.get(&verify).send().await.unwrap();
        assert_problem(anonymous, 401, "authentication-required").await;
        let forged_cookie = server.http.get(&verify).header("cookie", "handoff=AAAA").send().await.unwrap();
        assert_eq!(forged_cookie.status(), 401);

        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let response = server
            .http
            .get(&verify)
            .header("cookie", &cookie)
            .header("x-original-uri", "/dashboard/x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-handoff-user-id"), Some(fx.user.id.as_str()));
        assert_eq!(header(&response, "x-handoff-organization-id"), Some(fx.org.id.as_str()));
        assert_eq!(header(&response, "x-handoff-partner-id"), Some(fx.partner.id.as_str()));
        assert_eq!(header(&response, "x-handoff-email"), Some("turid@jensen.com"));
        assert_eq!(header(&response, "x-handoff-embed"), Some("false"));

        // The identity token verifies against the published JWKS.
        let token = header(&response, "x-handoff-token").unwrap().to_owned();
        let (jose, claims) = verify_with_jwks(&server.http, &format!("{}/.well-known/jwks.json", server.url), &token).await;
        assert_eq!(jose["typ"], "handoff-id+jwt");
        assert_eq!(jose["kid"], server.admin_get("/keys").await["identity"]["current"]);
        assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some(server.url.as_str()), Some(server.url.as_str())));
        assert_eq!(claims["sub"], fx.user.id.as_str());
        assert_eq!(claims["email"], "turid@jensen.com");
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert_eq!(lifetime, 60);

        // For an /embed/ URI the proxy asks about, the embed cookie counts, not the top-level one.
        let embed =
            server.http.get(&verify).header("cookie", &cookie).header("x-original-uri", "/embed/x").send().await.unwrap();
        assert_eq!(embed.status(), 401);
        let embed_cookie = server.sign_in(&server.mint(&fx, "/embed/x").await).await;
        let embed = server
            .http
            .get(&verify)
            .header("cookie", &embed_cookie)
            .header("x-forwarded-uri", "/embed/x")
            .send()
            .await
            .unwrap();
        assert_eq!(embed.status(), 200);
        assert_eq!(header(&embed, "x-handoff-embed"), Some("true"));
    }

    #[tokio::test]
    async fn session_logout_and_revocation() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let me: Value = server.who_am_i(&cookie).await;
        assert_eq!(me["user_id"], fx.user.id.as_str());
        assert_eq!(me["embed"], false);

        let logout = server.logout(&server.url, &cookie).await;
        assert_eq!(logout.status(), 204);
        assert!(header(&logout, "set-cookie").unwrap().contains("Max-Age=0"));
        let after = server.http.get(format!("{}/auth/session", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_problem(after, 401, "authentication-required").await;

        // Disabling the user ends its sessions at once.
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        server.set_user_status(&fx.user.id, "disabled").await;
        let after = server.http.get(format!("{}/auth/verify", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(after.status(), 401);
    }

    #[tokio::test]
    async fn logout_from_another_site_is_refused_and_ends_nothing() {
        let server = TestServer::start().await;
        let fx = server.fixture().await; // embed origin https://ehr.example.com
        let verify = format!("{}/auth/verify", server.url);
        let logout = |cookie: &str, origin: &str| {
            server
                .http
                .post(format!("{}/auth/logout", server.url))
                .header("cookie", cookie.to_owned())
                .header("origin", origin.to_owned())
                .header("accept", "application/json")
                .send()
        };
        let embed = server.sign_in(&server.mint(&fx, "/embed/x").await).await;
        let embed_alive = || server.http.get(&verify).header("cookie", &embed).header("x-original-uri", "/embed/x").send();
        // The embed cookie is SameSite=None: any site's page can send it along.
        for origin in ["https://evil.example", "null", "https://ehr.example.com.evil.example"] {
            let refused = logout(&embed, origin).await.unwrap();
            assert!(refused.headers().get("set-cookie").is_none(), "{origin}");
            assert_problem(refused, 403, "forbidden").await;
            assert_eq!(embed_alive().await.unwrap().status(), 200, "{origin}: the session is still alive");
        }
        let audited = server.audit("kind=auth.logout&outcome=refused").await;
        assert_eq!(audited.len(), 3, "{audited:?}");
        assert_eq!(audited[0]["user_id"], fx.user.id.as_str());
        assert!(audited[0]["detail"].as_str().unwrap().contains("origin=https://ehr.example.com.evil.example"));
        // The embed session's partner may sign it out from its own page.
        assert_eq!(logout(&embed, "https://ehr.example.com").await.unwrap().status(), 204);
        assert_eq!(embed_alive().await.unwrap().status(), 401);

        // A top-level session: the portal's own pages only, not the partner's.
        let top = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        assert_problem(logout(&top, "https://ehr.example.com").await.unwrap(), 403, "forbidden").await;
        assert_eq!(server.http.get(&verify).header("cookie", &top).send().await.unwrap().status(), 200);
        assert_eq!(logout(&top, &server.url).await.unwrap().status(), 204);
        assert_eq!(server.http.get(&verify).header("cookie", &top).send().await.unwrap().status(), 401);

        // A no-referrer page of the portal makes browsers send `Origin: null`, but `Sec-Fetch-Site`
        // still says same-origin.
        let again = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let form = server
            .http
            .post(format!("{}/auth/logout", server.url))
            .header("cookie", &again)
            .header("origin", "null")
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 303);
        assert_eq!(server.http.get(&verify).header("cookie", &again).send().await.unwrap().status(), 401);
    }

    #[tokio::test]
    async fn sessions_end_after_idle_and_absolute_timeouts() {
        let server = TestServer::with(|c| {
            c.session_idle_timeout = Some(100);
            c.session_absolute_timeout = Some(250);
        })
        .await;
        let fx = server.fixture().await;
        let verify = format!("{}/auth/verify", server.url);
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        for _ in 0..3 {
            server.clock.advance(80);
            let status = server.http.get(&verify).header("cookie", &cookie).send().await.unwrap().status();
            assert_eq!(status, 200, "used within the idle limit");
        }
        server.clock.advance(20);
        assert_eq!(
            server.http.get(&verify).header("cookie", &cookie).send().await.unwrap().status(),
            401,
            "absolute limit"
        );

        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        server.clock.advance(101);
        assert_eq!(server.http.get(&verify).header("cookie", &cookie).send().await.unwrap().status(), 401, "idle limit");
    }

    #[tokio::test]
    async fn problem_types_resolve_to_reference_pages() {
        let server = TestServer::start().await;
        let response = server.http.post(format!("{}/v1/sso", server.url)).send().await.unwrap();
        let body = assert_problem(response, 400, "invalid-request").await;
        let type_uri = body["error"]["type"].as_str().unwrap();
        assert_eq!(type_uri, format!("{}/errors/invalid-request", server.url));
        let page = server.http.get(type_uri).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("invalid-request"));
        assert_eq!(server.http.get(format!("{}/errors/nope", server.url)).send().await.unwrap().status(), 404);
        let wrong_method = server.http.get(format!("{}/v1/sso", server.url)).send().await.unwrap();
        let body = assert_problem(wrong_method, 405, "method-not-allowed").await;
        let page = server.http.get(body["error"]["type"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let health: Value = server.http.get(format!("{}/healthz", server.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["status"], "ok");
        let ready: Value = server.http.get(format!("{}/readyz", server.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
    }

    #[tokio::test]
    async fn an_admin_can_end_all_sessions_of_a_user() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let verify = format!("{}/auth/verify", server.url);
        let top = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let embed = server.sign_in(&server.mint(&fx, "/embed/x").await).await;
        let ended: Value = server
            .admin
            .admin::<Value, Value>(reqwest::Method::DELETE, &format!("/users/{}/sessions", fx.user.id), None)
            .await
            .unwrap();
        assert_eq!(ended["ended_sessions"], 2);
        assert_eq!(server.http.get(&verify).header("cookie", &top).send().await.unwrap().status(), 401);
        let embed_check =
            server.http.get(&verify).header("cookie", &embed).header("x-original-uri", "/embed/x").send().await.unwrap();
        assert_eq!(embed_check.status(), 401);
        // The user is still active: a new link signs in again.
        let again = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        assert_eq!(server.http.get(&verify).header("cookie", &again).send().await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn forward_auth_answers_only_the_configured_proxies() {
        let server = TestServer::with(|c| c.forward_auth_allow = Some("127.0.0.1".into())).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let verify = format!("{}/auth/verify", server.url);
        let proxy = server.http.get(&verify).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(proxy.status(), 200);
        assert!(header(&proxy, "x-handoff-token").is_some());
        // The same session cookie from any other address (a script on the portal, a browser):
        // no identity, no token.
        let stranger = http_client_from("127.0.0.2").get(&verify).header("cookie", &cookie).send().await.unwrap();
        assert!(header(&stranger, "x-handoff-token").is_none() && header(&stranger, "x-handoff-user-id").is_none());
        assert_problem(stranger, 403, "forbidden").await;
        // A client claiming to be the proxy in a forwarding header is still the stranger.
        let claimed = http_client_from("127.0.0.2")
            .get(&verify)
            .header("cookie", &cookie)
            .header("x-forwarded-for", "127.0.0.1")
            .send()
            .await
            .unwrap();
        assert_eq!(claimed.status(), 403);
        let refused = server.audit("outcome=refused&kind=http.request").await;
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0]["client_addr"], "127.0.0.2");
    }
}

#[tokio::test]
async fn every_html_page_carries_the_security_headers() {
    let server = TestServer::start().await;
    let fx = server.fixture().await;
    let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
    let pages = [
        ("the landing page", "/dashboard", true, 200),
        ("not signed in", "/dashboard", false, 401),
        ("a damaged link", "/auth/sso?token=garbage", false, 400),
        ("an unknown supplier", "/launch/nope", true, 404),
        ("an error reference", "/errors/invalid-request", false, 200),
        ("the API reference", "/openapi", false, 200),
    ];
    for (what, path, signed_in, status) in pages {
        let mut request = server.http.get(format!("{}{path}", server.url));
        if signed_in {
            request = request.header("cookie", &cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert!(header(&response, "content-type").is_some_and(|v| v.starts_with("text/html")), "{what}");
        assert_eq!(
            header(&response, "content-security-policy"),
            Some(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; \
                 frame-ancestors 'none'"
            ),
            "{what}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"), "{what}");
    }
}
