//! The admin API: bearer token, resources, secret rotation, and the CLI over it.

use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use handoff_client::PartnerCredentials;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{assert_problem, header, refuses_look_alike_emails, TestServer, ADMIN_TOKEN};

backend_tests! {
    #[tokio::test]
    async fn admin_api_requires_the_bearer_token() {
        let server = TestServer::start().await;
        for token in [None, Some("wrong"), Some("test-admin-token-0123456789abcdefghijklmno")] {
            let mut request = server.http.get(format!("{}/admin/v1/organizations", server.url));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            assert_problem(request.send().await.unwrap(), 401, "authentication-required").await;
        }
        assert_eq!(server.audit("kind=admin.request&outcome=refused").await.len(), 3);
    }

    #[tokio::test]
    async fn resources_can_be_created_listed_read_and_deleted() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let orgs = server.admin_get("/organizations").await;
        assert_eq!(orgs["items"].as_array().unwrap().len(), 1);
        assert!(orgs["items"][0].get("secret").is_none(), "secrets are shown once, at creation");
        let partner = server.admin_get(&format!("/partners/{}", fx.partner.id)).await;
        assert_eq!(partner["embed_origins"], json!(["https://ehr.example.com"]));
        assert_eq!(server.admin_get(&format!("/partners/{}/organizations", fx.partner.id)).await, json!([fx.org.id]));
        let users = server.admin_get(&format!("/organizations/{}/users", fx.org.id)).await;
        assert_eq!(users["items"][0]["id"], fx.user.id.as_str());

        // Bad input is a documented 400, unknown ids 404, duplicates 409.
        let bad = json!({"name": "x", "embed_origins": ["javascript:alert(1)"]});
        let bad = server.admin_request(Method::POST, "/partners").json(&bad).send().await.unwrap();
        assert_problem(bad, 400, "invalid-request").await;
        let unknown = format!("/users/{}", uuid::Uuid::new_v4());
        let unknown = server.admin_request(Method::GET, &unknown).send().await.unwrap();
        assert_problem(unknown, 404, "not-found").await;
        let organization = |name: &str| json!({"name": name, "org_numbers": ["123"]});
        let taken = server.admin_request(Method::POST, "/organizations").json(&organization("A")).send().await.unwrap();
        assert_eq!(taken.status(), 201);
        let again = server.admin_request(Method::POST, "/organizations").json(&organization("B")).send().await.unwrap();
        assert_problem(again, 409, "conflict").await;

        // Deleting the organization takes its users and links with it.
        let organization = format!("/organizations/{}", fx.org.id);
        let deleted = server.admin_request(Method::DELETE, &organization).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        let gone = server.admin_request(Method::GET, &format!("/users/{}", fx.user.id)).send().await.unwrap();
        assert_problem(gone, 404, "not-found").await;
        assert!(!server.audit("kind=admin.organization.delete").await.is_empty());
    }

    #[tokio::test]
    async fn user_emails_are_ascii_and_so_is_the_identity_they_sign_in_as() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let create = |email: &str| {
            server
                .admin_request(Method::POST, &format!("/organizations/{}/users", fx.org.id))
                .json(&json!({"email": email, "given_name": "Kari", "family_name": "Nordmann"}))
                .send()
        };
        refuses_look_alike_emails(create).await;
        let created = create("Kari@BÜCHER.example").await.unwrap();
        assert_eq!(created.status(), 201);
        let user: Value = created.json().await.unwrap();
        assert_eq!(user["email"], "kari@xn--bcher-kva.example");
        let found = server.admin_get(&format!("/organizations/{}/users?email=KARI@b%C3%BCcher.example", fx.org.id)).await;
        assert_eq!(found["items"][0]["id"], user["id"]);
        let look_alike = format!("/organizations/{}/users?email=%E2%84%AAari@b%C3%BCcher.example", fx.org.id);
        assert_eq!(server.admin_get(&look_alike).await["items"], json!([]));

        // The protected application sees the ASCII form, in the header and in the token.
        let user_id = user["id"].as_str().unwrap();
        let link = handoff_client::Client::new(&server.url).mint_sso_link(&fx.credentials, user_id, Some("/")).await.unwrap();
        let cookie = server.sign_in(&link.redirect_url).await;
        let verified = server.http.get(format!("{}/auth/verify", server.url)).header("cookie", cookie).send().await.unwrap();
        assert_eq!(verified.status(), 200);
        assert_eq!(header(&verified, "x-handoff-email"), Some("kari@xn--bcher-kva.example"));
        let token = header(&verified, "x-handoff-token").unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["email"], "kari@xn--bcher-kva.example");
    }

    #[tokio::test]
    async fn rotated_secrets_overlap_then_only_the_new_one_works() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let rotated = server.admin_post(&format!("/partners/{}/secrets", fx.partner.id), json!({})).await;
        let new_secret = rotated["secret"].as_str().unwrap().to_owned();
        assert!(new_secret.starts_with("hps_"));
        let client = handoff_client::Client::new(&server.url);
        let with = |secret: &str| PartnerCredentials { partner_secret: secret.to_owned(), ..fx.credentials.clone() };
        assert!(client.mint_sso_link(&with(&fx.credentials.partner_secret), &fx.user.id, None).await.is_ok());
        assert!(client.mint_sso_link(&with(&new_secret), &fx.user.id, None).await.is_ok());
        server.clock.advance(24 * 3600);
        let old = client.mint_sso_link(&with(&fx.credentials.partner_secret), &fx.user.id, None).await.unwrap_err();
        assert_eq!(old.slug(), Some("authentication-required"));
        assert!(client.mint_sso_link(&with(&new_secret), &fx.user.id, None).await.is_ok());

        // After a leak, overlap 0: the old secret ends at once.
        let leaked =
            server.admin_post(&format!("/partners/{}/secrets", fx.partner.id), json!({"overlap_seconds": 0})).await;
        let now = handoff_core::Clock::now(server.clock.as_ref()).format(&time::format_description::well_known::Rfc3339);
        assert_eq!(leaked["previous_expires_at"], now.unwrap());
        let old = client.mint_sso_link(&with(&new_secret), &fx.user.id, None).await.unwrap_err();
        assert_eq!(old.slug(), Some("authentication-required"));
        assert!(client.mint_sso_link(&with(leaked["secret"].as_str().unwrap()), &fx.user.id, None).await.is_ok());
    }

    #[tokio::test]
    async fn concurrent_rotations_never_hand_out_a_secret_that_was_not_stored() {
        let server = TestServer::with(|c| c.failed_auth_limit = Some(1000)).await;
        let fx = server.fixture().await;
        let path = format!("{}/admin/v1/partners/{}/secrets", server.url, fx.partner.id);
        let rotations: Vec<_> =
            (0..12).map(|_| tokio::spawn(server.http.post(&path).bearer_auth(ADMIN_TOKEN).send())).collect();
        let mut answered = Vec::new();
        for rotation in rotations {
            let response = rotation.await.unwrap().unwrap();
            match response.status().as_u16() {
                201 => answered.push(response.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned()),
                409 => {
                    assert_problem(response, 409, "conflict").await;
                }
                other => panic!("unexpected {other}"),
            }
        }
        // The successful rotations form one chain: the last two secrets of it work (the newest
        // and, in its overlap, the one before), or the first rotation's and the original. A
        // lost update would leave a 201's secret that never worked, and fewer working here.
        let client = handoff_client::Client::new(&server.url);
        let works = |secret: String| {
            let credentials = PartnerCredentials { partner_secret: secret, ..fx.credentials.clone() };
            let client = &client;
            let user = fx.user.id.clone();
            async move { client.mint_sso_link(&credentials, &user, None).await.is_ok() }
        };
        let mut working = 0;
        for secret in &answered {
            working += usize::from(works(secret.clone()).await);
        }
        assert!(!answered.is_empty());
        assert_eq!(working, answered.len().min(2), "{} rotations answered 201", answered.len());
        assert_eq!(works(fx.credentials.partner_secret.clone()).await, answered.len() == 1);
        assert_eq!(server.audit("kind=admin.partner.rotate_secret&limit=100").await.len(), answered.len());
    }

    #[tokio::test]
    async fn unlinking_a_partner_ends_the_sessions_it_opened_in_that_organization() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let other = server.fixture().await;
        // The partner serves a second organization; another partner serves the first one too.
        let put = |path: String| {
            let server = &server;
            async move { server.admin.admin::<Value, Value>(Method::PUT, &path, None).await.unwrap() }
        };
        put(format!("/partners/{}/organizations/{}", fx.partner.id, other.org.id)).await;
        put(format!("/partners/{}/organizations/{}", other.partner.id, fx.org.id)).await;
        let client = handoff_client::Client::new(&server.url);
        let session = |credentials: PartnerCredentials, user: String| {
            let (client, server) = (&client, &server);
            async move {
                let link = client.mint_sso_link(&credentials, &user, Some("/dashboard")).await.unwrap();
                server.sign_in(&link.redirect_url).await
            }
        };
        let alive = |cookie: String| {
            let server = &server;
            async move {
                let url = format!("{}/auth/session", server.url);
                server.http.get(url).header("cookie", cookie).send().await.unwrap().status().as_u16()
            }
        };
        let unlinked = session(fx.credentials.clone(), fx.user.id.clone()).await;
        let same_partner_elsewhere = session(
            PartnerCredentials {
                organization_id: other.org.id.clone(),
                organization_secret: other.credentials.organization_secret.clone(),
                ..fx.credentials.clone()
            },
            other.user.id.clone(),
        )
        .await;
        let other_partner_here = session(
            PartnerCredentials {
                partner_id: other.partner.id.clone(),
                partner_secret: other.credentials.partner_secret.clone(),
                ..fx.credentials.clone()
            },
            fx.user.id.clone(),
        )
        .await;
        for cookie in [&unlinked, &same_partner_elsewhere, &other_partner_here] {
            assert_eq!(alive(cookie.clone()).await, 200);
        }

        let path = format!("/partners/{}/organizations/{}", fx.partner.id, fx.org.id);
        let response = server.admin_request(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(alive(unlinked).await, 401);
        assert_eq!(alive(same_partner_elsewhere).await, 200);
        assert_eq!(alive(other_partner_here).await, 200);
    }

    // The CLI runs as a blocking child process: the server needs a worker thread of its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cli_drives_the_admin_api() {
        let server = TestServer::start().await;
        let cli = |args: &[&str]| -> Value {
            let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
                .args(["admin", "--url", &server.url, "--token", ADMIN_TOKEN])
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            let stdout = String::from_utf8(output.stdout).unwrap();
            if stdout.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&stdout).unwrap()
            }
        };
        let org = cli(&["organizations", "create", "--name", "Fjordklinikken", "--org-number", "123456789"]);
        assert!(org["secret"].as_str().unwrap().starts_with("hos_"));
        let org_id = org["id"].as_str().unwrap();
        let rotated = cli(&["organizations", "rotate-secret", org_id, "--overlap-seconds", "60"]);
        assert!(rotated["secret"].as_str().unwrap().starts_with("hos_") && rotated["secret"] != org["secret"]);
        let read = cli(&["organizations", "get", org_id]);
        assert!(read.get("secret").is_none(), "shown once");
        let partner = cli(&["partners", "create", "--name", "Acme", "--embed-origin", "https://ehr.example.com"]);
        let partner_id = partner["id"].as_str().unwrap();
        cli(&["partners", "link", partner_id, org_id]);
        let user = cli(&[
            "users",
            "create",
            "--organization",
            org_id,
            "--email",
            "a@b.no",
            "--given-name",
            "A",
            "--family-name",
            "B",
        ]);
        let user_id = user["id"].as_str().unwrap();
        assert_eq!(cli(&["users", "disable", user_id])["status"], "disabled");
        assert_eq!(cli(&["users", "list", "--organization", org_id, "--email", "a@b.no"])["items"][0]["id"], user_id);
        let integration = cli(&["inbound", "create", "--slug", "vinst"]);
        let integration_id = integration["id"].as_str().unwrap();
        cli(&["inbound", "link", integration_id, org_id]);
        assert_eq!(cli(&["inbound", "organizations", integration_id]), json!([org_id]));
        cli(&["inbound", "unlink", integration_id, org_id]);
        assert_eq!(cli(&["inbound", "organizations", integration_id]), json!([]));
        let audit = cli(&["audit", "--kind", "admin.user.update"]);
        assert_eq!(audit["items"].as_array().unwrap().len(), 1);
        assert_eq!(server.admin_get("/partners").await["items"].as_array().unwrap().len(), 1);

        let failed = Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(["admin", "--url", &server.url, "--token", "wrong", "organizations", "list"])
            .output()
            .unwrap();
        assert!(!failed.status.success());
        assert!(String::from_utf8_lossy(&failed.stderr).contains("admin bearer token"));
    }
}
