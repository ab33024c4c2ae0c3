//! Inbound webhook SSO: a portal POSTs a signed event; handoff verifies, refuses forgeries and
//! replays, and answers a one-time link that signs the right user in.

use handoff_webhook::SignatureProfile;

use crate::harness::sign_one;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{header, verify_with_jwks, TestServer, LOOK_ALIKE_EMAILS};

struct Portal {
    id: String,
    slug: String,
    secret: String,
    profile: SignatureProfile,
}

async fn setup(server: &TestServer, integration: Value) -> Portal {
    server.admin_post("/organizations", json!({"name": "Fjordklinikken", "org_numbers": ["123456789"]})).await;
    integration_only(server, integration).await
}

/// An integration linked to every organization there is so far.
async fn integration_only(server: &TestServer, integration: Value) -> Portal {
    let created = server.admin_post("/inbound-integrations", integration).await;
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["endpoint"], format!("{}/v1/inbound/{}/sso", server.url, created["slug"].as_str().unwrap()));
    let id = created["id"].as_str().unwrap();
    for org in server.admin_get("/organizations").await["items"].as_array().unwrap() {
        link(server, Method::PUT, id, org["id"].as_str().unwrap()).await;
    }
    Portal {
        id: id.to_owned(),
        slug: created["slug"].as_str().unwrap().to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
        profile: created["signature_profile"].as_str().unwrap().parse().unwrap(),
    }
}

/// Links (`PUT`) or unlinks (`DELETE`) an integration and an organization.
async fn link(server: &TestServer, method: Method, integration: &str, organization: &str) {
    let path = format!("/inbound-integrations/{integration}/organizations/{organization}");
    let answer: Value = server.admin.admin::<Value, Value>(method, &path, None).await.unwrap();
    assert_eq!(answer, Value::Null, "204");
}

fn event(email: &str, org_no: &str) -> Value {
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    json!({
        "eventId": uuid::Uuid::new_v4().to_string(),
        "eventType": "Vinst_SSO",
        "eventTimestamp": now,
        "data": {"email": email, "firstName": "Turid", "lastName": "Jensen", "orgNo": org_no}
    })
}

/// [`event`] as the bytes a portal sends.
fn event_bytes(email: &str, org_no: &str) -> Vec<u8> {
    serde_json::to_vec(&event(email, org_no)).unwrap()
}

impl Portal {
    /// POSTs `body` signed with the portal's secret, timestamp `timestamp`, seed header names.
    async fn send(&self, server: &TestServer, body: &[u8], timestamp: &str) -> reqwest::Response {
        let signature = sign_one(self.profile, &self.secret, timestamp, body);
        self.send_signed(server, body, timestamp, &signature).await
    }

    /// POSTs `body` with the seed header names carrying `timestamp` and `signature`, as given.
    async fn send_signed(
        &self,
        server: &TestServer,
        body: &[u8],
        timestamp: &str,
        signature: &str,
    ) -> reqwest::Response {
        self.send_with(server, body, &[("Vinst-Timestamp", timestamp), ("Vinst-Signature", signature)]).await
    }

    async fn send_with(&self, server: &TestServer, body: &[u8], headers: &[(&str, &str)]) -> reqwest::Response {
        self.post(server, "sso", body, headers).await
    }

    /// The sandbox's report (`POST …/sso/test`) on `body` with these signature headers.
    async fn sandbox(&self, server: &TestServer, body: &[u8], timestamp: &str, signature: &str) -> Value {
        let headers = [("Vinst-Timestamp", timestamp), ("Vinst-Signature", signature)];
        self.post(server, "sso/test", body, &headers).await.json().await.unwrap()
    }

    /// POSTs a JSON `body` to the integration's `endpoint` (`sso`, `sso/test`) with `headers`.
    async fn post(
        &self,
        server: &TestServer,
        endpoint: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = server
            .http
            .post(format!("{}/v1/inbound/{}/{endpoint}", server.url, self.slug))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

fn now(server: &TestServer) -> i64 {
    use handoff_core::Clock;
    server.clock.unix()
}

async fn refused(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// Header name and value pairs.
type Headers = Vec<(String, String)>;

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_handoff")).args(args).output().unwrap()
}

backend_tests! {
    #[tokio::test]
    async fn an_accepted_event_signs_the_right_user_in() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "landing_path": "/dashboard/from-vinst"})).await;
        let org = server.admin_get("/organizations").await["items"][0]["id"].as_str().unwrap().to_owned();
        let user = server.create_user(&org, "turid@jensen.com").await;
        let body = event_bytes("Turid@Jensen.com", "123456789");
        let response = portal.send(&server, &body, &now(&server).to_string()).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        let redirect_url = answer["redirectUrl"].as_str().unwrap();
        assert!(redirect_url.starts_with(&format!("{}/auth/sso?token=", server.url)));
        let landing = server.open(redirect_url).await;
        assert_eq!(header(&landing, "location"), Some("/dashboard/from-vinst"));
        let cookie = crate::harness::set_cookie_pair(&landing);
        let me: Value = server.who_am_i(&cookie).await;
        assert_eq!(me["user_id"], user.id.as_str());
        let audit = server.audit("kind=inbound.sso&outcome=accepted").await;
        assert_eq!(audit[0]["reason"], "signed-in");
        assert_eq!(audit[0]["user_id"], user.id.as_str());
    }

    #[tokio::test]
    async fn header_spellings_and_timestamp_formats() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let unix = now(&server);
        let rfc3339 = time::OffsetDateTime::from_unix_timestamp(unix)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        for (ts_header, sig_header) in [("Vinst-Timestamp", "Vinst-Signature"), ("X-Vinst-Timestamp", "X-Vinst-Signature")]
        {
            for timestamp in [unix.to_string(), rfc3339.clone()] {
                let body = event_bytes("a@b.no", "123456789");
                let signature = sign_one(portal.profile, &portal.secret, &timestamp, &body);
                for signature in [signature.clone(), format!("sha256={signature}")] {
                    let body = event_bytes("a@b.no", "123456789");
                    let signature = if signature.starts_with("sha256=") {
                        format!("sha256={}", sign_one(portal.profile, &portal.secret, &timestamp, &body))
                    } else {
                        sign_one(portal.profile, &portal.secret, &timestamp, &body)
                    };
                    let response =
                        portal.send_with(&server, &body, &[(ts_header, &timestamp), (sig_header, &signature)]).await;
                    assert_eq!(response.status(), 200, "{ts_header} {timestamp} {signature}");
                }
            }
        }
    }

    #[tokio::test]
    async fn timestamps_outside_the_tolerance_are_refused() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let t = now(&server);
        for (offset, status) in [(-16, 401), (16, 401), (-5, 200), (5, 200), (-15, 200), (15, 200)] {
            let body = event_bytes("a@b.no", "123456789");
            let response = portal.send(&server, &body, &(t + offset).to_string()).await;
            assert_eq!(response.status().as_u16(), status, "offset {offset}");
        }
        let body = event_bytes("a@b.no", "123456789");
        assert_eq!(refused(portal.send(&server, &body, &(t - 16).to_string()).await, 401).await, "Timestamp is too old.");
        let body = event_bytes("a@b.no", "123456789");
        assert_eq!(
            refused(portal.send(&server, &body, &(t + 16).to_string()).await, 401).await,
            "Timestamp is in the future."
        );
    }

    #[tokio::test]
    async fn forged_signatures_and_replays_are_refused() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let ts = now(&server).to_string();
        let body = event_bytes("a@b.no", "123456789");
        let signature = sign_one(portal.profile, &portal.secret, &ts, &body);
        // A signature over another body.
        let other = event_bytes("mallory@evil.com", "123456789");
        let response = portal.send_signed(&server, &other, &ts, &signature).await;
        assert_eq!(refused(response, 401).await, "Invalid signature.");
        // One byte changed.
        for position in [0, body.len() / 2, body.len() - 1] {
            let mut tampered = body.clone();
            tampered[position] ^= 0x01;
            let response = portal.send_signed(&server, &tampered, &ts, &signature).await;
            assert_eq!(response.status(), 401, "byte {position}");
        }
        // Re-serialised JSON (same meaning, other bytes) is a different body.
        let reformatted = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
        let response = portal.send_signed(&server, &reformatted, &ts, &signature).await;
        assert_eq!(response.status(), 401);
        // A wrong secret, and the timestamp moved under a valid signature.
        let forged = sign_one(SignatureProfile::TimestampBodyHex, "whsec_guess", &ts, &body);
        assert_eq!(portal.send_signed(&server, &body, &ts, &forged).await.status(), 401);
        let moved = (now(&server) - 1).to_string();
        assert_eq!(portal.send_signed(&server, &body, &moved, &signature).await.status(), 401);

        // The genuine request passes once; its replay is 409.
        assert_eq!(portal.send(&server, &body, &ts).await.status(), 200);
        assert_eq!(refused(portal.send(&server, &body, &ts).await, 409).await, "This eventId was already used.");
        let refusals = server.audit("kind=inbound.sso&outcome=refused&limit=100").await;
        // Each refusal names the check that failed (the problem slug is still the seed's 401/409).
        let reasons: Vec<&str> = refusals.iter().map(|r| r["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons.iter().filter(|r| **r == "signature-mismatch").count(), 7, "{reasons:?}");
        assert_eq!(reasons.iter().filter(|r| **r == "replayed-event").count(), 1, "{reasons:?}");
    }

    #[tokio::test]
    async fn fields_organizations_and_limits() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let ts = now(&server).to_string();
        let send = |body: Value| {
            let body = serde_json::to_vec(&body).unwrap();
            let (portal, server, ts) = (&portal, &server, ts.clone());
            async move { portal.send(server, &body, &ts).await }
        };
        assert_eq!(refused(send(event("a@b.no", "999999999")).await, 403).await, "Unknown organization.");
        let mut wrong_type = event("a@b.no", "123456789");
        wrong_type["eventType"] = json!("Other_SSO");
        assert_eq!(send(wrong_type).await.status(), 400);
        for field in ["email", "firstName", "lastName", "orgNo"] {
            let mut missing = event("a@b.no", "123456789");
            missing["data"].as_object_mut().unwrap().remove(field);
            assert_eq!(send(missing).await.status(), 400, "missing {field}");
        }
        let mut bad_email = event("a@b.no", "123456789");
        bad_email["data"]["email"] = json!("not-an-email");
        assert!(refused(send(bad_email).await, 400).await.contains("email"));
        let mut no_id = event("a@b.no", "123456789");
        no_id.as_object_mut().unwrap().remove("eventId");
        assert_eq!(send(no_id).await.status(), 400);

        let big = format!("{{\"pad\": \"{}\"}}", "a".repeat(70 * 1024));
        assert_eq!(portal.send(&server, big.as_bytes(), &ts).await.status(), 413);
        let response = server
            .http
            .post(format!("{}/v1/inbound/vinst/sso", server.url))
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(refused(response, 415).await, "Content-Type must be application/json.");
        let unknown = server.http.post(format!("{}/v1/inbound/nope/sso", server.url)).send().await.unwrap();
        assert_eq!(refused(unknown, 404).await, "Unknown integration.");
    }

    #[tokio::test]
    async fn a_look_alike_email_does_not_sign_in_the_user_it_resembles() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let org = server.admin_get("/organizations").await["items"][0]["id"].as_str().unwrap().to_owned();
        let kari = server.create_user(&org, "kari@x.no").await;
        let ts = now(&server).to_string();
        for look_alike in LOOK_ALIKE_EMAILS {
            let body = event_bytes(look_alike, "123456789");
            let error = refused(portal.send(&server, &body, &ts).await, 400).await;
            assert!(error.starts_with("data.email must have an ASCII local part"), "{error}");
        }
        let users = server.admin_get(&format!("/organizations/{org}/users")).await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "nobody was provisioned");
        assert_eq!(users["items"][0]["id"], kari.id.as_str());
        assert!(server.audit("kind=inbound.sso&outcome=accepted").await.is_empty());
        assert_eq!(server.audit("kind=inbound.sso&outcome=refused").await.len(), 3);

        // An internationalised domain is one user, in either spelling.
        let idn = server.create_user(&org, "kari@bücher.example").await;
        assert_eq!(idn.email, "kari@xn--bcher-kva.example");
        let body = event_bytes("Kari@BÜCHER.example", "123456789");
        let answer: Value = portal.send(&server, &body, &ts).await.json().await.unwrap();
        let cookie = server.sign_in(answer["redirectUrl"].as_str().unwrap()).await;
        let me: Value = server.who_am_i(&cookie).await;
        assert_eq!(me["user_id"], idn.id.as_str());
        assert_eq!(me["email"], "kari@xn--bcher-kva.example");
    }

    #[tokio::test]
    async fn unknown_user_policies() {
        let server = TestServer::start().await;
        let reject = setup(&server, json!({"slug": "reject"})).await;
        let provision = integration_only(&server, json!({"slug": "provision", "unknown_user": "provision"})).await;
        let register = integration_only(
            &server,
            json!({"slug": "register", "unknown_user": "register", "register_url": "https://register.example.com/signup?src=vinst"}),
        )
        .await;
        let ts = now(&server).to_string();

        let body = event_bytes("new@b.no", "123456789");
        assert_eq!(refused(reject.send(&server, &body, &ts).await, 403).await, "Unknown user.");

        let body = event_bytes("new@b.no", "123456789");
        let answer: Value = register.send(&server, &body, &ts).await.json().await.unwrap();
        let url = answer["redirectUrl"].as_str().unwrap();
        let token = url.strip_prefix("https://register.example.com/signup?src=vinst&prefill=").unwrap();
        let (jose, claims) = verify_with_jwks(&server.http, &format!("{}/.well-known/jwks.json", server.url), token).await;
        // Its own type and its own key, not the identity token's.
        assert_eq!(jose["typ"], "handoff-prefill+jwt");
        let keys = server.admin_get("/keys").await;
        assert_eq!(jose["kid"], keys["prefill"]["current"]);
        assert_ne!(jose["kid"], keys["identity"]["current"]);
        assert_eq!(claims["iss"], server.url.as_str());
        assert_eq!(claims["aud"], "https://register.example.com/signup?src=vinst");
        assert_eq!(claims["email"], "new@b.no");
        assert_eq!(claims["org_no"], "123456789");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);

        let body = event_bytes("new@b.no", "123456789");
        let answer: Value = provision.send(&server, &body, &ts).await.json().await.unwrap();
        let landing = server.open(answer["redirectUrl"].as_str().unwrap()).await;
        assert_eq!(landing.status(), 303);
        let org = server.admin_get("/organizations").await["items"][0]["id"].as_str().unwrap().to_owned();
        let users = server.admin_get(&format!("/organizations/{org}/users?email=new@b.no")).await;
        assert_eq!(users["items"][0]["given_name"], "Turid");
        // Now known: even the rejecting integration signs them in; disabled users are refused.
        let body = event_bytes("new@b.no", "123456789");
        assert_eq!(reject.send(&server, &body, &ts).await.status(), 200);
        let id = users["items"][0]["id"].as_str().unwrap();
        server.set_user_status(id, "disabled").await;
        let body = event_bytes("new@b.no", "123456789");
        assert_eq!(refused(provision.send(&server, &body, &ts).await, 403).await, "The user is disabled.");
    }

    #[tokio::test]
    async fn secret_rotation_overlaps_then_only_the_new_secret_works() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let id = server.admin_get("/inbound-integrations").await["items"][0]["id"].as_str().unwrap().to_owned();
        let rotated = server.admin_post(&format!("/inbound-integrations/{id}/secrets"), json!({})).await;
        let new = Portal {
            id: id.clone(),
            secret: rotated["secret"].as_str().unwrap().to_owned(),
            slug: portal.slug.clone(),
            profile: portal.profile,
        };
        for sender in [&portal, &new] {
            let body = event_bytes("a@b.no", "123456789");
            assert_eq!(sender.send(&server, &body, &now(&server).to_string()).await.status(), 200);
        }
        server.clock.advance(24 * 3600);
        let body = event_bytes("a@b.no", "123456789");
        assert_eq!(portal.send(&server, &body, &now(&server).to_string()).await.status(), 401);
        let body = event_bytes("a@b.no", "123456789");
        assert_eq!(new.send(&server, &body, &now(&server).to_string()).await.status(), 200);
    }

    #[tokio::test]
    async fn alternative_profiles_verify() {
        let server = TestServer::start().await;
        server.admin_post("/organizations", json!({"name": "Org", "org_numbers": ["123456789"]})).await;
        for profile in ["timestamp-body-base64", "body-hex", "body-base64"] {
            let portal = integration_only(
                &server,
                json!({"slug": profile, "signature_profile": profile, "unknown_user": "provision"}),
            )
            .await;
            let body = event_bytes("a@b.no", "123456789");
            assert_eq!(portal.send(&server, &body, &now(&server).to_string()).await.status(), 200, "{profile}");
            let hex_instead = sign_one(SignatureProfile::TimestampBodyHex, &portal.secret, &now(&server).to_string(), &body);
            let ts = now(&server).to_string();
            let response = portal.send_signed(&server, &body, &ts, &hex_instead).await;
            assert_eq!(response.status(), 401, "{profile} must not accept another profile's signature");
            if profile.starts_with("body-") {
                // The header timestamp is not signed: the signed eventTimestamp must be fresh.
                let mut stale = event("a@b.no", "123456789");
                stale["eventTimestamp"] = json!("2025-05-13T14:30:00Z");
                let body = serde_json::to_vec(&stale).unwrap();
                let answer = refused(portal.send(&server, &body, &now(&server).to_string()).await, 401).await;
                assert_eq!(answer, "eventTimestamp is outside the tolerance.");
            }
        }
    }

    #[tokio::test]
    async fn failed_signatures_are_rate_limited() {
        let server = TestServer::with(|c| c.failed_auth_limit = Some(3)).await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let ts = now(&server).to_string();
        let zeros = "0".repeat(64);
        for _ in 0..3 {
            let body = event_bytes("a@b.no", "123456789");
            let response = portal.send_signed(&server, &body, &ts, &zeros).await;
            assert_eq!(response.status(), 401);
        }
        // Now even a correctly signed event waits.
        let body = event_bytes("a@b.no", "123456789");
        let response = portal.send(&server, &body, &ts).await;
        assert!(header(&response, "retry-after").is_some());
        assert_eq!(refused(response, 429).await, "Too many failed authentication attempts; retry later.");
    }

    #[tokio::test]
    async fn failed_signatures_are_limited_per_integration_across_addresses() {
        let server = TestServer::with(|c| {
            c.failed_auth_limit_per_partner = Some(3);
            c.trusted_proxies = Some("127.0.0.1".into());
        })
        .await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let other = integration_only(&server, json!({"slug": "other", "unknown_user": "provision"})).await;
        let ts = now(&server).to_string();
        let zeros = "0".repeat(64);
        let body = event_bytes("a@b.no", "123456789");
        for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            let headers = [("Vinst-Timestamp", ts.as_str()), ("Vinst-Signature", zeros.as_str()), ("X-Forwarded-For", client)];
            assert_eq!(portal.send_with(&server, &body, &headers).await.status(), 401);
        }
        // A fourth address, correctly signed: this integration waits, another one does not.
        let signature = sign_one(portal.profile, &portal.secret, &ts, &body);
        let headers = [("Vinst-Timestamp", ts.as_str()), ("Vinst-Signature", signature.as_str()), ("X-Forwarded-For", "203.0.113.4")];
        let response = portal.send_with(&server, &body, &headers).await;
        assert!(header(&response, "retry-after").is_some());
        assert_eq!(refused(response, 429).await, "Too many failed authentication attempts; retry later.");
        assert_eq!(other.send(&server, &body, &ts).await.status(), 200);
    }

    #[tokio::test]
    async fn hostile_webhook_inputs_get_4xx_never_5xx() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;
        let ts = now(&server).to_string();
        let good = event_bytes("a@b.no", "123456789");
        let sig = sign_one(portal.profile, &portal.secret, &ts, &good);
        let mut cases: Vec<(Vec<u8>, Headers)> = Vec::new();
        let headers = |t: &str, s: &str| {
            vec![("Vinst-Timestamp".to_owned(), t.to_owned()), ("Vinst-Signature".to_owned(), s.to_owned())]
        };
        // Hostile headers around a good body.
        for (t, s) in [
            ("", sig.as_str()),
            ("abc", sig.as_str()),
            ("-1", sig.as_str()),
            ("99999999999999999999", sig.as_str()),
            ("1e10", sig.as_str()),
            ("2025-13-45T99:00:00Z", sig.as_str()),
            (&ts, ""),
            (&ts, "sha256="),
            (&ts, "sha256=sha256=00"),
            (&ts, "zz"),
            (&ts, &"0".repeat(64)),
            (&ts, &"f".repeat(4096)),
            (&ts, "c2lnbmF0dXJl"),
            (&ts, "sha512=abcd"),
            (&ts, &format!("{sig},{sig}")),
            (&ts, &format!(" {sig} x")),
            ("0", sig.as_str()),
            ("1747144200", sig.as_str()),
            ("\u{0}", sig.as_str()),
        ] {
            cases.push((good.clone(), headers(t, s)));
        }
        // Hostile bodies, correctly signed: the signature is not a licence to crash.
        let signed = |body: &[u8]| headers(&ts, &sign_one(portal.profile, &portal.secret, &ts, body));
        let bodies: Vec<Vec<u8>> = vec![
            b"".to_vec(), b"{".to_vec(), b"null".to_vec(), b"[]".to_vec(), b"\"text\"".to_vec(), b"{}".to_vec(),
            vec![0xff, 0xfe, 0x00], b"{\"eventId\": 1}".to_vec(),
            br#"{"eventId":"x","eventType":"Vinst_SSO","eventTimestamp":"now","data":{}}"#.to_vec(),
            br#"{"eventId":"x","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":null}"#.to_vec(),
            br#"{"eventId":"","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"a@b.no","firstName":"A","lastName":"B","orgNo":"123456789"}}"#.to_vec(),
            format!(r#"{{"eventId":"{}","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{{"email":"a@b.no","firstName":"A","lastName":"B","orgNo":"123456789"}}}}"#, "x".repeat(500)).into_bytes(),
            br#"{"eventId":"y","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"a@b.no","firstName":"","lastName":"B","orgNo":"123456789"}}"#.to_vec(),
            br#"{"eventId":"z","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"a@b.no","firstName":"A\u0000","lastName":"B","orgNo":"123456789"}}"#.to_vec(),
            br#"{"eventId":"w","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"a@b.no","firstName":"A","lastName":"B","orgNo":"' OR 1=1 --"}}"#.to_vec(),
            br#"{"eventId":"v","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"<script>@b.no","firstName":"A","lastName":"B","orgNo":"123456789"}}"#.to_vec(),
            "[".repeat(10_000).into_bytes(),
            format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200)).into_bytes(),
            br#"{"eventId":"u","eventType":"Vinst_SSO","eventType":"Other","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"a@b.no","firstName":"A","lastName":"B","orgNo":"123456789"}}"#.to_vec(),
            br#"{"eventId":"t","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"a@b.no","firstName":"A","lastName":"B","orgNo":"\u202e123"}}"#.to_vec(),
            vec![b' '; 65 * 1024],
        ];
        for body in bodies {
            let headers = signed(&body);
            cases.push((body, headers));
        }
        assert!(cases.len() >= 40, "{} cases", cases.len());
        for (body, headers) in &cases {
            let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut request = server
                .http
                .post(format!("{}/v1/inbound/vinst/sso", server.url))
                .header("content-type", "application/json")
                .body(body.clone());
            for (name, value) in &borrowed {
                if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                    request = request.header(*name, value);
                }
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{status} for {:?} / {headers:?}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            );
            let answer: Value = response.json().await.unwrap();
            assert!(answer["error"].is_string());
        }
    }

    #[tokio::test]
    async fn the_sandbox_explains_which_check_failed() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "sandbox": true})).await;
        let closed = integration_only(&server, json!({"slug": "closed"})).await;
        let ts = now(&server).to_string();
        let body = event_bytes("unknown@b.no", "123456789");
        let wrong = sign_one(SignatureProfile::TimestampBodyHex, "whsec_guess", &ts, &body);
        let report = portal.sandbox(&server, &body, &ts, &wrong).await;
        assert_eq!(report["ok"], false);
        let names = |report: &Value| -> Vec<(String, bool)> {
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["name"].as_str().unwrap().to_owned(), c["ok"].as_bool().unwrap()))
                .collect()
        };
        // Without the secret, nothing is said about organizations or users.
        assert_eq!(
            names(&report),
            [("content-type", true), ("timestamp", true), ("signature", false), ("event", true)]
                .map(|(n, ok)| (n.to_owned(), ok))
        );
        let signature = sign_one(portal.profile, &portal.secret, &ts, &body);
        let report = portal.sandbox(&server, &body, &ts, &signature).await;
        assert_eq!(
            names(&report),
            [
                ("content-type", true),
                ("timestamp", true),
                ("signature", true),
                ("event", true),
                ("organization", true),
                ("user", false)
            ]
            .map(|(n, ok)| (n.to_owned(), ok))
        );
        assert_eq!(report["checks"][5]["detail"], "Unknown user.");
        let text = report.to_string();
        assert!(!text.contains(&portal.secret) && !text.contains(&sign_one(portal.profile, &portal.secret, &ts, &body)));
        // Nothing was remembered or signed in: the real endpoint still takes the event.
        assert!(server.audit("kind=inbound.sso").await.is_empty());
        let closed_test = server.http.post(format!("{}/v1/inbound/closed/sso/test", server.url)).send().await.unwrap();
        assert_eq!(closed_test.status(), 404);
        let _ = closed;
    }

    #[tokio::test]
    async fn an_integration_serves_only_the_organizations_it_is_linked_to() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision", "sandbox": true})).await;
        let served = server.admin_get("/organizations").await["items"][0]["id"].as_str().unwrap().to_owned();
        let other = server.admin_post("/organizations", json!({"name": "Other", "org_numbers": ["987654321"]})).await;
        let other = other["id"].as_str().unwrap().to_owned();
        let known = server.create_user(&other, "kari@other.no").await;
        let links = format!("/inbound-integrations/{}/organizations", portal.id);
        assert_eq!(server.admin_get(&links).await, json!([served]));
        let send = |email: &'static str, org_no: &'static str| {
            let body = event_bytes(email, org_no);
            let (portal, server) = (&portal, &server);
            async move { portal.send(server, &body, &now(server).to_string()).await }
        };

        // Neither an existing user of another organization nor a new one (provisioning).
        let not_linked = "This integration is not linked to the organization.";
        assert_eq!(refused(send("kari@other.no", "987654321").await, 403).await, not_linked);
        assert_eq!(refused(send("new@other.no", "987654321").await, 403).await, not_linked);
        let provisioned = server.admin_get(&format!("/organizations/{other}/users?email=new@other.no")).await;
        assert_eq!(provisioned["items"], json!([]));
        let refusals = server.audit("kind=inbound.sso&outcome=refused").await;
        assert_eq!(refusals.len(), 2);
        assert!(refusals.iter().all(|r| r["reason"] == "organization-not-linked" && r["organization_id"] == other));
        assert_eq!(send("a@b.no", "123456789").await.status(), 200);

        // The sandbox says so too, to a sender holding the secret.
        let ts = now(&server).to_string();
        let body = event_bytes("kari@other.no", "987654321");
        let report = portal.sandbox(&server, &body, &ts, &sign_one(portal.profile, &portal.secret, &ts, &body)).await;
        assert_eq!(report["checks"][4], json!({"name": "organization", "ok": false, "detail": not_linked}));

        // Linking and unlinking take effect at once (no stale cache on this node).
        link(&server, Method::PUT, &portal.id, &other).await;
        let answer: Value = send("kari@other.no", "987654321").await.json().await.unwrap();
        let landing = server.open(answer["redirectUrl"].as_str().unwrap()).await;
        assert_eq!(landing.status(), 303);
        let accepted = server.audit("kind=inbound.sso&outcome=accepted").await;
        assert_eq!(accepted[0]["user_id"], known.id.as_str());
        link(&server, Method::DELETE, &portal.id, &served).await;
        assert_eq!(refused(send("a@b.no", "123456789").await, 403).await, not_linked);
        assert_eq!(server.admin_get(&links).await, json!([other]));
        let again = server.admin_request(Method::DELETE, &format!("{links}/{served}")).send().await.unwrap();
        crate::harness::assert_problem(again, 404, "not-found").await;
        assert_eq!(server.audit("kind=admin.inbound.link").await.len(), 2);
        assert_eq!(server.audit("kind=admin.inbound.unlink").await.len(), 1);
    }

    #[tokio::test]
    async fn the_sandbox_counts_failed_signatures_and_obeys_the_limit() {
        // The guesser comes from its own address (the admin calls below come from loopback).
        let server = TestServer::with(|c| {
            c.failed_auth_limit = Some(3);
            c.trusted_proxies = Some("127.0.0.1".into());
        })
        .await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision", "sandbox": true})).await;
        let ts = now(&server).to_string();
        let body = event_bytes("a@b.no", "123456789");
        let guesser = "203.0.113.9";
        let test = |signature: String| {
            let (portal, server, ts, body) = (&portal, &server, &ts, &body);
            async move {
                let headers = [("x-forwarded-for", guesser), ("Vinst-Timestamp", ts), ("Vinst-Signature", &signature)];
                portal.post(server, "sso/test", body, &headers).await
            }
        };
        for guess in 0..3 {
            let response = test(format!("{guess:064x}")).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.json::<Value>().await.unwrap()["checks"][2]["ok"], false);
        }
        // Over the limit: the sandbox, even with the right signature, and the real endpoint wait.
        let response = test(sign_one(portal.profile, &portal.secret, &ts, &body)).await;
        assert!(header(&response, "retry-after").is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
        assert_eq!(refused(response, 429).await, "Too many failed authentication attempts; retry later.");
        let signature = sign_one(portal.profile, &portal.secret, &ts, &body);
        let headers = [("Vinst-Timestamp", ts.as_str()), ("Vinst-Signature", &signature), ("X-Forwarded-For", guesser)];
        assert_eq!(portal.send_with(&server, &body, &headers).await.status(), 429);
        let refusals = server.audit("kind=inbound.sandbox&outcome=refused").await;
        assert_eq!(refusals[0]["reason"], "rate-limited");
    }

    // The CLI runs as a blocking child process: the server needs a worker thread of its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_webhook_cli_signs_sends_and_verifies() {
        let server = TestServer::start().await;
        let portal = setup(&server, json!({"slug": "vinst", "unknown_user": "provision"})).await;

        // send: a portal's request, end to end.
        let url = format!("{}/v1/inbound/vinst/sso", server.url);
        let sent = cli(&[
            "webhook",
            "send",
            "--url",
            &url,
            "--secret",
            &portal.secret,
            "--email",
            "cli@b.no",
            "--org-no",
            "123456789",
        ]);
        assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
        let stdout = String::from_utf8(sent.stdout).unwrap();
        assert!(stdout.starts_with("200\n") && stdout.contains("redirectUrl"), "{stdout}");
        let wrong = cli(&["webhook", "send", "--url", &url, "--secret", "whsec_guess"]);
        assert!(!wrong.status.success());
        assert!(String::from_utf8_lossy(&wrong.stdout).contains("Invalid signature."));

        // sign and verify: the seed's body, byte for byte, against the known answer.
        let dir = tempfile::tempdir().unwrap();
        let body_file = dir.path().join("body.json");
        let seed_body = r#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"turid@jensen.com","firstName":"Turid","lastName":"Jensen","orgNo":"123456789"}}"#;
        std::fs::write(&body_file, seed_body).unwrap();
        let body_path = body_file.to_str().unwrap();
        let signed = cli(&[
            "webhook",
            "sign",
            "--secret",
            "whsec_test_secret",
            "--timestamp",
            "1747144200",
            "--body-file",
            body_path,
        ]);
        let printed = String::from_utf8(signed.stdout).unwrap();
        let expected = "0a24a7963047508d0dab94e6ca885871a16ecc4e7e49e4b9cefb8da5dd0a698f";
        assert!(printed.contains(&format!("Vinst-Signature: {expected}")), "{printed}");
        assert!(printed.contains("curl -s -X POST"));
        let verify = |secret: &str| {
            cli(&[
                "webhook",
                "verify",
                "--secret",
                secret,
                "--timestamp",
                "1747144200",
                "--signature",
                expected,
                "--body-file",
                body_path,
                "--tolerance",
                "0",
            ])
        };
        let ok = verify("whsec_test_secret");
        assert!(ok.status.success());
        assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "valid");
        assert!(!verify("whsec_other").status.success());
        // With freshness on, a 2025 timestamp is refused.
        let stale = cli(&[
            "webhook",
            "verify",
            "--secret",
            "whsec_test_secret",
            "--timestamp",
            "1747144200",
            "--signature",
            expected,
            "--body-file",
            body_path,
        ]);
        assert!(
            String::from_utf8_lossy(&stale.stderr).contains("too old")
                || String::from_utf8_lossy(&stale.stderr).contains("past")
        );
    }
}
