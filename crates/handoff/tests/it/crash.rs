//! Crash safety with the real binary: a redeemed link stays redeemed after `kill -9` and restart,
//! and sessions and keys survive.

use handoff_client::Client;

use crate::backend::Backend;
use crate::harness::{http_client, remote_fixture, Spawned};

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
