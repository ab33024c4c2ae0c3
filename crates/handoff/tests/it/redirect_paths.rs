//! The redirect-path policy through the real API: hostile paths are refused with 400 before any
//! link exists; legitimate deep links (with query strings) land exactly where they say; and only
//! a path that passes the policy gets embed treatment, at redemption, in the proxy and in
//! forward-auth.

use serde_json::{json, Value};

use crate::harness::{assert_problem, header, set_cookie_pair, TestServer};
use crate::upstream;

const HOSTILE: &[&str] = &[
    // Absolute and protocol-relative URLs.
    "https://evil.com",
    "http://evil.com/dashboard",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.com",
    "//evil.com/dashboard",
    "///evil.com",
    "////evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "\\/evil.com",
    "/\\/evil.com",
    "/dashboard\\..\\..\\evil",
    "dashboard",
    "evil.com/dashboard",
    ":/evil.com",
    "",
    " /dashboard",
    "/dashboard ",
    "/dash board",
    // Encoded slashes, backslashes and percent signs.
    "/%2F%2Fevil.com",
    "/%2f%2fevil.com",
    "/%5Cevil.com",
    "/%5cevil.com",
    "/dashboard%2F..%2F..%2Fadmin",
    "/%252F%252Fevil.com",
    "/%25%32%46evil.com",
    "/dashboard/%2e%2e/admin",
    "/dashboard/%2E%2E/%2E%2E/admin",
    "/%2e/dashboard",
    "/%",
    "/%2",
    "/%zz",
    "/dashboard?q=%",
    "/dashboard?q=%G1",
    // Dot segments.
    "/..",
    "/../evil",
    "/dashboard/../../evil",
    "/dashboard/..",
    // Dots and spaces only: IIS trims them to `..`.
    "/embed/..%20/admin",
    "/embed/.../x",
    "/dashboard/. ./x",
    "/./dashboard",
    "/dashboard/.",
    "/dashboard//patients",
    // Control characters, raw and encoded.
    "/dashboard\u{0}",
    "/dash\rboard",
    "/dash\nLocation: https://evil.com",
    "/dashboard\t",
    "/dashboard\u{7f}",
    "/dashboard%00",
    "/dashboard%0d%0aSet-Cookie:x=1",
    "/dashboard%0A",
    "/dashboard%7F",
    "/dashboard%09",
    // Unicode look-alikes of '/', '\', '.' and ':'.
    "/\u{2215}evil.com",
    "/\u{2044}evil.com",
    "/\u{ff0f}evil.com",
    "/\u{29f5}evil.com",
    "/\u{ff3c}evil.com",
    "/\u{2024}\u{2024}/evil",
    "/\u{ff0e}\u{ff0e}/evil",
    "/evil\u{ff1a}com",
    "\u{ff0f}\u{ff0f}evil.com",
    "/dashboard/pati\u{0435}nts",
    "/\u{200b}/evil.com",
    "/\u{202e}moc.live",
    "/dashboard\u{a0}",
    // Path parameters: Tomcat, Jetty and Spring cut them, then resolve what is left.
    "/dashboard/patients/..;/..;/admin",
    "/dashboard/..;/admin",
    "/dashboard/.;/admin",
    "/dashboard/..;x=1/admin",
    "/dashboard/..%3B/admin",
    "/dashboard/..%3b/admin",
    "/dashboard/%2e%2e;/admin",
    "/dashboard/%2E%2E%3B/admin",
    "/embed/..;/dashboard",
    "/embed/..%2fdashboard",
    "/dashboard/a;b=c",
    "/dashboard;jsessionid=0123456789ABCDEF",
    // Raw characters outside RFC 3986's path and query sets.
    "/dashboard/<script>",
    "/dashboard/>",
    "/dashboard/\"x\"",
    "/dashboard/{id}",
    "/dashboard|admin",
    "/dashboard^admin",
    "/dashboard/`id`",
    "/dashboard[0]",
    "/dashboard?q=<script>",
    "/dashboard?q={x}|y",
    "/dashboard?q=a b",
    "/dashboard#a b",
    // Escapes that do not decode to UTF-8: overlong '/' and '.', a lone surrogate, stray bytes.
    "/%c0%afevil.com",
    "/dashboard/%C0%AE%C0%AE/admin",
    "/dashboard/%e0%80%ae%e0%80%ae/admin",
    "/dashboard/%ed%a0%80",
    "/dashboard/%ff",
    "/dashboard/%C3",
    "/dashboard?q=%c0%af",
    // Percent-encoded look-alikes of '/', '\', '.' and '@' (UTS #39 confusables).
    "/%E2%88%95evil.com",
    "/%E2%81%84evil.com",
    "/%EF%BC%8F%EF%BC%8Fevil.com",
    "/%E2%A7%B8evil.com",
    "/%EF%BC%BCevil.com",
    "/%EF%B9%A8evil.com",
    "/dashboard/%E2%80%A4%E2%80%A4/admin",
    "/dashboard/%EF%BC%8E%EF%BC%8E/admin",
    "/dashboard/%E2%80%A5/admin",
    "/%EF%BC%A0evil.com",
    "/%EF%B9%ABevil.com",
    "/embed/%EF%BC%8F%EF%BC%8Fdashboard",
    // Bidirectional controls, in the path and the query.
    "/%E2%80%AEmoc.live",
    "/dashboard/%E2%80%AAx",
    "/dashboard/%E2%81%A6x%E2%81%A9",
    "/dashboard/%E2%80%8Fx",
    "/dashboard/%D8%9Cx",
    "/dashboard?q=%E2%80%AE",
    // '@' opening the path.
    "/@evil.com",
    "/%40evil.com",
];

const LEGITIMATE: &[&str] = &[
    "/",
    "/dashboard",
    "/dashboard/",
    "/dashboard/patients/1234-5678-3456-2345",
    "/dashboard/patients/1234-5678-3456-2345/prescriptions",
    "/embed/patients/1234-5678-3456-2345/prescriptions",
    "/embed/patients/1?prefill=amoxicillin&dose=500mg",
    "/dashboard/search?q=jensen&page=2",
    "/dashboard/search?q=Turid%20Jensen",
    "/dashboard/search?q=%C3%98stby",
    "/dashboard/patients/%C3%A6%C3%B8%C3%A5",
    "/dashboard?next=%2Fdashboard%2Fpatients",
    "/dashboard?return=https://ehr.example.com/back",
    "/dashboard/reports/2025-05-13.pdf",
    "/dashboard/users/@me",
    "/dashboard/users/%40me",
    "/dashboard/search?q=a;b&page=2",
    "/wiki/%E3%83%8E%E3%83%BC%E3%83%88",
    "/dashboard?next=%EF%BC%8Fdashboard",
    "/dashboard/~turid/notes",
    "/dashboard?empty=",
    "/dashboard?flag",
];

backend_tests! {
    #[tokio::test]
    async fn hostile_redirect_paths_are_refused() {
        assert!(HOSTILE.len() >= 115, "{} hostile paths", HOSTILE.len());
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        for path in HOSTILE {
            let response = server.mint_raw(&fx, &fx.user.id, Some(json!({ "redirect_path": path }))).await;
            let body = assert_problem(response, 400, "invalid-request").await;
            assert!(body["error"]["detail"].as_str().unwrap().contains("redirect_path"), "{path:?}: {body}");
        }
        assert_eq!(server.audit("kind=sso.mint&outcome=accepted").await.len(), 0);
        assert_eq!(server.audit("kind=sso.mint&outcome=refused&limit=1000").await.len(), HOSTILE.len());
    }

    #[tokio::test]
    async fn legitimate_deep_links_land_exactly() {
        assert!(LEGITIMATE.len() >= 15);
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        for path in LEGITIMATE {
            let response = server.mint_raw(&fx, &fx.user.id, Some(json!({ "redirect_path": path }))).await;
            assert_eq!(response.status(), 200, "{path}");
            let body: Value = response.json().await.unwrap();
            let landing = server.open(body["data"]["redirect_url"].as_str().unwrap()).await;
            assert_eq!(landing.status(), 303, "{path}");
            assert_eq!(header(&landing, "location"), Some(*path));
        }
    }

    #[tokio::test]
    async fn fragments_are_dropped() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let url = server.mint(&fx, "/dashboard/patients/1?tab=rx#history").await;
        assert_eq!(header(&server.open(&url).await, "location"), Some("/dashboard/patients/1?tab=rx"));
    }

    #[tokio::test]
    async fn a_partner_held_to_a_prefix_cannot_climb_out_with_path_parameters() {
        let server = TestServer::start().await;
        let fx = server.fixture_with(json!({"name": "Narrow", "allowed_path_prefixes": ["/dashboard/patients"]})).await;
        for path in ["/dashboard/patients/..;/..;/admin", "/dashboard/patients/%2e%2e;/%2e%2e;/admin"] {
            let response = server.mint_raw(&fx, &fx.user.id, Some(json!({ "redirect_path": path }))).await;
            let body = assert_problem(response, 400, "invalid-request").await;
            assert!(body["error"]["detail"].as_str().unwrap().contains("redirect_path"), "{path:?}: {body}");
        }
        assert_eq!(server.audit("kind=sso.mint&outcome=refused").await.len(), 2);
        assert_eq!(server.audit("kind=sso.mint&outcome=accepted").await.len(), 0);
    }

    #[tokio::test]
    async fn only_a_policy_checked_embed_path_gets_embed_treatment() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        // Redemption: no link into these exists, so none can open an embed session.
        for path in EMBED_ESCAPES {
            let response = server.mint_raw(&fx, &fx.user.id, Some(json!({ "redirect_path": path }))).await;
            assert_problem(response, 400, "invalid-request").await;
        }
        let embed = server.sign_in(&server.mint(&fx, "/embed/x").await).await;
        let top = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let both = format!("{embed}; {top}");
        let verify = format!("{}/auth/verify", server.url);
        for path in EMBED_ESCAPES {
            for name in ["x-original-uri", "x-forwarded-uri"] {
                // Forward-auth: the embed session does not count for them...
                let response = server.http.get(&verify).header("cookie", &embed).header(name, *path).send().await.unwrap();
                assert_problem(response, 401, "authentication-required").await;
                // ... the top-level one does, and the application is told it is not embedded.
                let response = server.http.get(&verify).header("cookie", &both).header(name, *path).send().await.unwrap();
                assert_eq!(response.status(), 200, "{name}: {path}");
                assert_eq!(header(&response, "x-handoff-embed"), Some("false"), "{name}: {path}");
            }
            // The portal's fallback (built-in page): the same, and never framed by the partner.
            let page = format!("{}{path}", server.url);
            let response = server.http.get(&page).header("cookie", &embed).send().await.unwrap();
            assert_eq!(response.status(), 401, "{path}");
            let response = server.http.get(&page).header("cookie", &both).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
            assert!(header(&response, "content-security-policy").unwrap().contains("frame-ancestors 'none'"), "{path}");
            assert!(!response.text().await.unwrap().contains("embedded session"), "{path}");
        }
        // A real embed path still is one.
        let response = server.http.get(&verify).header("cookie", &both).header("x-original-uri", "/embed/x?a=1").send().await.unwrap();
        assert_eq!(header(&response, "x-handoff-embed"), Some("true"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_proxy_gives_embed_treatment_only_to_policy_checked_embed_paths() {
        let app = upstream::start().await;
        let server = TestServer::with(|c| c.upstream = Some(app.url.clone())).await;
        let fx = server.fixture().await;
        let response = server.open(&server.mint(&fx, "/embed/x").await).await;
        let embed = set_cookie_pair(&response);
        let top = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let both = format!("{embed}; {top}");
        for path in EMBED_ESCAPES {
            let page = format!("{}{path}", server.url);
            let response = server.http.get(&page).header("cookie", &embed).send().await.unwrap();
            assert_eq!(response.status(), 401, "{path}");
            assert_eq!(app.calls(), 0, "{path}: the application was called with the embed session");
        }
        for (n, path) in EMBED_ESCAPES.iter().enumerate() {
            let page = format!("{}{path}", server.url);
            let response = server.http.get(&page).header("cookie", &both).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(app.calls(), n + 1);
            assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
            assert_eq!(header(&response, "content-security-policy"), Some("frame-ancestors 'none'"), "{path}");
            let seen: Value = response.json().await.unwrap();
            assert_eq!(seen["path"], *path);
            assert_eq!(seen["headers"]["x-handoff-embed"], "false", "{path}");
        }
        let response = server.http.get(format!("{}/embed/x", server.url)).header("cookie", &both).send().await.unwrap();
        assert_eq!(header(&response, "content-security-policy"), Some("frame-ancestors https://ehr.example.com"));
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["headers"]["x-handoff-embed"], "true");
    }
}

/// Request paths under `/embed` that an application behind handoff may resolve outside it.
const EMBED_ESCAPES: &[&str] = &[
    "/embed/..;/dashboard",
    "/embed/.;/dashboard",
    "/embed/..;x=1/dashboard",
    "/embed/..%3B/dashboard",
    "/embed/%2e%2e;/dashboard",
    "/embed/..%2fdashboard",
    "/embed/..%2Fdashboard",
    "/embed/%2e%2e%2fdashboard",
    "/embed/..%5Cdashboard",
    "/embed/%EF%BC%8E%EF%BC%8E/dashboard",
    "/embed;/dashboard",
];
