//! Forward-auth end to end with a real nginx (Debian's package): the documented configuration
//! `docs/examples/nginx-forward-auth.conf`, run as it is, in front of a test application.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{header, set_cookie_pair, TestServer};
use crate::upstream;

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx {
    child: Child,
    url: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_available() -> bool {
    let ready = Path::new(NGINX).exists();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install nginx");
        eprintln!("SKIPPED: the nginx test needs {NGINX} (apt-get install nginx-light)");
    }
    ready
}

/// Starts nginx with the documented config; returns once it accepts connections.
async fn start_nginx(prefix: &Path, listen: &str, handoff: &str, app: &str) -> Nginx {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/nginx-forward-auth.conf"),
    )
    .unwrap();
    let config = template
        .replace("__PREFIX__", prefix.to_str().unwrap())
        .replace("__LISTEN__", listen)
        .replace("__HANDOFF__", handoff)
        .replace("__APP__", app);
    let path = prefix.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(NGINX)
        .arg("-e")
        .arg(prefix.join("stderr.log"))
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Poll until nginx accepts connections (bounded).
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            return Nginx { child, url: format!("http://{listen}") };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("nginx did not start: {}", std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_end_to_end() {
    if !nginx_available() {
        return;
    }
    let app = upstream::start().await;
    let listen = format!("127.0.0.1:{}", handoff_testkit::unused_port());
    // The portal's public URL is nginx's: links come in through it.
    let server = TestServer::with(|c| c.public_url = Some(format!("http://{listen}"))).await;
    let prefix = tempfile::tempdir().unwrap();
    let nginx = start_nginx(
        prefix.path(),
        &listen,
        server.url.trim_start_matches("http://"),
        app.url.trim_start_matches("http://"),
    )
    .await;

    // No session: 401 from nginx, the application never called.
    let anonymous =
        server.http.get(format!("{}/dashboard", nginx.url)).header("x-handoff-user-id", "evil").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(app.calls(), 0);

    // Sign in through nginx with a minted link, then the application sees the identity.
    let fx = server.fixture().await;
    let link = server.mint(&fx, "/dashboard/patients/1").await;
    assert!(link.starts_with(&nginx.url));
    let redeemed = server.http.get(&link).send().await.unwrap();
    assert_eq!(redeemed.status(), 303);
    assert_eq!(header(&redeemed, "location"), Some("/dashboard/patients/1"));
    let cookie = set_cookie_pair(&redeemed);
    let page = server
        .http
        .get(format!("{}/dashboard/patients/1", nginx.url))
        .header("cookie", &cookie)
        .header("x-handoff-user-id", "evil")
        .header("x-handoff-email", "evil@evil.com")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let seen: Value = page.json().await.unwrap();
    assert_eq!(seen["headers"]["x-handoff-user-id"], fx.user.id.as_str());
    assert_eq!(seen["headers"]["x-handoff-email"], "turid@jensen.com");
    assert_eq!(seen["headers"]["x-handoff-organization-id"], fx.org.id.as_str());
    assert_eq!(seen["headers"]["x-handoff-embed"], "false");
    assert!(seen["headers"]["x-handoff-token"].as_str().is_some_and(|t| t.starts_with("eyJ")));
    assert!(!seen.to_string().contains("evil"));
    assert_eq!(app.calls(), 1);

    // A client (a script on the portal) asking the forward-auth endpoint through nginx, whose
    // address handoff answers, gets no identity: the example refuses the location.
    let probe = server.http.get(format!("{}/auth/verify", nginx.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(probe.status(), 404);
    assert!(header(&probe, "x-handoff-token").is_none() && header(&probe, "x-handoff-user-id").is_none());

    // /embed/ pages are checked against the embed session (X-Original-URI).
    let embed_link = server.mint(&fx, "/embed/patients/1").await;
    let embed_cookie = set_cookie_pair(&server.http.get(&embed_link).send().await.unwrap());
    let top_only =
        server.http.get(format!("{}/embed/patients/1", nginx.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(top_only.status(), 401);
    let embedded = server
        .http
        .get(format!("{}/embed/patients/1", nginx.url))
        .header("cookie", &embed_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(embedded.status(), 200);
    let seen: Value = embedded.json().await.unwrap();
    assert_eq!(seen["headers"]["x-handoff-embed"], "true");

    // After logout through nginx, the application is closed again.
    let logout = server.logout(&nginx.url, &cookie).await;
    assert_eq!(logout.status(), 204);
    let after = server.http.get(format!("{}/dashboard", nginx.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(after.status(), 401);
    assert_eq!(app.calls(), 2);
}
