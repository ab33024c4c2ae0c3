//! `GET /metrics`: Prometheus text with requests by route and status, their latencies, SSO
//! outcomes (audit records) by reason, the journal's queue and batches, and the pool — and never a
//! secret or a token.

use crate::harness::{http_client_from, TestServer};

/// The value of the sample `name{…}` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let matches = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        matches.then(|| value.parse().ok()).flatten()
    })
}

backend_tests! {
    #[tokio::test]
    async fn metrics_count_requests_outcomes_and_latencies_without_secrets() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let mut links = Vec::new();
        for i in 0..3 {
            links.push(server.mint(&fx, &format!("/dashboard/{i}")).await);
        }
        let mut wrong = server.http.post(format!("{}/v1/sso", server.url));
        for (name, value) in fx.headers(&fx.user.id) {
            wrong = wrong.header(name, if name == "x-partner-secret" { "hps_wrong".to_owned() } else { value });
        }
        assert_eq!(wrong.send().await.unwrap().status(), 401);
        let cookie = server.sign_in(&links[0]).await;
        assert_eq!(server.open(&links[0]).await.status(), 409);

        let response = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = response.text().await.unwrap();

        let requests = |route, method, status| {
            sample(&text, "handoff_http_requests_total", &[("route", route), ("method", method), ("status", status)])
        };
        assert_eq!(requests("/v1/sso", "POST", "200"), Some(3.0));
        assert_eq!(requests("/v1/sso", "POST", "401"), Some(1.0));
        assert_eq!(requests("/auth/sso", "GET", "303"), Some(1.0));
        assert_eq!(requests("/auth/sso", "GET", "409"), Some(1.0));
        let all_mints = [("route", "/v1/sso"), ("method", "POST"), ("le", "+Inf")];
        assert_eq!(sample(&text, "handoff_http_request_duration_seconds_bucket", &all_mints), Some(4.0));
        assert!(sample(&text, "handoff_http_request_duration_seconds_sum", &all_mints[..2]).unwrap() > 0.0);

        let outcomes = |kind, outcome, reason| {
            sample(&text, "handoff_audit_records_total", &[("kind", kind), ("outcome", outcome), ("reason", reason)])
        };
        assert_eq!(outcomes("sso.mint", "accepted", "minted"), Some(3.0));
        assert_eq!(outcomes("sso.mint", "refused", "authentication-required"), Some(1.0));
        assert_eq!(outcomes("sso.redeem", "accepted", "redeemed"), Some(1.0));
        assert_eq!(outcomes("sso.redeem", "refused", "token-already-used"), Some(1.0));

        assert_eq!(sample(&text, "handoff_journal_queue_depth", &[]), Some(0.0));
        // Six sign-in writes at least (four mints and two redemptions, one of each refused) beside
        // the fixture's, in as many batches as the group commit made, each batch timed.
        let batches = sample(&text, "handoff_journal_commit_duration_seconds_count", &[]).unwrap();
        assert!(batches >= 1.0, "{batches}");
        assert_eq!(sample(&text, "handoff_journal_commit_duration_seconds_bucket", &[("le", "+Inf")]), Some(batches));
        assert!(sample(&text, "handoff_journal_commit_duration_seconds_sum", &[]).unwrap() > 0.0);
        assert_eq!(sample(&text, "handoff_journal_batch_writes_count", &[]), Some(batches));
        let writes = sample(&text, "handoff_journal_batch_writes_sum", &[]).unwrap();
        assert!(writes >= 6.0 && writes >= batches, "{writes} writes in {batches} batches");
        assert!(sample(&text, "handoff_db_connections", &[("state", "idle")]).is_some());
        assert!(sample(&text, "handoff_db_connections", &[("state", "in_use")]).is_some());

        let token = links[0].split("token=").nth(1).unwrap().split('&').next().unwrap();
        let session_secret = cookie.split('=').nth(1).unwrap();
        for secret in [&fx.credentials.partner_secret, &fx.credentials.organization_secret, token, session_secret] {
            assert!(!text.contains(secret), "a secret or token is in the metrics");
        }
        assert!(!text.contains(&fx.user.id) && !text.contains(&fx.partner.id), "ids are in the metrics' labels");
    }

    #[tokio::test]
    async fn metrics_are_served_only_to_the_configured_addresses() {
        let server = TestServer::with(|c| c.metrics_allow = Some("127.0.0.1, 10.0.0.0/8".into())).await;
        let url = format!("{}/metrics", server.url);
        let allowed = server.http.get(&url).send().await.unwrap();
        assert_eq!(allowed.status(), 200);
        assert!(allowed.text().await.unwrap().contains("handoff_journal_queue_depth"));
        let stranger = http_client_from("127.0.0.3").get(&url).header("x-forwarded-for", "127.0.0.1").send().await.unwrap();
        assert_eq!(stranger.status(), 403);
        let body = stranger.text().await.unwrap();
        assert!(!body.contains("handoff_journal_queue_depth"), "{body}");
        // The default is loopback only: any 127.0.0.0/8 peer.
        let default = TestServer::start().await;
        let from_loopback = http_client_from("127.0.0.3").get(format!("{}/metrics", default.url)).send().await.unwrap();
        assert_eq!(from_loopback.status(), 200);
    }
}
