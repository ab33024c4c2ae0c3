//! The web console's operator sessions (`/admin`): signing in with the admin token through the
//! form and the cookie's attributes, the failed-authentication limit, cross-site and tokenless
//! forms, the console's security headers and static files, sign-out, idle and absolute expiry;
//! the demo's pointer to the console; and in a real browser (with axe-core) sign-in, the
//! overview with some traffic (its screenshot to `target/console-screenshots/`) and sign-out.

use std::process::Command;

use serde_json::Value;

use crate::browser::{browser_available, browser_dir};
use crate::harness::{header, http_client_from, set_cookie_pair, Spawned, TestServer, ADMIN_TOKEN};

/// The console's Content-Security-Policy, exactly.
const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                           form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `POST /admin/sign-in` with `token` from `client`, sent from the page at `origin`.
async fn sign_in_from(client: &reqwest::Client, server: &TestServer, origin: &str, token: &str) -> reqwest::Response {
    client
        .post(format!("{}/admin/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", origin)
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

/// Signs in with the admin token from the console's own page; the cookie's `name=value`.
pub async fn signed_in(server: &TestServer) -> String {
    let response = sign_in_from(&server.http, server, &server.url, ADMIN_TOKEN).await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    set_cookie_pair(&response)
}

pub async fn console(server: &TestServer, cookie: &str) -> reqwest::Response {
    server.http.get(format!("{}/admin", server.url)).header("cookie", cookie).send().await.unwrap()
}

/// `GET /admin` shows the console's home to `cookie`, or sends it to the sign-in form.
async fn console_opens(server: &TestServer, cookie: &str) -> bool {
    let response = console(server, cookie).await;
    match response.status().as_u16() {
        200 => true,
        303 => {
            assert_eq!(header(&response, "location"), Some("/admin/sign-in"));
            false
        }
        other => panic!("GET /admin answered {other}"),
    }
}

/// The sign-out form's token on the console's home page.
async fn form_token(server: &TestServer, cookie: &str) -> String {
    let html = console(server, cookie).await.text().await.unwrap();
    let marker = "name=\"form_token\" value=\"";
    let start = html.find(marker).expect("no form token on the page") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn sign_out(server: &TestServer, cookie: &str, origin: &str, body: &str) -> reqwest::Response {
    server
        .http
        .post(format!("{}/admin/sign-out", server.url))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", origin)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// No inline style or script anywhere on a console page (the CSP would block them).
pub fn assert_no_inline_code(html: &str) {
    assert!(!html.contains("<style") && !html.contains(" style="), "inline style: {html}");
    let handler = html.split(" on").skip(1).any(|rest| {
        let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert!(!handler, "inline event handler: {html}");
    for script in html.split("<script").skip(1) {
        assert!(script.trim_start().starts_with("src="), "inline script: {html}");
    }
}

pub fn assert_console_headers(response: &reqwest::Response) {
    assert_eq!(header(response, "content-security-policy"), Some(CONSOLE_CSP));
    assert_eq!(header(response, "x-frame-options"), Some("DENY"));
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(response, "referrer-policy"), Some("same-origin"));
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

backend_tests! {
    #[tokio::test]
    async fn the_admin_token_opens_an_operator_session_with_a_strict_cookie() {
        let server = TestServer::start().await;
        // Signed out, the console sends the browser to its sign-in form.
        let home = server.http.get(format!("{}/admin", server.url)).send().await.unwrap();
        assert_eq!(home.status(), 303);
        assert_eq!(header(&home, "location"), Some("/admin/sign-in"));
        let form = server.http.get(format!("{}/admin/sign-in", server.url)).send().await.unwrap();
        assert_eq!(form.status(), 200);
        assert!(header(&form, "content-type").unwrap().starts_with("text/html"));
        assert_console_headers(&form);
        let html = form.text().await.unwrap();
        assert!(html.contains("<form method=\"post\" action=\"/admin/sign-in\">"), "{html}");
        assert!(html.contains("<label for=\"token\">Admin token</label>"), "{html}");
        assert_no_inline_code(&html);

        let response = sign_in_from(&server.http, &server, &server.url, ADMIN_TOKEN).await;
        assert_eq!(response.status(), 303);
        assert_eq!(header(&response, "location"), Some("/admin"));
        // Plain-http loopback development: no `Secure`, so no `__Host-` prefix.
        let set_cookie = header(&response, "set-cookie").unwrap();
        let (pair, attributes) = set_cookie.split_once(';').unwrap();
        assert!(pair.starts_with("handoff-admin=") && pair.len() > "handoff-admin=".len() + 40, "{set_cookie}");
        assert_eq!(attributes, " Path=/; Max-Age=43200; HttpOnly; SameSite=Strict");
        let cookie = pair.to_owned();

        let home = console(&server, &cookie).await;
        assert_eq!(home.status(), 200);
        assert_console_headers(&home);
        let html = home.text().await.unwrap();
        assert!(html.contains("Signed in as the operator"), "{html}");
        assert!(html.contains("<a href=\"/admin\" aria-current=\"page\">Overview</a>"), "{html}");
        assert!(html.contains("<button type=\"submit\">Sign out</button>"), "{html}");
        assert_no_inline_code(&html);
        // Signed in, the sign-in form leads home.
        let form = server.http.get(format!("{}/admin/sign-in", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!((form.status().as_u16(), header(&form, "location")), (303, Some("/admin")));

        let accepted = server.audit("kind=console.sign_in&outcome=accepted").await;
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0]["reason"], "signed-in");
        // The cookie is the session's id and secret; the id alone opens nothing.
        let id_only = cookie.split('.').next().unwrap().to_owned();
        assert!(!console_opens(&server, &id_only).await);
        assert!(!console_opens(&server, &format!("{cookie}x")).await);
    }

    #[tokio::test]
    async fn behind_https_the_cookie_is_host_prefixed_and_secure() {
        let server = TestServer::with(|c| c.public_url = Some("https://portal.example".into())).await;
        let response = sign_in_from(&server.http, &server, "https://portal.example", ADMIN_TOKEN).await;
        assert_eq!(response.status(), 303);
        let set_cookie = header(&response, "set-cookie").unwrap();
        let (pair, attributes) = set_cookie.split_once(';').unwrap();
        assert!(pair.starts_with("__Host-handoff-admin="), "{set_cookie}");
        assert_eq!(attributes, " Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict");
        assert!(console_opens(&server, pair).await);
    }

    #[tokio::test]
    async fn wrong_tokens_are_refused_audited_and_count_towards_the_limit() {
        let server = TestServer::with(|c| c.failed_auth_limit = Some(3)).await;
        // The guesser comes from its own address, so that the test's own admin calls stay allowed.
        let guesser = http_client_from("127.0.0.2");
        for attempt in 0..3 {
            let response = sign_in_from(&guesser, &server, &server.url, &format!("wrong-{attempt}")).await;
            assert_eq!(response.status(), 401);
            assert!(header(&response, "set-cookie").is_none());
            assert_eq!(header(&response, "content-security-policy"), Some(CONSOLE_CSP));
            let html = response.text().await.unwrap();
            assert!(html.contains("That is not the admin token."), "{html}");
            assert!(html.contains("<label for=\"token\">"), "the form again: {html}");
        }
        let refused = server.audit("kind=console.sign_in&outcome=refused").await;
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(refused.iter().all(|r| r["reason"] == "authentication-required" && r["client_addr"] == "127.0.0.2"));
        // Over the limit even the right token is refused, and the limit is the admin API's too.
        let limited = sign_in_from(&guesser, &server, &server.url, ADMIN_TOKEN).await;
        assert_eq!(limited.status(), 429);
        assert!(header(&limited, "retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
        assert!(header(&limited, "set-cookie").is_none());
        let api = guesser.get(format!("{}/admin/v1/organizations", server.url)).bearer_auth(ADMIN_TOKEN).send().await;
        assert_eq!(api.unwrap().status(), 429);
        let refused = server.audit("kind=console.sign_in&outcome=refused").await;
        assert_eq!((refused.len(), refused[0]["reason"].as_str()), (4, Some("rate-limited")), "{refused:?}");
        // Another address is not limited.
        assert!(console_opens(&server, &signed_in(&server).await).await);
    }

    #[tokio::test]
    async fn cross_site_and_tokenless_forms_are_refused() {
        let server = TestServer::start().await;
        // Sign-in posted from another site's page, with the right token: refused, no session.
        let cross = sign_in_from(&server.http, &server, "https://evil.example", ADMIN_TOKEN).await;
        assert_eq!(cross.status(), 403);
        assert!(header(&cross, "set-cookie").is_none());
        let sneaky = server
            .http
            .post(format!("{}/admin/sign-in", server.url))
            .header("sec-fetch-site", "cross-site")
            .body(format!("token={ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(sneaky.status(), 403);
        let refused = server.audit("kind=console.sign_in&outcome=refused").await;
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused.iter().all(|r| r["reason"] == "forbidden"), "{refused:?}");

        let cookie = signed_in(&server).await;
        let token = form_token(&server, &cookie).await;
        let other = signed_in(&server).await;
        let others_token = form_token(&server, &other).await;
        assert_ne!(token, others_token, "form tokens are per session");
        for (origin, body) in [
            ("https://evil.example", format!("form_token={token}")),
            (server.url.as_str(), String::new()),
            (server.url.as_str(), "form_token=forged".to_owned()),
            (server.url.as_str(), format!("form_token={others_token}")),
        ] {
            let response = sign_out(&server, &cookie, origin, &body).await;
            assert_eq!(response.status(), 403, "{origin} {body}");
            assert!(header(&response, "set-cookie").is_none());
            assert!(console_opens(&server, &cookie).await, "the session survives {origin} {body}");
        }
        let refused = server.audit("kind=console.sign_out&outcome=refused").await;
        assert_eq!(refused.len(), 4, "{refused:?}");
        assert!(refused.iter().all(|r| r["reason"] == "forbidden"));
    }

    #[tokio::test]
    async fn sign_out_ends_the_session() {
        let server = TestServer::start().await;
        let cookie = signed_in(&server).await;
        let other = signed_in(&server).await;
        let token = form_token(&server, &cookie).await;
        let response = sign_out(&server, &cookie, &server.url, &format!("form_token={token}")).await;
        assert_eq!(response.status(), 303);
        assert_eq!(header(&response, "location"), Some("/admin/sign-in"));
        assert_eq!(header(&response, "set-cookie"), Some("handoff-admin=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"));
        assert!(!console_opens(&server, &cookie).await, "the cookie no longer opens the console");
        assert!(console_opens(&server, &other).await, "another operator session stays");
        // Signing out again, signed out: to the sign-in form, nothing audited.
        let again = sign_out(&server, &cookie, &server.url, &format!("form_token={token}")).await;
        assert_eq!((again.status().as_u16(), header(&again, "location")), (303, Some("/admin/sign-in")));
        let audited = server.audit("kind=console.sign_out").await;
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert_eq!((audited[0]["outcome"].as_str(), audited[0]["reason"].as_str()), (Some("accepted"), Some("signed-out")));
    }

    #[tokio::test]
    async fn operator_sessions_expire_when_idle_and_at_their_absolute_limit() {
        let server = TestServer::with(|c| {
            c.console_idle_timeout = Some(600);
            c.console_absolute_timeout = Some(1500);
        })
        .await;
        let idle = signed_in(&server).await;
        server.clock.advance(500);
        assert!(console_opens(&server, &idle).await);
        // Activity keeps it: 1000 s after sign-in, 500 s after the last page.
        server.clock.advance(500);
        assert!(console_opens(&server, &idle).await);
        server.clock.advance(600);
        assert!(!console_opens(&server, &idle).await, "idle for the whole idle timeout");

        let busy = signed_in(&server).await;
        for _ in 0..2 {
            server.clock.advance(500);
            assert!(console_opens(&server, &busy).await);
        }
        server.clock.advance(500);
        assert!(!console_opens(&server, &busy).await, "active, but past the absolute limit");
    }
}

#[test]
fn the_demo_prints_the_console_and_how_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawned::serve(dir.path(), &["--demo"]);
    let text = server.stdout.join("\n");
    let url = format!("{}/admin", server.url);
    assert!(text.contains(&format!("The web console is at {url}: sign in with the admin token")), "{text}");
    assert!(!text.contains(ADMIN_TOKEN), "the token itself stays out of the output: {text}");
}

#[tokio::test]
async fn the_console_serves_its_stylesheet_and_script_for_a_long_cache_life() {
    let server = TestServer::start().await;
    let html = server.http.get(format!("{}/admin/sign-in", server.url)).send().await.unwrap().text().await.unwrap();
    for (path, content_type) in [
        ("/admin/static/console.css", "text/css; charset=utf-8"),
        ("/admin/static/console.js", "text/javascript; charset=utf-8"),
    ] {
        let linked = html.find(&format!("{path}?v=")).unwrap_or_else(|| panic!("{path} is not linked: {html}"));
        let version = &html[linked + path.len() + 3..][..16];
        let response = server.http.get(format!("{}{path}?v={version}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "content-type"), Some(content_type));
        assert_eq!(header(&response, "cache-control"), Some("public, max-age=31536000, immutable"));
        let etag = header(&response, "etag").unwrap().to_owned();
        assert_eq!(etag, format!("\"{version}\""));
        let again =
            server.http.get(format!("{}{path}", server.url)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
    }
}

/// Where the browser test writes its screenshots of the console.
fn screenshots_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
}

/// Runs `tests/browser/console.mjs` against the console at `url`.
fn operate_in_browser(url: &str, token: &str) -> Value {
    let output = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .arg(url)
        .arg(token)
        .arg(screenshots_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_and_out_in_a_browser() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start().await;
    // Some traffic, so that the overview's charts and tables have something to show.
    let fx = server.fixture().await;
    let link = server.mint(&fx, "/dashboard").await;
    server.sign_in(&link).await;
    assert_eq!(server.open(&link).await.status(), 409);
    let shown = operate_in_browser(&format!("{}/admin", server.url), ADMIN_TOKEN);
    let steps = shown["steps"].as_array().unwrap();
    let step = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name}: {shown}"));
    let sign_in_url = format!("{}/admin/sign-in", server.url);
    assert_eq!(
        (step("sign-in")["url"].as_str(), step("sign-in")["h1"].as_str()),
        (Some(&*sign_in_url), Some("Sign in to the console"))
    );
    assert_eq!(step("home")["url"], format!("{}/admin", server.url), "{shown}");
    assert_eq!(step("home")["h1"], "Overview", "{shown}");
    // Signed out, the console refuses: back to the sign-in form.
    for name in ["signed-out", "again"] {
        assert_eq!(step(name)["url"], sign_in_url.as_str(), "{shown}");
        assert_eq!(step(name)["h1"], "Sign in to the console", "{shown}");
    }
    assert!(screenshots_dir().join("overview.png").exists(), "{shown}");
    // axe-core: no serious or critical violation; both pages fit a desktop and a phone window.
    for name in ["sign-in", "home"] {
        let serious: Vec<&Value> = step(name)["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(serious.is_empty(), "{name}: {serious:#?}");
        assert_eq!(step(name)["overflow"], serde_json::json!({"desktop": false, "phone": false}), "{name}: {shown}");
    }
    // The pages broke no rule of their CSP, and their forms said where they came from.
    assert_eq!(shown["csp"], serde_json::json!([]), "{shown}");
    let posts = shown["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 2, "{shown}");
    assert!(posts.iter().all(|p| p["origin"] == server.url.as_str()), "{shown}");
}
