//! The partner users API: `/v1/organizations/{organizationId}/users`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{assert_problem, refuses_look_alike_emails, Fixture, TestServer};

fn request(server: &TestServer, fx: &Fixture, method: Method, path: &str) -> reqwest::RequestBuilder {
    let mut request = server.http.request(method, format!("{}/v1/organizations/{}{path}", server.url, fx.org.id));
    for (name, value) in fx.headers("").into_iter().filter(|(n, _)| *n != "x-user-id") {
        request = request.header(name, value);
    }
    request
}

/// A `GET` of `path` (below the organization) with the fixture's credentials: the JSON answer.
async fn get(server: &TestServer, fx: &Fixture, path: &str) -> Value {
    request(server, fx, Method::GET, path).send().await.unwrap().json().await.unwrap()
}

/// `method` of `path` (below the organization) with a JSON `body` and the fixture's credentials.
async fn send_json(server: &TestServer, fx: &Fixture, method: Method, path: &str, body: Value) -> reqwest::Response {
    request(server, fx, method, path).json(&body).send().await.unwrap()
}

backend_tests! {
    #[tokio::test]
    async fn emails_need_an_ascii_local_part_and_keep_idn_domains_in_punycode() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let create = |email: &str| {
            request(&server, &fx, Method::POST, "/users")
                .json(&json!({"email": email, "given_name": "Kari", "family_name": "Nordmann"}))
                .send()
        };
        refuses_look_alike_emails(create).await;
        assert_eq!(server.audit("kind=partner.users.create&outcome=refused").await.len(), 3);

        let created = create("Kari@BÜCHER.example").await.unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["data"]["email"], "kari@xn--bcher-kva.example");
        let duplicate = create("kari@xn--bcher-kva.example").await.unwrap();
        assert_problem(duplicate, 409, "conflict").await;
        let found = get(&server, &fx, "/users?email=kari@b%C3%BCcher.example").await;
        assert_eq!(found["data"]["items"][0]["id"], created["data"]["id"]);
        // A look-alike of an existing address matches nobody.
        let kari = json!({"email": "kari@x.no", "given_name": "Kari", "family_name": "Nordmann"});
        send_json(&server, &fx, Method::POST, "/users", kari).await;
        let look_alike = get(&server, &fx, "/users?email=%E2%84%AAari@x.no").await;
        assert_eq!(look_alike["data"]["items"], json!([]));
    }

    #[tokio::test]
    async fn create_list_read_disable_enable() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let kari = json!({"email": "Kari.Nordmann@Example.no", "given_name": "Kari", "family_name": "Nordmann"});
        let created = send_json(&server, &fx, Method::POST, "/users", kari).await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["success"], true);
        let user = &created["data"];
        assert_eq!(user["email"], "kari.nordmann@example.no");
        assert_eq!(user["status"], "active");
        let id = user["id"].as_str().unwrap().to_owned();

        let user = |email: &str| json!({"email": email, "given_name": "K", "family_name": "N"});
        let duplicate = send_json(&server, &fx, Method::POST, "/users", user("kari.nordmann@example.no")).await;
        assert_problem(duplicate, 409, "conflict").await;
        let invalid = send_json(&server, &fx, Method::POST, "/users", user("not an email")).await;
        assert_problem(invalid, 400, "invalid-request").await;

        let found = get(&server, &fx, "/users?email=KARI.nordmann@example.no").await;
        assert_eq!(found["data"]["items"].as_array().unwrap().len(), 1);
        assert_eq!(found["data"]["items"][0]["id"], id.as_str());

        // Pagination: two users in all, one per page.
        let first = get(&server, &fx, "/users?limit=1").await;
        let cursor = first["data"]["next_cursor"].as_str().unwrap();
        let second = get(&server, &fx, &format!("/users?limit=1&cursor={cursor}")).await;
        assert_ne!(first["data"]["items"][0]["id"], second["data"]["items"][0]["id"]);
        assert!(second["data"]["next_cursor"].is_null());

        let read = get(&server, &fx, &format!("/users/{id}")).await;
        assert_eq!(read["data"]["given_name"], "Kari");

        let user = format!("/users/{id}");
        for status in ["disabled", "active"] {
            let patched: Value =
                send_json(&server, &fx, Method::PATCH, &user, json!({ "status": status })).await.json().await.unwrap();
            assert_eq!(patched["data"]["status"], status);
        }
        let bad = send_json(&server, &fx, Method::PATCH, &user, json!({"status": "gone"})).await;
        assert_problem(bad, 400, "invalid-request").await;
        assert!(!server.audit("kind=partner.users.create&outcome=accepted").await.is_empty());
        assert!(!server.audit("kind=partner.users.update&outcome=refused").await.is_empty());
    }

    #[tokio::test]
    async fn users_are_scoped_to_the_authenticated_organization() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let other = server.fixture().await;
        // Another organization's user is not found through this organization.
        let response =
            request(&server, &fx, Method::GET, &format!("/users/{}", other.user.id)).send().await.unwrap();
        assert_problem(response, 404, "not-found").await;
        // The path must name the organization of the credentials.
        let mut cross = server.http.get(format!("{}/v1/organizations/{}/users", server.url, other.org.id));
        for (name, value) in fx.headers("").into_iter().filter(|(n, _)| *n != "x-user-id") {
            cross = cross.header(name, value);
        }
        assert_problem(cross.send().await.unwrap(), 403, "forbidden").await;
        // Without credentials nothing is listed.
        let anonymous =
            server.http.get(format!("{}/v1/organizations/{}/users", server.url, fx.org.id)).send().await.unwrap();
        let body = assert_problem(anonymous, 400, "invalid-request").await;
        assert!(body["error"]["detail"].as_str().unwrap().starts_with("Missing required headers: x-partner-id"));
    }

    #[tokio::test]
    async fn a_partner_enables_only_users_a_partner_disabled() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let client = handoff_client::Client::new(&server.url);
        let operator = |status: &'static str| server.set_user_status(&fx.user.id, status);
        let partner_enable = || {
            request(&server, &fx, Method::PATCH, &format!("/users/{}", fx.user.id))
                .json(&json!({"status": "active"}))
                .send()
        };

        // The operator disables: the partner can neither enable nor take the disable over.
        let disabled = operator("disabled").await;
        assert_eq!((&disabled["status"], &disabled["status_set_by"]), (&json!("disabled"), &json!("operator")));
        let body = assert_problem(partner_enable().await.unwrap(), 403, "forbidden").await;
        assert!(body["error"]["detail"].as_str().unwrap().contains("operator"), "{body}");
        let again = client.set_user_status(&fx.credentials, &fx.user.id, "disabled").await.unwrap();
        assert_eq!((again.status.as_str(), again.status_set_by.as_deref()), ("disabled", Some("operator")));
        assert_problem(partner_enable().await.unwrap(), 403, "forbidden").await;
        assert_eq!(server.admin_get(&format!("/users/{}", fx.user.id)).await["status"], "disabled");
        let refusals = server.audit("kind=partner.users.update&outcome=refused").await;
        assert_eq!(refusals.len(), 2);
        assert!(refusals.iter().all(|r| r["reason"] == "operator-disabled" && r["user_id"] == fx.user.id.as_str()));
        assert_eq!(client.mint_sso_link(&fx.credentials, &fx.user.id, None).await.unwrap_err().slug(), Some("forbidden"));

        // The operator enables; now a partner's disable is the partner's to lift.
        assert_eq!(operator("active").await["status"], "active");
        let by_partner = client.set_user_status(&fx.credentials, &fx.user.id, "disabled").await.unwrap();
        assert_eq!(by_partner.status_set_by.as_deref(), Some("partner"));
        let enabled: Value = partner_enable().await.unwrap().json().await.unwrap();
        assert_eq!((&enabled["data"]["status"], &enabled["data"]["status_set_by"]), (&json!("active"), &json!("partner")));
        assert!(client.mint_sso_link(&fx.credentials, &fx.user.id, None).await.is_ok());
        // And the operator can always lift a partner's disable.
        client.set_user_status(&fx.credentials, &fx.user.id, "disabled").await.unwrap();
        assert_eq!(operator("active").await["status_set_by"], "operator");
    }

    #[tokio::test]
    async fn the_sdk_manages_users() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let client = handoff_client::Client::new(&server.url);
        let new_user = handoff_client::wire::CreateUser {
            email: "ola@nordmann.no".into(),
            given_name: "Ola".into(),
            family_name: "Nordmann".into(),
        };
        let created = client.create_user(&fx.credentials, &new_user).await.unwrap();
        let page = client.users(&fx.credentials, Some("ola@nordmann.no"), None).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(client.user(&fx.credentials, &created.id).await.unwrap().email, "ola@nordmann.no");
        let disabled = client.set_user_status(&fx.credentials, &created.id, "disabled").await.unwrap();
        assert_eq!(disabled.status, "disabled");
        let refused = client.mint_sso_link(&fx.credentials, &created.id, None).await.unwrap_err();
        assert_eq!(refused.slug(), Some("forbidden"));
    }
}
