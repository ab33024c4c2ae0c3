//! The redirect-path policy through the real API: hostile paths are refused with 400 before any
//! link exists; legitimate deep links (with query strings) land exactly where they say.

use serde_json::{json, Value};

use crate::harness::{assert_problem, header, TestServer};

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
    "/dashboard/a;b=c",
    "/dashboard/~turid/notes",
    "/dashboard?empty=",
    "/dashboard?flag",
];

backend_tests! {
    #[tokio::test]
    async fn hostile_redirect_paths_are_refused() {
        assert!(HOSTILE.len() >= 60, "{} hostile paths", HOSTILE.len());
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
}
