//! A real browser (Debian's Chromium driven by playwright-core, `tests/browser/open.mjs`) opens
//! the demo's link and an embedded link inside a partner's page on another origin.
//!
//! CI installs Chromium and the npm package (`.ci/run`); on a developer machine without them the
//! test says loudly that it skipped, and fails instead when `CI` is set.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use handoff_client::Client;
use serde_json::{json, Value};

use crate::harness::{Spawned, TestServer};

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Whether Chromium and playwright-core are installed; panics under CI when they are not.
pub fn browser_available() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && browser_dir().join("node_modules/playwright-core").exists();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium and tests/browser's npm packages");
        eprintln!("SKIPPED: browser test needs {chromium} and `npm ci --prefix tests/browser`");
    }
    ready
}

/// Opens `url` in Chromium; returns what the page showed.
fn open_in_browser(url: &str, extra: &[&str]) -> Value {
    let output = Command::new("node").arg(browser_dir().join("open.mjs")).arg(url).args(extra).output().unwrap();
    assert!(output.status.success(), "browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_link_signs_a_browser_in() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Spawned::serve(dir.path(), &["--demo"]);
    let text = server.stdout.join("\n");
    let start = text.find("curl ").unwrap();
    let end = text[start..].find("}'").unwrap() + start + 2;
    let output = Command::new("bash").arg("-c").arg(&text[start..end]).output().unwrap();
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let redirect_url = answer["data"]["redirect_url"].as_str().unwrap();

    let shown = open_in_browser(redirect_url, &[]);
    assert_eq!(shown["url"], format!("{}/dashboard/patients/1234-5678-3456-2345", server.url));
    assert_eq!(shown["h1"], "Signed in as Turid Jensen");
    // A second visit of the same link is refused with a page that says so.
    let again = open_in_browser(redirect_url, &[]);
    assert_eq!(again["h1"], "Sign-in link already used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_link_asks_before_switching_and_sign_out_works() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start().await;
    let fx = server.fixture().await;
    let eve: Value = server
        .admin_post(
            &format!("/organizations/{}/users", fx.org.id),
            json!({"email": "eve@example.com", "given_name": "Eve", "family_name": "Hansen"}),
        )
        .await;
    let client = Client::new(&server.url);
    let turid = client.mint_sso_link(&fx.credentials, &fx.user.id, Some("/dashboard")).await.unwrap();
    let eves =
        client.mint_sso_link(&fx.credentials, eve["id"].as_str().unwrap(), Some("/dashboard/eve")).await.unwrap();
    let shown = open_in_browser(
        &turid.redirect_url,
        &["--goto", &eves.redirect_url, "--click", "Continue as Eve Hansen", "--click", "Sign out"],
    );
    assert_eq!(shown["h1"], "Signed in as Turid Jensen", "{shown}");
    let steps = &shown["steps"];
    assert_eq!(steps[0]["h1"], "Continue as Eve Hansen?", "{shown}");
    assert_eq!(steps[1]["h1"], "Signed in as Eve Hansen", "{shown}");
    assert_eq!(steps[1]["url"], format!("{}/dashboard/eve", server.url));
    // Signed out: the portal's root asks for a session again.
    assert_eq!(steps[2]["url"], format!("{}/", server.url));
    assert_eq!(steps[2]["h1"], "Unauthorized", "{shown}");
    // The switch form sent the portal's Origin and never the page's URL (it holds the token).
    let posts = shown["posts"].as_array().unwrap();
    assert_eq!(posts[0]["origin"], server.url.as_str(), "{shown}");
    assert!(posts[0]["referer"].as_str().is_none_or(|r| !r.contains("token")), "{shown}");
    // The landing page is `no-referrer`, so the sign-out form says `Origin: null`: the logout
    // check goes by `Sec-Fetch-Site: same-origin` then.
    assert_eq!(posts[1]["origin"], "null", "{shown}");
}

/// Serves `html` to every request on `listener` until the test ends.
fn serve_page(listener: std::net::TcpListener, html: String) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_link_signs_in_inside_the_partners_iframe_only() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start().await;
    // The partner's page lives on another origin: localhost vs 127.0.0.1.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let partner_origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let fx = server.fixture_with(json!({"name": "Framing EHR", "embed_origins": [partner_origin]})).await;
    let link =
        Client::new(&server.url).mint_sso_link(&fx.credentials, &fx.user.id, Some("/embed/patients/7")).await.unwrap();
    serve_page(
        listener,
        format!(
            "<html><body><iframe id=\"f\" src=\"{}\" width=\"800\" height=\"400\"></iframe></body></html>",
            link.redirect_url
        ),
    );
    let shown = open_in_browser(&format!("{partner_origin}/"), &["--frame"]);
    assert_eq!(shown["frame_h1"], "Signed in as Turid Jensen", "{shown}");
    assert_eq!(shown["frame_url"], format!("{}/embed/patients/7", server.url));

    // A page on an origin the partner did not register cannot frame the portal.
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stranger_origin = format!("http://localhost:{}", stranger.local_addr().unwrap().port());
    let link =
        Client::new(&server.url).mint_sso_link(&fx.credentials, &fx.user.id, Some("/embed/patients/8")).await.unwrap();
    serve_page(stranger, format!("<html><body><iframe id=\"f\" src=\"{}\"></iframe></body></html>", link.redirect_url));
    let shown = open_in_browser(&format!("{stranger_origin}/"), &["--frame"]);
    assert_ne!(shown["frame_h1"], "Signed in as Turid Jensen", "framed by a stranger: {shown}");
    assert!(shown["frame_url"].as_str().is_some_and(|u| u.starts_with("chrome-error:")), "{shown}");
}
