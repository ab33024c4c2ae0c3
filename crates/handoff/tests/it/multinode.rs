//! Three `handoff serve` processes on one PostgreSQL database: single use, replay refusal, key
//! rotation and failed-authentication limits hold across nodes.

use std::sync::Arc;

use handoff_client::Client;
use handoff_webhook::SignatureProfile;

use crate::harness::sign_one;
use handoff_testkit::postgres;
use serde_json::{json, Value};

use crate::harness::{http_client, jwt_header, remote_fixture, verify_with_jwks, Spawned, ADMIN_TOKEN};

/// The master key every node shares (as an operator would configure it).
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct Cluster {
    nodes: Vec<Spawned>,
    _dirs: Vec<tempfile::TempDir>,
    _postgres: postgres::Cluster,
}

fn cluster(size: usize, extra: &[&str]) -> Cluster {
    let database = postgres::Cluster::start();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..size {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--master-key", MASTER_KEY];
        args.extend_from_slice(extra);
        nodes.push(Spawned::serve_with(dir.path(), "127.0.0.1:0", Some(&database.url), &args));
        dirs.push(dir);
    }
    Cluster { nodes, _dirs: dirs, _postgres: database }
}

/// `size` nodes that are one portal at one public URL (a load balancer's, in production), and that
/// URL. Each node has its own loopback address: a test sends a link's path (after the public URL)
/// to the node it chooses.
fn one_portal(size: usize) -> (Cluster, String) {
    let public = format!("http://127.0.0.1:{}", handoff_testkit::unused_port());
    (cluster(size, &["--public-url", &public]), public)
}

impl Cluster {
    fn url(&self, i: usize) -> &str {
        &self.nodes[i].url
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemptions_spread_over_three_nodes_succeed_exactly_once() {
    if !postgres::available() {
        return;
    }
    let (cluster, public) = one_portal(3);
    let fx = remote_fixture(cluster.url(0)).await;
    let http = http_client();
    for round in 0..10 {
        let minting = Client::new(cluster.url(round % 3));
        let link = minting.mint_sso_link(&fx.credentials, &fx.user_id, Some("/dashboard")).await.unwrap();
        let path = link.redirect_url.strip_prefix(&public).unwrap().to_owned();
        let attempts: Vec<_> = (0..45)
            .map(|i| {
                let url = format!("{}{path}", cluster.url(i % 3));
                let http = http.clone();
                tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "round {round}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 44, "round {round}: {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_sent_to_two_nodes_at_once_is_accepted_once() {
    if !postgres::available() {
        return;
    }
    let cluster = cluster(3, &[]);
    let admin = Client::new(cluster.url(0)).with_admin_token(ADMIN_TOKEN);
    let organization: Value = admin
        .admin(reqwest::Method::POST, "/organizations", Some(&json!({"name": "O", "org_numbers": ["123456789"]})))
        .await
        .unwrap();
    let created: Value = admin
        .admin(
            reqwest::Method::POST,
            "/inbound-integrations",
            Some(&json!({"slug": "vinst", "unknown_user": "provision"})),
        )
        .await
        .unwrap();
    let (integration_id, organization_id) = (created["id"].as_str().unwrap(), organization["id"].as_str().unwrap());
    let link = format!("/inbound-integrations/{integration_id}/organizations/{organization_id}");
    admin.admin::<Value, Value>(reqwest::Method::PUT, &link, None).await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let body = Arc::new(
        serde_json::to_vec(&json!({
            "eventId": uuid::Uuid::new_v4().to_string(), "eventType": "Vinst_SSO",
            "eventTimestamp": now.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "data": {"email": "a@b.no", "firstName": "A", "lastName": "B", "orgNo": "123456789"}
        }))
        .unwrap(),
    );
    let ts = now.unix_timestamp().to_string();
    let signature = sign_one(SignatureProfile::TimestampBodyHex, &secret, &ts, &body);
    let http = http_client();
    let sends: Vec<_> = [1, 2]
        .into_iter()
        .map(|i| {
            let request = http
                .post(format!("{}/v1/inbound/vinst/sso", cluster.url(i)))
                .header("content-type", "application/json")
                .header("Vinst-Timestamp", &ts)
                .header("Vinst-Signature", &signature)
                .body(body.as_ref().clone());
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_on_one_node_verifies_on_another() {
    if !postgres::available() {
        return;
    }
    let (cluster, public) = one_portal(3);
    let fx = remote_fixture(cluster.url(0)).await;
    let http = http_client();
    // A link minted on node B before the rotation.
    let old =
        Client::new(cluster.url(1)).mint_sso_link(&fx.credentials, &fx.user_id, Some("/dashboard")).await.unwrap();
    let admin_a = Client::new(cluster.url(0)).with_admin_token(ADMIN_TOKEN);
    let before: Value = admin_a.admin::<Value, Value>(reqwest::Method::GET, "/keys", None).await.unwrap();
    let rotated: Value = admin_a.admin::<Value, Value>(reqwest::Method::POST, "/keys/rotate", None).await.unwrap();
    let new_kid = rotated["sso_kid"].as_str().unwrap();
    assert_ne!(before["sso"]["current"], new_kid);

    // Node A signs with the new key at once; node C has not seen it and verifies anyway.
    let link =
        Client::new(cluster.url(0)).mint_sso_link(&fx.credentials, &fx.user_id, Some("/dashboard")).await.unwrap();
    assert_eq!(jwt_header(&link.sso_token)["kid"], new_kid);
    let path = link.redirect_url.strip_prefix(&public).unwrap();
    let redeemed = http.get(format!("{}{path}", cluster.url(2))).send().await.unwrap();
    assert_eq!(redeemed.status(), 303);
    let cookie = redeemed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();

    // An identity token signed on A with the new identity key verifies against C's JWKS.
    let verified = http.get(format!("{}/auth/verify", cluster.url(0))).header("cookie", &cookie).send().await.unwrap();
    let token = verified.headers()["x-handoff-token"].to_str().unwrap().to_owned();
    let (jose, claims) = verify_with_jwks(&http, &format!("{}/.well-known/jwks.json", cluster.url(2)), &token).await;
    assert_eq!(jose["kid"], rotated["identity_kid"]);
    let jwks: Value =
        http.get(format!("{}/.well-known/jwks.json", cluster.url(2))).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == rotated["prefill_kid"]), "{jwks}");
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some(public.as_str()), Some(public.as_str())));
    // The old key keeps verifying: B's pre-rotation link redeems on A.
    let old_path = old.redirect_url.strip_prefix(&public).unwrap();
    assert_eq!(http.get(format!("{}{old_path}", cluster.url(0))).send().await.unwrap().status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_limits_hold_across_nodes() {
    if !postgres::available() {
        return;
    }
    let cluster = cluster(3, &["--failed-auth-limit", "4"]);
    let fx = remote_fixture(cluster.url(0)).await;
    let wrong = handoff_client::PartnerCredentials { partner_secret: "hps_wrong".into(), ..fx.credentials.clone() };
    for i in 0..4 {
        let error = Client::new(cluster.url(i % 3)).mint_sso_link(&wrong, &fx.user_id, None).await.unwrap_err();
        assert_eq!(error.slug(), Some("authentication-required"));
    }
    for i in 0..3 {
        let error = Client::new(cluster.url(i)).mint_sso_link(&fx.credentials, &fx.user_id, None).await.unwrap_err();
        assert_eq!(error.slug(), Some("rate-limited"), "node {i}");
    }
}
