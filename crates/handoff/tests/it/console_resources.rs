//! The console's resource pages (`/admin/organizations`, `/admin/partners`, `/admin/users`):
//! an organization, a partner, their link and a user made through the forms work on the partner
//! API; a rotated secret is shown once and works; the operator's disable refuses the next mint;
//! deletes ask first; refused fields are shown on the form; forms without the session's token or
//! from another origin change nothing; the admin audit records say `via=console`. Inbound
//! integrations, suppliers and the signing keys (`/admin/integrations`, `/admin/suppliers`,
//! `/admin/keys`): created, linked, rotated (shown once) and deleted through the forms; an
//! organization's page lists its linked partners.

use serde_json::Value;

use crate::harness::{header, set_cookie_pair, TestServer, ADMIN_TOKEN};

/// A signed-in operator: the console cookie and the session's form token.
pub struct Console<'a> {
    server: &'a TestServer,
    cookie: String,
    token: String,
}

impl<'a> Console<'a> {
    pub async fn sign_in(server: &'a TestServer) -> Self {
        let response = server
            .http
            .post(format!("{}/admin/sign-in", server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &server.url)
            .body(format!("token={ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let cookie = set_cookie_pair(&response);
        let mut console = Console { server, cookie, token: String::new() };
        let home = console.get("/admin").await.text().await.unwrap();
        console.token = between(&home, "name=\"form_token\" value=\"", "\"").to_owned();
        console
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.server.http.get(format!("{}{path}", self.server.url)).header("cookie", &self.cookie).send().await.unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let html = response.text().await.unwrap();
        // The console's CSP allows neither inline style nor inline script.
        assert!(!html.contains("<style") && !html.contains(" style=") && !html.contains("<script>"), "{html}");
        html
    }

    /// Posts `fields` with the form token from the console's own origin.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("form_token", &self.token));
        self.post_raw(path, &self.server.url, &encode(&fields)).await
    }

    async fn post_raw(&self, path: &str, origin: &str, body: &str) -> reqwest::Response {
        self.server
            .http
            .post(format!("{}{path}", self.server.url))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", origin)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

/// `fields` as `application/x-www-form-urlencoded`.
fn encode(fields: &[(&str, &str)]) -> String {
    let escape = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields.iter().map(|(key, value)| format!("{}={}", escape(key), escape(value))).collect::<Vec<_>>().join("&")
}

/// The text between `start` and the next `end` in `html`.
fn between<'h>(html: &'h str, start: &str, end: &str) -> &'h str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start:?} in {html}")) + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

/// The secret a page shows once (with the copy button's marker).
pub fn shown_secret(html: &str) -> String {
    assert!(html.contains("shown only this once"), "{html}");
    between(html, "<code data-copy>", "</code>").to_owned()
}

/// `POST /v1/sso` for `user` to `/app/` (the partner's one path prefix) with these credentials:
/// (partner id, secret, organization id, secret).
async fn mint(server: &TestServer, credentials: (&str, &str, &str, &str), user: &str) -> reqwest::Response {
    let (partner, partner_secret, organization, organization_secret) = credentials;
    server
        .http
        .post(format!("{}/v1/sso", server.url))
        .header("x-partner-id", partner)
        .header("x-partner-secret", partner_secret)
        .header("x-organization-id", organization)
        .header("x-organization-secret", organization_secret)
        .header("x-user-id", user)
        .json(&serde_json::json!({"redirect_path": "/app/"}))
        .send()
        .await
        .unwrap()
}

/// The one audit record of `kind`, which must say `via=console`.
pub async fn via_console(server: &TestServer, kind: &str) -> Value {
    let records = server.audit(&format!("kind={kind}")).await;
    assert_eq!(records.len(), 1, "{kind}: {records:?}");
    let detail = records[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.ends_with("via=console"), "{kind}: {detail}");
    records[0].clone()
}

backend_tests! {
    #[tokio::test]
    async fn organizations_partners_links_and_users_are_run_from_the_console() {
        let server = TestServer::start().await;
        let console = Console::sign_in(&server).await;
        let list = console.page("/admin/organizations").await;
        assert!(list.contains("<a href=\"/admin/organizations\" aria-current=\"page\">Organizations</a>"), "{list}");
        assert!(list.contains("<label for=\"name\">Name</label>"), "{list}");

        // A refused field is shown on the form, with what was sent.
        let refused = console.post("/admin/organizations", &[("name", ""), ("org_numbers", "912345678")]).await;
        assert_eq!(refused.status(), 400);
        let html = refused.text().await.unwrap();
        assert!(html.contains("name must be 1 to 200 characters."), "{html}");
        assert!(html.contains(">912345678</textarea>"), "{html}");

        // An organization: its secret on the answer to the POST.
        let created = console.post("/admin/organizations", &[("name", "Fjordklinikken"), ("org_numbers", "912345678")]).await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        let org_secret = shown_secret(&html);
        let org_id = between(&html, "<dt>Id</dt><dd><code>", "</code>").to_owned();
        assert!(html.contains("912345678"), "{html}");
        let org_page = console.page(&format!("/admin/organizations/{org_id}")).await;
        assert!(!org_page.contains(&org_secret) && !org_page.contains("data-copy"), "{org_page}");

        // A partner: a refused origin on the form, then the partner and its secret.
        let refused = console.post("/admin/partners", &[("name", "Acme EHR"), ("embed_origins", "ehr.example.com")]).await;
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("is not an origin like https://ehr.example.com"));
        let created = console
            .post("/admin/partners", &[("name", "Acme EHR"), ("embed_origins", "https://ehr.example.com\n"), ("allowed_path_prefixes", "/app/")])
            .await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        let first_secret = shown_secret(&html);
        let partner_id = between(&html, "<dt>Id</dt><dd><code>", "</code>").to_owned();
        assert!(html.contains("<code>https://ehr.example.com</code>") && html.contains("<code>/app/</code>"), "{html}");

        // The link: the form offers the organization to pick; an unknown one is refused, then
        // the real one links, and the form offers it no more.
        let partner_path = format!("/admin/partners/{partner_id}");
        let option = format!("<option value=\"{org_id}\">Fjordklinikken — {org_id}</option>");
        assert!(console.page(&partner_path).await.contains(&option));
        let refused = console.post(&format!("{partner_path}/links"), &[("organization_id", "nonsense")]).await;
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("No organization with this id."));
        let linked = console.post(&format!("{partner_path}/links"), &[("organization_id", &org_id)]).await;
        assert_eq!((linked.status().as_u16(), header(&linked, "location")), (303, Some(partner_path.as_str())));
        let partner_page = console.page(&partner_path).await;
        assert!(partner_page.contains(&format!("<a href=\"/admin/organizations/{org_id}\">Fjordklinikken</a>")));
        assert!(!partner_page.contains(&option) && partner_page.contains("Every organization is linked."), "{partner_page}");
        // The organization's page lists its linked partner.
        let org_page = console.page(&format!("/admin/organizations/{org_id}")).await;
        assert!(org_page.contains(&format!("<a href=\"{partner_path}\">Acme EHR</a>")), "{org_page}");

        // A user, found by email on the organization's page.
        let user = console
            .post(&format!("/admin/organizations/{org_id}/users"), &[("email", "turid@jensen.com"), ("given_name", "Turid"), ("family_name", "Jensen")])
            .await;
        assert_eq!(user.status(), 303);
        let user_path = header(&user, "location").unwrap().to_owned();
        let user_id = user_path.strip_prefix("/admin/users/").unwrap().to_owned();
        let again = console
            .post(&format!("/admin/organizations/{org_id}/users"), &[("email", "not-an-address"), ("given_name", "Turid"), ("family_name", "Jensen")])
            .await;
        assert_eq!(again.status(), 400);
        assert!(again.text().await.unwrap().contains("value=\"not-an-address\""));
        let found = console.page(&format!("/admin/organizations/{org_id}?email=turid%40jensen.com")).await;
        assert!(found.contains(&format!("<a href=\"{user_path}\">turid@jensen.com</a>")), "{found}");
        let none = console.page(&format!("/admin/organizations/{org_id}?email=kari%40jensen.com")).await;
        assert!(none.contains("No user with this address.") && !none.contains("turid@jensen.com"), "{none}");

        let credentials = (partner_id.as_str(), first_secret.as_str(), org_id.as_str(), org_secret.as_str());
        assert_eq!(mint(&server, credentials, &user_id).await.status(), 200);

        // Rotating the partner secret without overlap: shown once, works, the old one does not.
        let rotated = console.post(&format!("{partner_path}/secret"), &[("overlap_seconds", "0")]).await;
        assert_eq!(rotated.status(), 200);
        let html = rotated.text().await.unwrap();
        let new_secret = shown_secret(&html);
        assert_ne!(new_secret, first_secret);
        let credentials = (partner_id.as_str(), new_secret.as_str(), org_id.as_str(), org_secret.as_str());
        let minted = mint(&server, credentials, &user_id).await;
        assert_eq!(minted.status(), 200);
        assert!(minted.json::<Value>().await.unwrap()["data"]["redirect_url"].is_string());
        let old = (partner_id.as_str(), first_secret.as_str(), org_id.as_str(), org_secret.as_str());
        assert_eq!(mint(&server, old, &user_id).await.status(), 401);
        let reload = console.page(&partner_path).await;
        assert!(!reload.contains(&new_secret) && !reload.contains("data-copy"), "{reload}");
        // An overlap the service refuses is its refusal, and nothing rotates.
        let refused = console.post(&format!("{partner_path}/secret"), &[("overlap_seconds", "99999999")]).await;
        assert_eq!(refused.status(), 400);
        assert_eq!(mint(&server, credentials, &user_id).await.status(), 200);

        // The operator's disable: the partner API's next mint is refused.
        let disabled = console.post(&format!("{user_path}/status"), &[("status", "disabled")]).await;
        assert_eq!((disabled.status().as_u16(), header(&disabled, "location")), (303, Some(user_path.as_str())));
        assert!(console.page(&user_path).await.contains("disabled (set by the operator)"));
        assert_eq!(mint(&server, credentials, &user_id).await.status(), 403);
        let ended = console.post(&format!("{user_path}/sessions"), &[]).await;
        assert_eq!(ended.status(), 200);
        assert!(ended.text().await.unwrap().contains("Ended 0 sessions."));

        // Every change says it came through the console.
        for kind in ["admin.organization.create", "admin.partner.create", "admin.link.create", "admin.user.create",
            "admin.partner.rotate_secret", "admin.user.update", "admin.user.end_sessions"] {
            via_console(&server, kind).await;
        }

        // Deletes ask first; the GET changes nothing.
        let confirm = console.page(&format!("{user_path}/delete")).await;
        assert!(confirm.contains(&format!("action=\"{user_path}/delete\"")) && confirm.contains("cannot be undone"), "{confirm}");
        assert_eq!(console.get(&user_path).await.status(), 200);
        let deleted = console.post(&format!("{user_path}/delete"), &[]).await;
        assert_eq!(header(&deleted, "location"), Some(format!("/admin/organizations/{org_id}").as_str()));
        assert_eq!(console.get(&user_path).await.status(), 404);

        let unlinked = console.post(&format!("{partner_path}/links/{org_id}/delete"), &[]).await;
        assert_eq!(unlinked.status(), 303);
        assert!(console.page(&partner_path).await.contains("None yet."));
        via_console(&server, "admin.link.delete").await;

        console.page(&format!("{partner_path}/delete")).await;
        let deleted = console.post(&format!("{partner_path}/delete"), &[]).await;
        assert_eq!((deleted.status().as_u16(), header(&deleted, "location")), (303, Some("/admin/partners")));
        assert_eq!(console.get(&partner_path).await.status(), 404);

        let org_path = format!("/admin/organizations/{org_id}");
        console.page(&format!("{org_path}/delete")).await;
        let deleted = console.post(&format!("{org_path}/delete"), &[]).await;
        assert_eq!((deleted.status().as_u16(), header(&deleted, "location")), (303, Some("/admin/organizations")));
        assert_eq!(console.get(&org_path).await.status(), 404);
        for kind in ["admin.user.delete", "admin.partner.delete", "admin.organization.delete"] {
            via_console(&server, kind).await;
        }
    }

    #[tokio::test]
    async fn integrations_suppliers_and_signing_keys_are_run_from_the_console() {
        // The supplier's endpoint is on loopback, which needs allow_private_endpoints.
        let server = TestServer::with(|c| c.allow_private_endpoints = Some(true)).await;
        let console = Console::sign_in(&server).await;
        let organization = server.admin_post("/organizations", serde_json::json!({"name": "Fjordklinikken"})).await;
        let org_id = organization["id"].as_str().unwrap().to_owned();

        // An inbound integration: a refused field on the form, then the integration and its secret.
        let list = console.page("/admin/integrations").await;
        assert!(list.contains("<a href=\"/admin/integrations\" aria-current=\"page\">Inbound</a>"), "{list}");
        let refused = console.post("/admin/integrations", &[("slug", "ehr"), ("tolerance_seconds", "301")]).await;
        assert_eq!(refused.status(), 400);
        let html = refused.text().await.unwrap();
        assert!(html.contains("tolerance_seconds must be between 1 and 300."), "{html}");
        assert!(html.contains("value=\"301\""), "{html}");
        let created = console
            .post("/admin/integrations", &[("slug", "ehr"), ("name", "Acme EHR"), ("tolerance_seconds", "30"),
                ("unknown_user", "provision"), ("signature_profile", "body-hex"), ("sandbox", "on")])
            .await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        let first_secret = shown_secret(&html);
        let integration_id = between(&html, "<dt>Id</dt><dd><code>", "</code>").to_owned();
        for fact in ["<dd>30 seconds</dd>", "<dd>provision</dd>", "<dd>body-hex</dd>", "/v1/inbound/ehr/sso/test"] {
            assert!(html.contains(fact), "{fact}: {html}");
        }
        let integration_path = format!("/admin/integrations/{integration_id}");
        let reload = console.page(&integration_path).await;
        assert!(!reload.contains(&first_secret) && !reload.contains("data-copy"), "{reload}");

        // Its link: an unknown organization on the form, then the real one, then the unlink.
        let refused = console.post(&format!("{integration_path}/links"), &[("organization_id", "nonsense")]).await;
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("No organization with this id."));
        let linked = console.post(&format!("{integration_path}/links"), &[("organization_id", &org_id)]).await;
        assert_eq!((linked.status().as_u16(), header(&linked, "location")), (303, Some(integration_path.as_str())));
        let page = console.page(&integration_path).await;
        assert!(page.contains(&format!("<a href=\"/admin/organizations/{org_id}\">Fjordklinikken</a>")), "{page}");
        let links = server.admin_get(&format!("/inbound-integrations/{integration_id}/organizations")).await;
        assert_eq!(links.to_string().matches(&org_id).count(), 1, "{links}");

        // Its rotation: shown once, with the overlap chosen, not on reload.
        let rotated = console.post(&format!("{integration_path}/secret"), &[("overlap_seconds", "3600")]).await;
        assert_eq!(rotated.status(), 200);
        let html = rotated.text().await.unwrap();
        let new_secret = shown_secret(&html);
        assert_ne!(new_secret, first_secret);
        assert!(html.contains("The previous secret keeps working until"), "{html}");
        let reload = console.page(&integration_path).await;
        assert!(!reload.contains(&new_secret) && !reload.contains("data-copy"), "{reload}");
        assert!(reload.contains("Previous secret"), "{reload}");

        let unlinked = console.post(&format!("{integration_path}/links/{org_id}/delete"), &[]).await;
        assert_eq!(unlinked.status(), 303);
        assert!(console.page(&integration_path).await.contains("None yet."));

        // A supplier: a refused field on the form, then the supplier, its secret and a rotation.
        let list = console.page("/admin/suppliers").await;
        assert!(list.contains("<label for=\"endpoint\">"), "{list}");
        let refused = console
            .post("/admin/suppliers", &[("slug", "vinst"), ("name", "Vinst"), ("endpoint", "http://127.0.0.1:9/sso"), ("allowed_redirect_hosts", "")])
            .await;
        assert_eq!(refused.status(), 400);
        let html = refused.text().await.unwrap();
        assert!(html.contains("allowed_redirect_hosts must name at least one host."), "{html}");
        assert!(html.contains("value=\"http://127.0.0.1:9/sso\""), "{html}");
        let created = console
            .post("/admin/suppliers", &[("slug", "vinst"), ("name", "Vinst"), ("endpoint", "http://127.0.0.1:9/sso"),
                ("allowed_redirect_hosts", "app.vinst.example\n"), ("timeout_seconds", "7")])
            .await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        let first_secret = shown_secret(&html);
        let supplier_id = between(&html, "<dt>Id</dt><dd><code>", "</code>").to_owned();
        assert!(html.contains("<code>app.vinst.example</code>") && html.contains("<dd>7 seconds</dd>"), "{html}");
        let supplier_path = format!("/admin/suppliers/{supplier_id}");
        let reload = console.page(&supplier_path).await;
        assert!(!reload.contains(&first_secret) && !reload.contains("data-copy"), "{reload}");
        let rotated = console.post(&format!("{supplier_path}/secret"), &[("overlap_seconds", "0")]).await;
        assert_eq!(rotated.status(), 200);
        let html = rotated.text().await.unwrap();
        let new_secret = shown_secret(&html);
        assert_ne!(new_secret, first_secret);
        assert!(!html.contains("keeps working until"), "{html}");
        let reload = console.page(&supplier_path).await;
        assert!(!reload.contains(&new_secret) && !reload.contains("data-copy"), "{reload}");

        // The signing keys: which signs, and a rotation behind a confirmation step.
        let before = server.admin_get("/keys").await;
        let keys = console.page("/admin/keys").await;
        let old_sso = before["sso"]["current"].as_str().unwrap().to_owned();
        assert!(keys.contains(&format!("<td><code>{old_sso}</code></td>")) && keys.contains("<strong>signs</strong>"), "{keys}");
        let confirm = console.page("/admin/keys/rotate").await;
        assert!(confirm.contains("action=\"/admin/keys/rotate\""), "{confirm}");
        assert_eq!(server.admin_get("/keys").await["sso"]["current"], before["sso"]["current"]);
        let rotated = console.post("/admin/keys/rotate", &[]).await;
        assert_eq!(rotated.status(), 200);
        let html = rotated.text().await.unwrap();
        let after = server.admin_get("/keys").await;
        for kind in ["sso", "identity", "prefill"] {
            let kid = after[kind]["current"].as_str().unwrap();
            assert_ne!(Some(kid), before[kind]["current"].as_str(), "{kind}");
            assert!(html.contains(&format!("<code>{kid}</code>")), "{kind}: {html}");
        }
        let keys = console.page("/admin/keys").await;
        let new_sso = after["sso"]["current"].as_str().unwrap();
        assert!(keys.contains(&format!("<td><code>{new_sso}</code></td>")), "{keys}");
        assert!(keys.contains(&format!("<td><code>{old_sso}</code></td>")) && keys.contains("verifies"), "{keys}");

        // Deletes ask first; the GET changes nothing.
        for path in [&integration_path, &supplier_path] {
            let confirm = console.page(&format!("{path}/delete")).await;
            assert!(confirm.contains(&format!("action=\"{path}/delete\"")) && confirm.contains("cannot be undone"), "{confirm}");
            assert_eq!(console.get(path).await.status(), 200);
        }
        let deleted = console.post(&format!("{integration_path}/delete"), &[]).await;
        assert_eq!((deleted.status().as_u16(), header(&deleted, "location")), (303, Some("/admin/integrations")));
        assert_eq!(console.get(&integration_path).await.status(), 404);
        let deleted = console.post(&format!("{supplier_path}/delete"), &[]).await;
        assert_eq!((deleted.status().as_u16(), header(&deleted, "location")), (303, Some("/admin/suppliers")));
        assert_eq!(console.get(&supplier_path).await.status(), 404);

        for kind in ["admin.inbound.create", "admin.inbound.link", "admin.inbound.rotate_secret", "admin.inbound.unlink",
            "admin.inbound.delete", "admin.supplier.create", "admin.supplier.rotate_secret", "admin.supplier.delete",
            "admin.keys.rotate"] {
            via_console(&server, kind).await;
        }
    }

    #[tokio::test]
    async fn resource_forms_without_the_token_or_from_another_origin_change_nothing() {
        let server = TestServer::start().await;
        let console = Console::sign_in(&server).await;
        let other = Console::sign_in(&server).await;
        let token = console.token.clone();
        let create = format!("name=Evil&form_token={token}");
        let attempts = [
            (server.url.as_str(), "name=Evil".to_owned()),
            ("https://evil.example", create.clone()),
            (server.url.as_str(), "name=Evil&form_token=forged".to_owned()),
            (server.url.as_str(), format!("name=Evil&form_token={}", other.token)),
        ];
        for (origin, body) in &attempts {
            let refused = console.post_raw("/admin/organizations", origin, body).await;
            assert_eq!(refused.status(), 403, "{origin} {body}");
        }
        assert_eq!(server.admin_get("/organizations").await["items"], serde_json::json!([]));

        // A delete needs the token too.
        let organization = server.admin_post("/organizations", serde_json::json!({"name": "Kept"})).await;
        let path = format!("/admin/organizations/{}/delete", organization["id"].as_str().unwrap());
        assert_eq!(console.post_raw(&path, &server.url, "").await.status(), 403);
        assert_eq!(console.post_raw(&path, "https://evil.example", &format!("form_token={token}")).await.status(), 403);
        assert_eq!(server.admin_get("/organizations").await["items"].as_array().unwrap().len(), 1);
        assert!(server.audit("kind=admin.organization.delete").await.is_empty());
        assert_eq!(server.audit("kind=console.request&outcome=refused").await.len(), attempts.len() + 2);

        // Signed out, a resource page sends the browser to the sign-in form.
        let signed_out = server.http.get(format!("{}/admin/partners", server.url)).send().await.unwrap();
        assert_eq!((signed_out.status().as_u16(), header(&signed_out, "location")), (303, Some("/admin/sign-in")));
    }
}
