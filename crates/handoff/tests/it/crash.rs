//! Crash safety with the real binary: a redeemed link stays redeemed after `kill -9` and restart,
//! and sessions and keys survive.

use handoff_client::{Client, PartnerCredentials};
use serde_json::{json, Value};

use crate::harness::{http_client, Spawned, ADMIN_TOKEN};

async fn fixture(url: &str) -> (PartnerCredentials, String) {
    let admin = Client::new(url).with_admin_token(ADMIN_TOKEN);
    let post = |path: &'static str, body: Value| {
        let admin = admin.clone();
        async move { admin.admin::<Value, Value>(reqwest::Method::POST, path, Some(&body)).await.unwrap() }
    };
    let org = post("/organizations", json!({"name": "Org"})).await;
    let partner = post("/partners", json!({"name": "Partner"})).await;
    let (org_id, partner_id) = (org["id"].as_str().unwrap(), partner["id"].as_str().unwrap());
    admin
        .admin::<Value, Value>(reqwest::Method::PUT, &format!("/partners/{partner_id}/organizations/{org_id}"), None)
        .await
        .unwrap();
    let user: Value = admin
        .admin(
            reqwest::Method::POST,
            &format!("/organizations/{org_id}/users"),
            Some(&json!({"email": "a@b.no", "given_name": "A", "family_name": "B"})),
        )
        .await
        .unwrap();
    let credentials = PartnerCredentials {
        partner_id: partner_id.to_owned(),
        partner_secret: partner["secret"].as_str().unwrap().to_owned(),
        organization_id: org_id.to_owned(),
        organization_secret: org["secret"].as_str().unwrap().to_owned(),
    };
    (credentials, user["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_redeemed_link_stays_used_after_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Spawned::serve(dir.path(), &[]);
    let (credentials, user_id) = fixture(&first.url).await;
    let client = Client::new(&first.url);
    let used = client.mint_sso_link(&credentials, &user_id, Some("/dashboard/a")).await.unwrap();
    let unused = client.mint_sso_link(&credentials, &user_id, Some("/dashboard/b")).await.unwrap();
    let http = http_client();
    let redeemed = http.get(&used.redirect_url).send().await.unwrap();
    assert_eq!(redeemed.status(), 303);
    let cookie = redeemed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    first.kill9();

    // The same address: links name the portal's public URL.
    let second = Spawned::serve_on(dir.path(), first.url.trim_start_matches("http://"), &[]);
    assert_eq!(second.url, first.url);
    // A fresh client: pooled connections died with the first process.
    let http = http_client();
    let again = http.get(&used.redirect_url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(again.status(), 409, "a redeemed link must stay redeemed");
    // Keys survived: a link minted before the crash still verifies, once.
    assert_eq!(http.get(&unused.redirect_url).send().await.unwrap().status(), 303);
    // The session survived too.
    let verify = http.get(format!("{}/auth/verify", second.url)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(verify.status(), 200);
}
