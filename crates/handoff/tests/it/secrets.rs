//! No generated secret, session cookie or whole token is ever stored, logged or exported in
//! metrics in plaintext; logs are JSON lines carrying request ids.

use handoff_client::{Client, PartnerCredentials};
use serde_json::Value;

use crate::harness::{http_client, remote_fixture, Spawned, ADMIN_TOKEN};

backend_tests! {
    #[tokio::test]
    async fn secrets_and_tokens_never_reach_the_database_the_logs_or_the_metrics() {
        let dir = tempfile::tempdir().unwrap();
        // Its supplier is on loopback.
        let mut server = Spawned::serve(dir.path(), &["--log-format", "json", "--allow-private-endpoints"]);
        let fx = remote_fixture(&server.url).await;
        let (org, partner, user_id) = (&fx.organization, &fx.partner, fx.user_id.as_str());
        let org_id = org["id"].as_str().unwrap();
        let admin = Client::new(&server.url).with_admin_token(ADMIN_TOKEN);
        let rotated: Value = admin
            .admin::<Value, Value>(reqwest::Method::POST, &format!("/organizations/{org_id}/secrets"), None)
            .await
            .unwrap();
        let credentials = PartnerCredentials {
            organization_secret: rotated["secret"].as_str().unwrap().to_owned(),
            ..fx.credentials.clone()
        };
        let client = Client::new(&server.url);
        let link = client.mint_sso_link(&credentials, user_id, Some("/dashboard")).await.unwrap();
        let http = http_client();
        let redeemed = http.get(&link.redirect_url).send().await.unwrap();
        let cookie_value = redeemed.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned();
        // The identity token the protected application gets, and the webhook secrets.
        let cookie = redeemed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let verified = http.get(format!("{}/auth/verify", server.url)).header("cookie", &cookie).send().await.unwrap();
        let identity_token = verified.headers()["x-handoff-token"].to_str().unwrap().to_owned();
        let post = |path: &'static str, body: Value| {
            let admin = &admin;
            async move { admin.admin::<Value, Value>(reqwest::Method::POST, path, Some(&body)).await.unwrap() }
        };
        let integration = post("/inbound-integrations", serde_json::json!({"slug": "portal"})).await;
        let supplier = post(
            "/suppliers",
            serde_json::json!({"slug": "lab", "name": "Lab", "endpoint": "http://127.0.0.1:9/sso",
                "allowed_redirect_hosts": ["localhost"]}),
        )
        .await;
        let master_key = std::fs::read_to_string(dir.path().join("handoff.master.key")).unwrap();
        // Refusals log too: a wrong secret, a replayed link.
        let wrong = PartnerCredentials { partner_secret: "hps_guess".into(), ..credentials.clone() };
        assert!(client.mint_sso_link(&wrong, user_id, None).await.is_err());
        let replay = http.get(&link.redirect_url).header("x-request-id", "test-request-42").send().await.unwrap();
        assert_eq!(replay.status(), 409);
        let metrics = http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("handoff_http_requests_total"), "the metrics do count requests");
        server.kill9();

        // Every file the database keeps: the SQLite file and its WAL, or the whole PostgreSQL
        // cluster (tables and write-ahead log).
        let mut stored = Vec::new();
        let roots = match &server.postgres {
            Some(pg) => vec![pg.data_dir().to_owned()],
            None => vec![dir.path().to_owned()],
        };
        let mut pending = roots;
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if server.postgres.is_some() || path.file_name().unwrap().to_string_lossy().starts_with("handoff.db") {
                stored.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
        assert!(!stored.is_empty());
        let stored = String::from_utf8_lossy(&stored).into_owned();
        let logs = server.stderr();
        assert!(logs.contains("/auth/sso"), "the logs do record requests");
        // One JSON object per line, and the request's id on the lines of that request.
        let lines: Vec<Value> = logs.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert!(
            lines.iter().any(|line| line.to_string().contains(r#""request_id":"test-request-42""#)),
            "no log line carries the request id"
        );
        let secrets = [
            ("organization secret", org["secret"].as_str().unwrap()),
            ("rotated organization secret", rotated["secret"].as_str().unwrap()),
            ("partner secret", partner["secret"].as_str().unwrap()),
            ("guessed secret", "hps_guess"),
            ("SSO token", link.sso_token.as_str()),
            ("SSO token signature", link.sso_token.rsplit('.').next().unwrap()),
            ("session cookie", cookie_value.as_str()),
            ("session cookie secret", cookie_value.split_once('.').unwrap().1),
            ("admin token", ADMIN_TOKEN),
            ("identity token", identity_token.as_str()),
            ("identity token signature", identity_token.rsplit('.').next().unwrap()),
            ("inbound webhook secret", integration["secret"].as_str().unwrap()),
            ("supplier webhook secret", supplier["secret"].as_str().unwrap()),
            ("master key", master_key.trim()),
        ];
        for (what, secret) in secrets {
            assert!(!stored.contains(secret), "{what} found in the database");
            assert!(!logs.contains(secret), "{what} found in the logs");
            assert!(!metrics.contains(secret), "{what} found in the metrics");
        }
    }
}
