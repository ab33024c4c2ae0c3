//! Protected applications for the proxy tests, each on its own loopback port: an axum one that
//! echoes what it received, counts calls, streams uploads without keeping them and would switch
//! to a raw `Upgrade: echo` protocol if it were asked; a WSGI one (Python's `wsgiref`) that echoes
//! its environ; and a WebSocket echo server with a hand-rolled RFC 6455 handshake, plus the
//! WebSocket client the tests drive it with.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use serde_json::json;
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
pub struct Calls(AtomicUsize);

pub struct App {
    pub url: String,
    pub calls: Arc<Calls>,
}

impl App {
    pub fn calls(&self) -> usize {
        self.calls.0.load(Ordering::SeqCst)
    }
}

pub async fn start() -> App {
    let calls = Arc::new(Calls::default());
    let router = Router::new().fallback(handle).with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    App { url, calls }
}

async fn handle(State(calls): State<Arc<Calls>>, mut request: Request) -> Response {
    calls.0.fetch_add(1, Ordering::SeqCst);
    if request.headers().get("upgrade").is_some_and(|v| v == "echo") {
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buffer = [0u8; 64];
                while let Ok(n) = io.read(&mut buffer).await {
                    if n == 0 || io.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        response.headers_mut().insert("connection", HeaderValue::from_static("upgrade"));
        response.headers_mut().insert("upgrade", HeaderValue::from_static("echo"));
        return response;
    }
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").to_owned()))
        .collect();
    let (method, path, version) =
        (request.method().to_string(), request.uri().to_string(), format!("{:?}", request.version()));
    // Count the body as it streams in; never hold it.
    let mut body = request.into_body();
    let mut bytes = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        bytes += frame.data_ref().map_or(0, |data| data.len());
    }
    let mut response =
        Json(json!({"method": method, "path": path, "version": version, "headers": headers, "bytes": bytes}))
            .into_response();
    response.headers_mut().insert("x-app", HeaderValue::from_static("yes"));
    response
}

/// The WSGI application of `tests/wsgi/echo_environ.py` under Python's `wsgiref`; killed on drop.
pub struct Wsgi {
    child: Child,
    pub url: String,
}

impl Wsgi {
    pub fn start() -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wsgi/echo_environ.py");
        let mut child = Command::new("python3").arg(script).stdout(Stdio::piped()).spawn().expect("python3 is needed");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        let url = format!("http://127.0.0.1:{}", port.trim());
        Self { child, url }
    }
}

impl Drop for Wsgi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    BASE64.encode(sha1.finalize())
}

/// Reads an HTTP head up to and including the blank line.
pub async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The value of header `name` in an HTTP head (case-insensitive name).
pub fn head_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// A WebSocket echo server: it completes every handshake (with a wrong `Sec-WebSocket-Accept`
/// when `honest` is false), sends the `X-Handoff-User-Id` it was given as its first message,
/// then echoes every frame. Returns its URL.
pub async fn websocket(honest: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let key = head_value(&head, "sec-websocket-key").unwrap_or_default();
                let accept = if honest { websocket_accept(key) } else { websocket_accept("not the client's key") };
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                let user = head_value(&head, "x-handoff-user-id").unwrap_or("none");
                if stream.write_all(answer.as_bytes()).await.is_err()
                    || write_frame(&mut stream, 1, user.as_bytes(), None).await.is_err()
                {
                    return;
                }
                while let Some((opcode, payload)) = read_frame(&mut stream).await {
                    if opcode == 8 || write_frame(&mut stream, opcode, &payload, None).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

/// Writes one final frame, masked with `mask` (clients mask, servers do not).
pub async fn write_frame(
    stream: &mut (impl AsyncWrite + Unpin),
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> std::io::Result<()> {
    assert!(payload.len() < 126, "short frames only");
    let mut frame = vec![0x80 | opcode, payload.len() as u8 | if mask.is_some() { 0x80 } else { 0 }];
    match mask {
        Some(mask) => {
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ mask[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    stream.write_all(&frame).await
}

/// Reads one short frame (unmasking it); `None` once the connection is closed.
pub async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> Option<(u8, Vec<u8>)> {
    let mut start = [0u8; 2];
    stream.read_exact(&mut start).await.ok()?;
    let masked = start[1] & 0x80 != 0;
    let mut mask = [0u8; 4];
    if masked {
        stream.read_exact(&mut mask).await.ok()?;
    }
    let mut payload = vec![0u8; usize::from(start[1] & 0x7f)];
    stream.read_exact(&mut payload).await.ok()?;
    if masked {
        payload.iter_mut().enumerate().for_each(|(i, byte)| *byte ^= mask[i % 4]);
    }
    Some((start[0] & 0x0f, payload))
}

/// A WebSocket client connection through handoff, after its handshake.
pub struct WebSocket {
    pub stream: TcpStream,
}

impl WebSocket {
    /// Sends a WebSocket handshake for `path` with `cookie` (and `extra` header lines) to the
    /// server at `url`; returns the answer's head and the connection.
    pub async fn handshake(url: &str, path: &str, cookie: &str, extra: &str) -> (String, TcpStream, String) {
        let stream = TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
        Self::handshake_on(stream, path, cookie, extra).await
    }

    /// The handshake on a connection already open.
    pub async fn handshake_on(
        mut stream: TcpStream,
        path: &str,
        cookie: &str,
        extra: &str,
    ) -> (String, TcpStream, String) {
        let key = BASE64.encode(uuid::Uuid::new_v4().as_bytes());
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: portal\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nCookie: {cookie}\r\n{extra}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        (head, stream, key)
    }

    /// Opens a WebSocket through handoff, checking the handshake as a browser does.
    pub async fn open(url: &str, path: &str, cookie: &str) -> Self {
        let stream = TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
        Self::open_on(stream, path, cookie).await
    }

    /// Opens a WebSocket on a connection already open (e.g. from another source address).
    pub async fn open_on(stream: TcpStream, path: &str, cookie: &str) -> Self {
        let (head, stream, key) = Self::handshake_on(stream, path, cookie, "").await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head_value(&head, "upgrade").unwrap().eq_ignore_ascii_case("websocket"), "{head}");
        assert_eq!(head_value(&head, "sec-websocket-accept"), Some(websocket_accept(&key).as_str()), "{head}");
        Self { stream }
    }

    pub async fn send(&mut self, text: &str) {
        let mask = *uuid::Uuid::new_v4().as_bytes().first_chunk::<4>().unwrap();
        write_frame(&mut self.stream, 1, text.as_bytes(), Some(mask)).await.unwrap();
    }

    pub async fn receive(&mut self) -> String {
        let (opcode, payload) = read_frame(&mut self.stream).await.expect("the tunnel closed");
        assert_eq!(opcode, 1);
        String::from_utf8(payload).unwrap()
    }

    /// Waits (at most ten seconds) for the connection to be closed, failing on any data.
    pub async fn assert_closed(mut self, why: &str) {
        let mut buffer = [0u8; 64];
        match tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => {}
            Ok(Ok(n)) => panic!("{why}: the tunnel sent {n} bytes instead of closing"),
            Err(_) => panic!("{why}: the tunnel is still open after 10 s"),
        }
    }
}
