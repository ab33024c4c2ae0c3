//! What a client without credentials can make the server keep: no audit rows for routing
//! misses, bounded audit fields, request ids only when short and safe, a closed set of metric
//! labels, and text log lines it cannot forge.

use std::io::{Read as _, Write as _};

use std::net::TcpStream;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use serde_json::Value;

use crate::harness::{assert_problem, header, remote_fixture, Spawned, TestServer};

/// The newest audit record's id (0 for an empty log).
async fn newest_audit_id(server: &TestServer) -> i64 {
    server.audit("limit=1").await.first().map_or(0, |record| record["id"].as_i64().unwrap())
}

fn is_generated_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

backend_tests! {
    #[tokio::test]
    async fn ten_thousand_routing_misses_grow_neither_the_audit_log_nor_the_database() {
        let server = TestServer::start().await;
        let before_id = newest_audit_id(&server).await;
        let before_bytes = server.stored_bytes();
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..32 {
            let (http, url) = (server.http.clone(), server.url.clone());
            workers.spawn(async move {
                let (long_path, long_id) = ("p".repeat(1024), "r".repeat(4096));
                for i in (worker..10_000).step_by(32) {
                    // Unknown paths and methods; the partner API naming no one; unknown
                    // inbound integrations (short and long slugs).
                    let (path, method, expected) = match i % 5 {
                        0 => (format!("/v1/{long_path}{i}"), reqwest::Method::GET, 404),
                        1 => (format!("/admin/v1/{long_path}{i}"), reqwest::Method::GET, 404),
                        2 => ("/v1/sso".to_owned(), reqwest::Method::PATCH, 405),
                        3 => ("/v1/sso".to_owned(), reqwest::Method::POST, 400),
                        _ => (format!("/v1/inbound/{}{i}/sso", &long_path[..(i % 2) * 900 + 8]), reqwest::Method::POST, 404),
                    };
                    let response =
                        http.request(method, format!("{url}{path}")).header("x-request-id", &long_id).send().await.unwrap();
                    assert_eq!(response.status().as_u16(), expected, "{path:.40}");
                    let echoed = header(&response, "x-request-id").unwrap().to_owned();
                    assert!(is_generated_id(&echoed), "the client's request id came back: {echoed:.40}");
                    let body: Value = response.json().await.unwrap();
                    if !path.starts_with("/v1/inbound/") {
                        assert_eq!(body["error"]["request_id"], echoed.as_str());
                    }
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
        assert_eq!(newest_audit_id(&server).await, before_id, "routing misses were audited");
        let grown = server.stored_bytes().saturating_sub(before_bytes);
        assert!(grown < 1024 * 1024, "10 000 routing misses grew the database by {grown} bytes");
    }

    #[tokio::test]
    async fn audited_refusals_keep_client_text_bounded() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let huge_user = "u".repeat(60 * 1024);
        let response = server.mint_raw(&fx, &huge_user, None).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{status}");
        let huge_path = format!("/dashboard/{}", "d".repeat(60 * 1024));
        let response = server.mint_raw(&fx, &fx.user.id, Some(serde_json::json!({"redirect_path": huge_path}))).await;
        assert!(response.status().is_client_error());
        let records = server.audit("kind=sso.mint&outcome=refused").await;
        assert!(records.len() >= 2, "{records:?}");
        for record in records {
            let text = record.to_string();
            assert!(text.len() < 2048, "an audit record of {} bytes: {text:.200}", text.len());
        }
    }

    #[tokio::test]
    async fn client_request_ids_are_kept_only_when_short_and_safe() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let wrong = |id: &'static str| {
            let mut request = server.http.post(format!("{}/v1/sso", server.url)).header("x-request-id", id);
            for (name, value) in fx.headers(&fx.user.id) {
                let value = if name == "x-partner-secret" { "hps_wrong".to_owned() } else { value };
                request = request.header(name, value);
            }
            request.send()
        };
        let kept = wrong("partner-retry.42_a").await.unwrap();
        assert_eq!(header(&kept, "x-request-id"), Some("partner-retry.42_a"));
        let body = assert_problem(kept, 401, "authentication-required").await;
        assert_eq!(body["error"]["request_id"], "partner-retry.42_a");
        let long: &'static str = Box::leak("x".repeat(65).into_boxed_str());
        for forged in ["a b", "id\" user_id=\"forged", "k=v", long, "ö"] {
            let response = wrong(forged).await.unwrap();
            let echoed = header(&response, "x-request-id").unwrap().to_owned();
            assert!(is_generated_id(&echoed), "{forged:?} came back as {echoed:?}");
            assert_problem(response, 401, "authentication-required").await;
        }
        let records = server.audit("kind=sso.mint&outcome=refused").await;
        let ids: Vec<&str> = records.iter().filter_map(|r| r["request_id"].as_str()).collect();
        assert!(ids.contains(&"partner-retry.42_a"), "{ids:?}");
        assert!(ids.iter().filter(|id| is_generated_id(id)).count() >= 5, "{ids:?}");
    }

    #[tokio::test]
    async fn made_up_methods_do_not_grow_the_metrics() {
        let server = TestServer::start().await;
        let metrics = || async { server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap() };
        // Two warm-up rounds put every label of the requests below in place.
        for _ in 0..2 {
            for method in ["FOO", &"X".repeat(2048)] {
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                server.http.request(method, format!("{}/v1/sso", server.url)).send().await.unwrap();
            }
        }
        let before = metrics().await.len();
        for i in 0..1_200 {
            let long = format!("{}{i}", "M".repeat(2048));
            let response = server
                .http
                .request(reqwest::Method::from_bytes(long.as_bytes()).unwrap(), format!("{}/v1/sso", server.url))
                .send()
                .await
                .unwrap();
            assert_problem(response, 400, "invalid-request").await;
            let short = reqwest::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
            let response = server.http.request(short, format!("{}/v1/sso", server.url)).send().await.unwrap();
            assert_eq!(response.status(), 405);
        }
        let after = metrics().await;
        assert!(after.len() < before + 4096, "/metrics grew from {before} to {} bytes", after.len());
        assert!(after.contains("method=\"other\""));
        assert!(!after.contains("FOO1") && !after.contains("MMMM"));
    }
}

#[tokio::test]
async fn text_logs_cannot_be_forged_through_request_ids_or_paths() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawned::serve(dir.path(), &["--log-format", "text"]);
    let fx = remote_fixture(&server.url).await;
    let address = server.url.trim_start_matches("http://").to_owned();
    // A raw request: a quote and `key=value` in the path, a forged field in the request id.
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /v1/x\"%20user_id=forged-path HTTP/1.1\r\nHost: {address}\r\nx-request-id: a user_id=forged-id\r\n\
         x-partner-id: {}\r\nConnection: close\r\n\r\n",
        fx.credentials.partner_id
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(!answer.contains("forged-id"), "the forged request id came back: {answer}");
    let logs = server.stderr();
    let lines: Vec<&str> = logs.lines().filter(|line| line.contains("forged-path")).collect();
    assert!(!lines.is_empty(), "the request was not logged:\n{logs}");
    for line in &lines {
        assert!(line.contains(r#"path="/v1/x\"%20user_id=forged-path""#), "unescaped: {line}");
    }
    assert!(!logs.contains("forged-id"), "the client's request id reached the log");
}

/// Whether the server closed `stream` without answering a request on it.
async fn closed_at_accept(mut stream: tokio::net::TcpStream) -> bool {
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0) | Err(_)))
}

/// A connection to `address` from `source` (any 127.0.0.0/8 address is this machine).
async fn connect_from(address: &str, source: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(address.parse().unwrap()).await.unwrap()
}

/// Sends `request` on `stream` and reads the status line.
async fn status_line(stream: &mut tokio::net::TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut line = [0u8; 12];
    stream.read_exact(&mut line).await.unwrap();
    String::from_utf8_lossy(&line).into_owned()
}

#[tokio::test]
async fn connections_are_capped_in_all_and_per_client() {
    let server = TestServer::with(|c| {
        c.max_connections = Some(5);
        c.max_connections_per_client = Some(3);
    })
    .await;
    let address = server.url.trim_start_matches("http://").to_owned();
    let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for source in ["127.0.0.1", "127.0.0.1", "127.0.0.1"] {
        let mut stream = connect_from(&address, source).await;
        assert_eq!(status_line(&mut stream, health).await, "HTTP/1.1 200");
        held.push(stream);
    }
    assert!(closed_at_accept(connect_from(&address, "127.0.0.1").await).await, "a 4th connection of one client");
    for _ in 0..2 {
        let mut stream = connect_from(&address, "127.0.0.2").await;
        assert_eq!(status_line(&mut stream, health).await, "HTTP/1.1 200");
        held.push(stream);
    }
    assert!(closed_at_accept(connect_from(&address, "127.0.0.3").await).await, "a 6th connection in all");
    // A closed connection gives its place back once the server has seen it close.
    held.truncate(4);
    let mut metrics = None;
    for _ in 0..200 {
        let mut stream = connect_from(&address, "127.0.0.3").await;
        let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let _ = stream.write_all(request.as_bytes()).await;
        let mut text = String::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_string(&mut text)).await;
        if matches!(read, Ok(Ok(_))) && text.starts_with("HTTP/1.1 200") {
            metrics = Some(text);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let metrics = metrics.expect("the place of the closed connection was never given back");
    assert!(metrics.contains(r#"handoff_connections_refused_total{cap="max_connections_per_client"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"handoff_connections_refused_total{cap="max_connections"} "#), "{metrics}");
    drop(held);
}
