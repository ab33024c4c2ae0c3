//! Reverse-proxy mode: the application behind handoff (an axum one, a WSGI one under Python's
//! `wsgiref`, a WebSocket one) sees the true identity and forwarding headers and nothing a client
//! forged, is never called without a session, gets bodies streamed, and WebSockets joined only
//! when it accepted the handshake, for as long as the session lives.

use std::process::Command;

use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{header, http_client, remote_fixture, set_cookie_pair, Spawned, TestServer};
use crate::upstream::{self, head_value, read_head, WebSocket, Wsgi};

/// Whether the node tools of `tests/browser` are installed; panics under CI when they are not.
pub fn node_tools_available() -> bool {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/node_modules");
    let ready = dir.join("jose").exists();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must run `npm ci --prefix tests/browser`");
        eprintln!("SKIPPED: independent JWT check needs `npm ci --prefix tests/browser`");
    }
    ready
}

/// Peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

backend_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_application_sees_the_true_identity_and_never_forged_headers() {
        let app = upstream::start().await;
        let server = TestServer::with(|c| c.upstream = Some(app.url.clone())).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let response = server
            .http
            .post(format!("{}/dashboard/patients/1?tab=rx", server.url))
            .header("cookie", format!("{cookie}; app_pref=dark"))
            .header("x-handoff-user-id", "evil")
            .header("X-Handoff-Email", "evil@evil.com")
            .header("x-handoff-token", "forged")
            .header("x-forwarded-for", "6.6.6.6")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-app"), Some("yes"));
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&response, "content-security-policy"), Some("frame-ancestors 'none'"));
        let seen: Value = response.json().await.unwrap();
        let headers = &seen["headers"];
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["path"], "/dashboard/patients/1?tab=rx");
        assert_eq!(seen["bytes"], 5);
        assert_eq!(headers["x-handoff-user-id"], fx.user.id.as_str());
        assert_eq!(headers["x-handoff-organization-id"], fx.org.id.as_str());
        assert_eq!(headers["x-handoff-partner-id"], fx.partner.id.as_str());
        assert_eq!(headers["x-handoff-email"], "turid@jensen.com");
        assert_eq!(headers["x-handoff-embed"], "false");
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["cookie"], "app_pref=dark", "handoff's session cookie is not forwarded");
        assert!(!seen.to_string().contains("evil") && !seen.to_string().contains("forged"));

        // The identity token verifies with an independent JWT library (jose, in Node).
        if node_tools_available() {
            let token = headers["x-handoff-token"].as_str().unwrap();
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/verify-jwt.mjs");
            let jwks = format!("{}/.well-known/jwks.json", server.url);
            let output = Command::new("node").arg(script).args([&jwks, token, &server.url, &server.url]).output().unwrap();
            assert!(output.status.success(), "jose refused the token: {}", String::from_utf8_lossy(&output.stderr));
            let verified: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(verified["claims"]["sub"], fx.user.id.as_str());
            assert_eq!(verified["header"]["alg"], "EdDSA");
            // Change the first signature character (the last one carries padding bits only).
            let cut = token.rfind('.').unwrap() + 1;
            let flipped = if &token[cut..=cut] == "A" { "B" } else { "A" };
            let tampered = format!("{}{flipped}{}", &token[..cut], &token[cut + 1..]);
            let refused = Command::new("node")
                .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/verify-jwt.mjs"))
                .args([&jwks, &tampered, &server.url, &server.url])
                .output()
                .unwrap();
            assert!(!refused.status.success());
        }

        // Embed pages: the embed session, framed by the partner's origins only.
        let embed_cookie = server.sign_in(&server.mint(&fx, "/embed/patients/1").await).await;
        let embed = server
            .http
            .get(format!("{}/embed/patients/1", server.url))
            .header("cookie", &embed_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&embed, "content-security-policy"), Some("frame-ancestors https://ehr.example.com"));
        assert_eq!(header(&embed, "x-frame-options"), None);
        let seen: Value = embed.json().await.unwrap();
        assert_eq!(seen["headers"]["x-handoff-embed"], "true");
    }

    #[tokio::test]
    async fn without_a_session_the_application_is_never_called() {
        let app = upstream::start().await;
        let server = TestServer::with(|c| c.upstream = Some(app.url.clone())).await;
        let fx = server.fixture().await;
        for cookie in [None, Some("handoff=forged"), Some("__Host-handoff-embed=forged")] {
            let mut request =
                server.http.get(format!("{}/dashboard", server.url)).header("x-handoff-user-id", fx.user.id.as_str());
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401);
            assert!(header(&response, "content-type").unwrap().starts_with("text/html"));
        }
        let json = server
            .http
            .post(format!("{}/api/things", server.url))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        crate::harness::assert_problem(json, 401, "authentication-required").await;
        // handoff's own paths stay handoff's.
        assert_eq!(server.http.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
        assert_eq!(app.calls(), 0);
    }

    #[tokio::test]
    async fn a_wsgi_application_never_sees_forged_identity_headers() {
        let app = Wsgi::start();
        let server = TestServer::with(|c| c.upstream = Some(app.url.clone())).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let forged = [
            "X_Handoff_User_Id",
            "x-handoff_user-id",
            "X-Handoff_Partner-Id",
            "X_HANDOFF_ORGANIZATION_ID",
            "x_handoff_email",
            "X-Handoff-Embed_",
            "X_Handoff_Token",
            "x_handoff_role",
        ];
        let mut request = server.http.get(format!("{}/dashboard?tab=rx", server.url)).header("cookie", &cookie);
        for name in forged {
            request = request.header(name, "forged");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let environ: Value = response.json().await.unwrap();
        assert_eq!(environ["PATH_INFO"], "/dashboard");
        assert_eq!(environ["HTTP_X_HANDOFF_USER_ID"], fx.user.id.as_str(), "{environ}");
        assert_eq!(environ["HTTP_X_HANDOFF_PARTNER_ID"], fx.partner.id.as_str(), "{environ}");
        assert_eq!(environ["HTTP_X_HANDOFF_ORGANIZATION_ID"], fx.org.id.as_str(), "{environ}");
        assert_eq!(environ["HTTP_X_HANDOFF_EMAIL"], "turid@jensen.com", "{environ}");
        assert_eq!(environ["HTTP_X_HANDOFF_EMBED"], "false", "{environ}");
        assert!(environ.get("HTTP_X_HANDOFF_ROLE").is_none(), "{environ}");
        assert!(!environ.to_string().contains("forged"), "{environ}");
    }

    #[tokio::test]
    async fn forwarding_headers_come_from_handoff_not_the_client() {
        let app = Wsgi::start();
        let server = TestServer::with(|c| {
            c.upstream = Some(app.url.clone());
            c.public_url = Some("https://portal.example.com".into());
        })
        .await;
        let fx = server.fixture().await;
        let link = server.mint(&fx, "/dashboard").await.replace("https://portal.example.com", &server.url);
        let cookie = server.sign_in(&link).await;
        let claims = [
            ("host", "evil.example"),
            ("forwarded", "for=6.6.6.6;host=evil.example;proto=http"),
            ("x-real-ip", "6.6.6.6"),
            ("x-original-url", "/admin"),
            ("x-rewrite-url", "/admin"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-port", "6666"),
            ("x-forwarded-prefix", "/evil"),
            ("x-forwarded-server", "evil.example"),
            ("x-forwarded-ssl", "off"),
            ("true-client-ip", "6.6.6.6"),
            ("x-client-ip", "6.6.6.6"),
            ("X_Forwarded_Host", "evil.example"),
        ];
        let mut request = server.http.get(format!("{}/dashboard", server.url)).header("cookie", &cookie);
        for (name, value) in claims {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let environ: Value = response.json().await.unwrap();
        assert_eq!(environ["HTTP_X_FORWARDED_HOST"], "portal.example.com", "{environ}");
        assert_eq!(environ["HTTP_X_FORWARDED_PROTO"], "https", "{environ}");
        assert_eq!(environ["HTTP_X_FORWARDED_FOR"], "127.0.0.1", "{environ}");
        assert_eq!(environ["HTTP_X_HANDOFF_USER_ID"], fx.user.id.as_str(), "{environ}");
        for gone in [
            "HTTP_FORWARDED",
            "HTTP_X_REAL_IP",
            "HTTP_X_ORIGINAL_URL",
            "HTTP_X_REWRITE_URL",
            "HTTP_X_FORWARDED_PORT",
            "HTTP_X_FORWARDED_PREFIX",
            "HTTP_X_FORWARDED_SERVER",
            "HTTP_X_FORWARDED_SSL",
            "HTTP_TRUE_CLIENT_IP",
            "HTTP_X_CLIENT_IP",
        ] {
            assert!(environ.get(gone).is_none(), "{gone} reached the application: {environ}");
        }
        assert!(!environ.to_string().contains("6.6.6.6") && !environ.to_string().contains("evil"), "{environ}");
    }

    #[tokio::test]
    async fn other_upgrades_are_not_forwarded() {
        let app = upstream::start().await;
        let server = TestServer::with(|c| c.upstream = Some(app.url.clone())).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let mut stream = tokio::net::TcpStream::connect(server.url.trim_start_matches("http://")).await.unwrap();
        let request = format!(
            "GET /socket HTTP/1.1\r\nHost: portal\r\nConnection: Upgrade\r\nUpgrade: echo\r\nCookie: {cookie}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "the request went on as a plain one: {head}");
        let length: usize = head_value(&head, "content-length").unwrap().parse().unwrap();
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        let seen: Value = serde_json::from_slice(&body).unwrap();
        assert!(seen["headers"].get("upgrade").is_none(), "{seen}");
        assert!(seen["headers"].get("connection").is_none_or(|c| c != "upgrade"), "{seen}");
        assert_eq!(app.calls(), 1);
    }

    #[tokio::test]
    async fn websocket_tunnels_need_the_upstreams_valid_accept() {
        let honest = upstream::websocket(true).await;
        let server = TestServer::with(|c| c.upstream = Some(honest)).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let mut socket = WebSocket::open(&server.url, "/socket", &cookie).await;
        assert_eq!(socket.receive().await, fx.user.id, "the upstream saw the true identity on the handshake");
        for message in ["ping", "handoff"] {
            socket.send(message).await;
            assert_eq!(socket.receive().await, message);
        }

        // A handshake without a key is refused before the upstream is asked.
        let mut stream = tokio::net::TcpStream::connect(server.url.trim_start_matches("http://")).await.unwrap();
        let request = format!(
            "GET /socket HTTP/1.1\r\nHost: portal\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
             Accept: application/json\r\nCookie: {cookie}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");

        // An upstream that answers 101 with the wrong accept value gets no tunnel: 502.
        let liar = upstream::websocket(false).await;
        let server = TestServer::with(|c| c.upstream = Some(liar)).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let (head, mut stream, _) =
            WebSocket::handshake(&server.url, "/socket", &cookie, "Accept: application/json\r\n").await;
        assert!(head.starts_with("HTTP/1.1 502"), "{head}");
        let length: usize = head_value(&head, "content-length").unwrap().parse().unwrap();
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert!(problem["error"]["type"].as_str().unwrap().ends_with("/errors/bad-gateway"), "{problem}");
    }

    #[tokio::test]
    async fn open_tunnels_keep_their_connections_place() {
        let app = upstream::websocket(true).await;
        let server = TestServer::with(|c| {
            c.upstream = Some(app);
            c.max_connections_per_client = Some(2);
            // This test's own HTTP clients, on 127.0.0.1, are exempt as a proxy would be.
            c.trusted_proxies = Some("127.0.0.1".into());
        })
        .await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        // The client under the cap is 127.0.0.2.
        let address: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
        let from_client = || async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            socket.connect(address).await.unwrap()
        };
        let mut tunnels = Vec::new();
        for _ in 0..2 {
            let mut socket = WebSocket::open_on(from_client().await, "/socket", &cookie).await;
            socket.receive().await;
            tunnels.push(socket);
        }
        // Both places are held by the tunnels (the HTTP exchange ended at the 101): a third
        // connection from this client is closed at accept.
        let mut third = from_client().await;
        let _ = tokio::io::AsyncWriteExt::write_all(&mut third, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), tokio::io::AsyncReadExt::read(&mut third, &mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "a third connection was served: {read:?}");
        let mut socket = tunnels.pop().unwrap();
        socket.send("still there?").await;
        assert_eq!(socket.receive().await, "still there?");
    }

    #[tokio::test]
    async fn an_open_tunnel_closes_when_its_session_ends() {
        let app = upstream::websocket(true).await;
        let server = TestServer::with(|c| {
            c.upstream = Some(app);
            c.session_idle_timeout = Some(600);
        })
        .await;
        let fx = server.fixture().await;
        let tunnel = |cookie: String| {
            let url = server.url.clone();
            async move {
                let mut socket = WebSocket::open(&url, "/socket", &cookie).await;
                socket.receive().await;
                socket.send("still there?").await;
                assert_eq!(socket.receive().await, "still there?");
                socket
            }
        };

        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let socket = tunnel(cookie.clone()).await;
        let logout = server.logout(&server.url, &cookie).await;
        assert_eq!(logout.status(), 204);
        socket.assert_closed("after logout").await;

        let socket = tunnel(server.sign_in(&server.mint(&fx, "/dashboard").await).await).await;
        server.set_user_status(&fx.user.id, "disabled").await;
        socket.assert_closed("after the user was disabled").await;
        server.set_user_status(&fx.user.id, "active").await;

        let socket = tunnel(server.sign_in(&server.mint(&fx, "/dashboard").await).await).await;
        let sessions = format!("/users/{}/sessions", fx.user.id);
        server.admin.admin::<Value, Value>(Method::DELETE, &sessions, None).await.unwrap();
        socket.assert_closed("after the admin ended the sessions").await;

        let socket = tunnel(server.sign_in(&server.mint(&fx, "/dashboard").await).await).await;
        server.clock.advance(601);
        socket.assert_closed("after the idle timeout").await;
    }

    #[tokio::test]
    async fn an_unreachable_application_is_a_502_page() {
        let url = format!("http://127.0.0.1:{}", handoff_testkit::unused_port());
        let server = TestServer::with(|c| c.upstream = Some(url)).await;
        let fx = server.fixture().await;
        let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
        let response = server
            .http
            .get(format!("{}/dashboard", server.url))
            .header("cookie", &cookie)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        crate::harness::assert_problem(response, 502, "bad-gateway").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ten_megabyte_upload_streams_with_flat_memory() {
        let app = upstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let server = Spawned::serve(dir.path(), &["--upstream", &app.url]);
        let fx = remote_fixture(&server.url).await;
        let http = http_client();
        let link = handoff_client::Client::new(&server.url)
            .mint_sso_link(&fx.credentials, &fx.user_id, Some("/upload"))
            .await
            .unwrap();
        let cookie = set_cookie_pair(&http.get(&link.redirect_url).send().await.unwrap());
        // Warm up the proxy path, then take the baseline.
        for _ in 0..3 {
            http.post(format!("{}/upload", server.url))
                .header("cookie", &cookie)
                .body(vec![7u8; 64 * 1024])
                .send()
                .await
                .unwrap();
        }
        let before = peak_rss_kib(server.child.id());
        let size = 10 * 1024 * 1024;
        let response = http
            .post(format!("{}/upload", server.url))
            .header("cookie", &cookie)
            .body(vec![42u8; size])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["bytes"], size);
        let after = peak_rss_kib(server.child.id());
        eprintln!("proxy peak RSS: {before} KiB before, {after} KiB after a 10 MiB upload");
        assert!(after - before < 4 * 1024, "peak RSS grew by {} KiB: the body was buffered", after - before);
    }
}
