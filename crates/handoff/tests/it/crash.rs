//! Crash safety with the real binary: a redeemed link stays redeemed after `kill -9` and restart,
//! and sessions and keys survive — also when the kill lands in the middle of concurrent load.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use handoff_client::Client;
use reqwest::Method;
use serde_json::Value;

use crate::backend::Backend;
use crate::harness::{http_client, remote_fixture, set_cookie_pair, Spawned};

backend_tests! {
    #[tokio::test]
    async fn a_redeemed_link_stays_used_after_kill_9_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        // One database for both lives of the server.
        let postgres = Backend::current().database();
        let database_url = postgres.as_ref().map(|pg| pg.url.as_str());
        let mut first = Spawned::serve_with(dir.path(), "127.0.0.1:0", database_url, &[]);
        let fx = remote_fixture(&first.url).await;
        let (credentials, user_id) = (fx.credentials, fx.user_id);
        let client = Client::new(&first.url);
        let used = client.mint_sso_link(&credentials, &user_id, Some("/dashboard/a")).await.unwrap();
        let unused = client.mint_sso_link(&credentials, &user_id, Some("/dashboard/b")).await.unwrap();
        let http = http_client();
        let redeemed = http.get(&used.redirect_url).send().await.unwrap();
        assert_eq!(redeemed.status(), 303);
        let cookie = redeemed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        first.kill9();

        // The same address: links name the portal's public URL.
        let second = Spawned::serve_with(dir.path(), first.url.trim_start_matches("http://"), database_url, &[]);
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
}

/// The `jti` a sign-in link's token carries (its payload, read without verifying).
pub(crate) fn jti_of(redirect_url: &str) -> String {
    use base64::Engine as _;
    let token = redirect_url.split("token=").nth(1).unwrap().split('&').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// What the clients saw acknowledged before the crash.
#[derive(Default)]
struct Acknowledged {
    /// Every link whose mint answered 200.
    minted: Vec<String>,
    /// Links whose redemption answered 303, with the session cookie it set.
    redeemed: Vec<(String, String)>,
}

/// Every `jti` named in the `sso.mint` audit records of the server at `url`.
pub(crate) async fn audited_mints(url: &str) -> HashSet<String> {
    let admin = Client::new(url).with_admin_token(crate::harness::ADMIN_TOKEN);
    let mut jtis = HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: Value = admin
            .admin::<Value, Value>(
                Method::GET,
                &format!("/audit?kind=sso.mint&outcome=accepted&limit=1000{cursor}"),
                None,
            )
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            let detail = item["detail"].as_str().unwrap();
            jtis.insert(detail.split_whitespace().next().unwrap().trim_start_matches("jti=").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return jtis,
        }
    }
}

backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_9_under_concurrent_load_loses_nothing_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let postgres = Backend::current().database();
        let database_url = postgres.as_ref().map(|pg| pg.url.as_str());
        // Flat out from one partner: lift the per-partner request budget.
        let args = ["--partner-rate-limit", "0"];
        let mut first = Spawned::serve_with(dir.path(), "127.0.0.1:0", database_url, &args);
        let fx = remote_fixture(&first.url).await;
        let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));

        // 16 clients mint links and redeem every other one, flat out, until the server dies.
        let mut clients = Vec::new();
        for c in 0..16 {
            let (client, http) = (Client::new(&first.url), http_client());
            let (credentials, user_id, seen) = (fx.credentials.clone(), fx.user_id.clone(), acknowledged.clone());
            clients.push(tokio::spawn(async move {
                for i in 0.. {
                    let Ok(link) = client.mint_sso_link(&credentials, &user_id, Some(&format!("/d/{c}/{i}"))).await
                    else {
                        return;
                    };
                    seen.lock().unwrap().minted.push(link.redirect_url.clone());
                    if i % 2 == 0 {
                        let Ok(response) = http.get(&link.redirect_url).send().await else { return };
                        if response.status() == 303 {
                            let cookie = set_cookie_pair(&response);
                            seen.lock().unwrap().redeemed.push((link.redirect_url, cookie));
                        }
                    }
                }
            }));
        }
        // Kill while requests are in flight, once a few hundred writes were acknowledged.
        let enough = async {
            while acknowledged.lock().unwrap().minted.len() < 400 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), enough).await.expect("400 mints within a minute");
        first.kill9();
        for client in clients {
            client.await.unwrap();
        }
        let seen = std::mem::take(&mut *acknowledged.lock().unwrap());
        assert!(seen.redeemed.len() >= 100, "only {} redemptions before the crash", seen.redeemed.len());

        let second = Spawned::serve_with(dir.path(), first.url.trim_start_matches("http://"), database_url, &args);
        // Every acknowledged mint has its audit record.
        let audited = audited_mints(&second.url).await;
        let missing: Vec<String> = seen.minted.iter().map(|url| jti_of(url)).filter(|j| !audited.contains(j)).collect();
        assert!(missing.is_empty(), "{} of {} acknowledged mints have no audit record", missing.len(), seen.minted.len());

        let http = http_client();
        let redeemed: HashSet<&str> = seen.redeemed.iter().map(|(url, _)| url.as_str()).collect();
        for (url, cookie) in &seen.redeemed {
            // A link redeemed before the crash stays redeemed, and its session survived.
            let again = http.get(url).header("accept", "application/json").send().await.unwrap();
            assert_eq!(again.status(), 409, "an acknowledged redemption was lost");
            let verify = http.get(format!("{}/auth/verify", second.url)).header("cookie", cookie).send().await.unwrap();
            assert_eq!(verify.status(), 200, "a session of an acknowledged redemption was lost");
        }
        // Any other link (its redemption, if any, was cut off by the crash) redeems at most once.
        for url in seen.minted.iter().filter(|url| !redeemed.contains(url.as_str())) {
            let statuses = [
                http.get(url).send().await.unwrap().status().as_u16(),
                http.get(url).send().await.unwrap().status().as_u16(),
            ];
            assert!(matches!(statuses, [303, 409] | [409, 409]), "{url} answered {statuses:?}");
        }
    }
}
