//! `GET /admin/v1/stats`: the overview's numbers, counted from the audit rollup — every mint,
//! redemption and inbound event in its hour, its day and its surface, accepted or refused, the
//! top refusal reasons, live sessions and health; moving the clock moves the buckets.

use handoff_webhook::SignatureProfile;

use crate::harness::sign_one;
use handoff_core::Clock;
use reqwest::Method;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::harness::{TestServer, ADMIN_TOKEN};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

async fn get_stats(server: &TestServer) -> Value {
    server.admin_get("/stats").await
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).unwrap().format(&Rfc3339).unwrap()
}

/// `{"accepted": a, "refused": r}`.
fn counts(accepted: u64, refused: u64) -> Value {
    json!({"accepted": accepted, "refused": refused})
}

/// What the test does, per surface, in one bucket.
fn traffic() -> Value {
    json!({
        "partner_mint": counts(3, 3),
        "redemption": counts(2, 1),
        "inbound_webhook": counts(1, 1),
        "launch": counts(0, 0),
    })
}

fn zeros() -> Value {
    json!({"partner_mint": counts(0, 0), "redemption": counts(0, 0), "inbound_webhook": counts(0, 0), "launch": counts(0, 0)})
}

/// Checks that `buckets` (`hourly` or `daily`) has `len` entries of `width` seconds ending with
/// the one containing `now`, all zero but the one containing `at`, which holds [`traffic`].
fn assert_buckets(buckets: &Value, len: i64, width: i64, now: i64, at: Option<i64>) {
    let buckets = buckets.as_array().unwrap();
    assert_eq!(buckets.len(), usize::try_from(len).unwrap());
    let first = (now.div_euclid(width) - (len - 1)) * width;
    for (i, bucket) in buckets.iter().enumerate() {
        let start = first + i64::try_from(i).unwrap() * width;
        assert_eq!(bucket["start"], rfc3339(start), "bucket {i}");
        let holds = at.is_some_and(|at| (start..start + width).contains(&at));
        let mut surfaces = bucket.clone();
        surfaces.as_object_mut().unwrap().remove("start");
        assert_eq!(surfaces, if holds { traffic() } else { zeros() }, "bucket {i} starting {start}");
    }
    if let Some(at) = at {
        assert!(at >= first, "the traffic is older than the buckets: test it as None");
    }
}

/// An inbound integration `vinst` for org number 123456789, with a user there to sign in.
pub async fn portal(server: &TestServer) -> (String, String, SignatureProfile) {
    let org = server.admin_post("/organizations", json!({"name": "Vinst Clinic", "org_numbers": ["123456789"]})).await;
    let org_id = org["id"].as_str().unwrap();
    server.create_user(org_id, "ada@example.com").await;
    let created = server.admin_post("/inbound-integrations", json!({"slug": "vinst"})).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/inbound-integrations/{id}/organizations/{org_id}");
    server.admin.admin::<Value, Value>(Method::PUT, &path, None).await.unwrap();
    let profile = created["signature_profile"].as_str().unwrap().parse().unwrap();
    (created["endpoint"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned(), profile)
}

/// POSTs a fresh event for `email`, signed with `secret` at the server's time.
pub async fn send_event(
    server: &TestServer,
    endpoint: &str,
    secret: &str,
    profile: SignatureProfile,
    email: &str,
) -> u16 {
    let body = serde_json::to_vec(&json!({
        "eventId": uuid::Uuid::new_v4().to_string(),
        "eventType": "Vinst_SSO",
        "eventTimestamp": rfc3339(server.clock.unix()),
        "data": {"email": email, "firstName": "Ada", "lastName": "Lovelace", "orgNo": "123456789"}
    }))
    .unwrap();
    let timestamp = server.clock.unix().to_string();
    let signature = sign_one(profile, secret, &timestamp, &body);
    let response = server
        .http
        .post(endpoint)
        .header("content-type", "application/json")
        .header("Vinst-Timestamp", &timestamp)
        .header("Vinst-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

backend_tests! {
    #[tokio::test]
    async fn the_stats_count_each_surface_in_its_hour_and_day() {
        let server = TestServer::start().await;
        let at = server.clock.unix();
        let fx = server.fixture().await;
        let (endpoint, secret, profile) = portal(&server).await;

        // Partner mint: three accepted; refused twice for a wrong secret, once for a disabled user.
        let mut links = Vec::new();
        for i in 0..3 {
            links.push(server.mint(&fx, &format!("/dashboard/{i}")).await);
        }
        for _ in 0..2 {
            let mut wrong = server.http.post(format!("{}/v1/sso", server.url));
            for (name, value) in fx.headers(&fx.user.id) {
                wrong = wrong.header(name, if name == "x-partner-secret" { "hps_wrong".to_owned() } else { value });
            }
            assert_eq!(wrong.send().await.unwrap().status(), 401);
        }
        let disabled = server.create_user(&fx.org.id, "disabled@jensen.com").await;
        server.set_user_status(&disabled.id, "disabled").await;
        assert_eq!(server.mint_raw(&fx, &disabled.id, None).await.status(), 403);
        // Redemption: two accepted, a replay refused.
        server.sign_in(&links[0]).await;
        server.sign_in(&links[1]).await;
        assert_eq!(server.open(&links[0]).await.status(), 409);
        // Inbound webhook: one accepted, one refused (a user it does not know).
        assert_eq!(send_event(&server, &endpoint, &secret, profile, "ada@example.com").await, 200);
        assert_ne!(send_event(&server, &endpoint, &secret, profile, "nobody@example.com").await, 200);

        let now = server.clock.unix();
        let stats = get_stats(&server).await;
        assert_buckets(&stats["hourly"], 24, HOUR, now, Some(at));
        assert_buckets(&stats["daily"], 30, DAY, now, Some(at));
        let reasons = stats["top_refusal_reasons"].as_array().unwrap();
        assert_eq!(reasons[0], json!({"kind": "sso.mint", "reason": "authentication-required", "count": 2}));
        let refused: u64 = reasons.iter().map(|r| r["count"].as_u64().unwrap()).sum();
        assert_eq!(refused, 5, "{reasons:?}");
        assert!(reasons.contains(&json!({"kind": "sso.mint", "reason": "user-disabled", "count": 1})), "{reasons:?}");
        assert!(reasons.contains(&json!({"kind": "sso.redeem", "reason": "token-already-used", "count": 1})));
        assert_eq!(stats["active_sessions"], 2);
        let health = &stats["health"];
        assert_eq!(health["database"], true);
        assert_eq!(health["journal_queue"], 0);
        let keys = health["signing_keys"].as_array().unwrap();
        let kinds: Vec<&str> = keys.iter().map(|k| k["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["sso", "identity", "prefill"]);
        let current = server.admin_get("/keys").await;
        for key in keys {
            assert_eq!(key["kid"], current[key["kind"].as_str().unwrap()]["current"]);
            assert_eq!(key["age_seconds"], 0, "the clock has not moved since the keys were created");
        }
        // The purge runs as the server starts (the first tick of its interval).
        assert_eq!(health["last_purge_at"], rfc3339(at));

        // Two hours on: the traffic is two hourly buckets back; the sessions went idle.
        server.clock.advance(2 * HOUR);
        let now = server.clock.unix();
        let stats = get_stats(&server).await;
        assert_buckets(&stats["hourly"], 24, HOUR, now, Some(at));
        assert_buckets(&stats["daily"], 30, DAY, now, Some(at));
        assert_eq!(stats["hourly"][21]["partner_mint"], counts(3, 3));
        assert_eq!(stats["active_sessions"], 0);
        assert_eq!(stats["health"]["signing_keys"][0]["age_seconds"], 2 * HOUR);

        // Three days on: out of the hourly span, in a daily bucket three (or four) days back.
        server.clock.advance(3 * DAY);
        let now = server.clock.unix();
        let stats = get_stats(&server).await;
        assert_buckets(&stats["hourly"], 24, HOUR, now, None);
        assert_buckets(&stats["daily"], 30, DAY, now, Some(at));
        assert_eq!(stats["top_refusal_reasons"].as_array().unwrap().len(), 4);

        // A month on: out of every bucket, and no refusal reasons left.
        server.clock.advance(30 * DAY);
        let stats = get_stats(&server).await;
        let now = server.clock.unix();
        assert_buckets(&stats["hourly"], 24, HOUR, now, None);
        assert_buckets(&stats["daily"], 30, DAY, now, None);
        assert_eq!(stats["top_refusal_reasons"], json!([]));
    }

    #[tokio::test]
    async fn the_stats_need_the_admin_token() {
        let server = TestServer::start().await;
        let url = format!("{}/admin/v1/stats", server.url);
        assert_eq!(server.http.get(&url).send().await.unwrap().status(), 401);
        let wrong = server.http.get(&url).bearer_auth(format!("{ADMIN_TOKEN}-not")).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        // Refused admin requests are refusals like any other.
        let stats = get_stats(&server).await;
        assert_eq!(stats["top_refusal_reasons"][0]["kind"], "admin.request");
        assert_eq!(stats["top_refusal_reasons"][0]["count"], 2);
    }
}
