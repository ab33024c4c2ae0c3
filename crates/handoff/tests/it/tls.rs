//! The TLS listener (`tls_cert`, `tls_key`): a certificate authority and server certificates made
//! here with rcgen, clients that trust only that authority. HTTP/1.1 and HTTP/2 by ALPN; the
//! partner SSO, session cookies, forward-auth, the console, the reverse proxy and WebSockets over
//! TLS; a client that does not trust the authority is refused; silent and slow connections are
//! closed; renewal by file change and by SIGHUP under continuous load without one failed request,
//! a broken replacement keeping the previous certificate; start-up refusals that name the setting
//! or file at fault. SQLite only: TLS is no storage.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use reqwest::tls::TlsInfo;
use reqwest::Version;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use crate::console::{console, signed_in};
use crate::harness::{header, set_cookie_pair, Spawned, TestServer, ADMIN_TOKEN};
use crate::upstream;

/// How long a test waits for a reload it caused (the files are polled every 5 s).
const RELOAD_DEADLINE: Duration = Duration::from_secs(30);

/// A certificate authority of the test's own.
struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate for `127.0.0.1` and `localhost`, with its key, in PEM and DER.
struct Issued {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate with serial number `serial`.
    fn issue(&self, serial: u64) -> Issued {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "handoff test server");
        params.serial_number = Some(SerialNumber::from(serial));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

/// The server's `tls_cert` and `tls_key` files in a directory of their own.
struct Files {
    dir: TempDir,
}

impl Files {
    fn new(issued: &Issued) -> Self {
        let files = Self { dir: tempfile::tempdir().unwrap() };
        files.write_key(&issued.key_pem);
        files.write_cert(&issued.cert_pem);
        files
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// Replaces a file at once, as certbot and cert-manager do (write aside, rename over).
    fn replace(path: &Path, text: &str) {
        let aside = path.with_extension("new");
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, path).unwrap();
    }

    fn write_cert(&self, pem: &str) {
        Self::replace(&self.cert(), pem);
    }

    fn write_key(&self, pem: &str) {
        Self::replace(&self.key(), pem);
    }

    /// A renewal: the new key, then the new certificate.
    fn renew(&self, issued: &Issued) {
        self.write_key(&issued.key_pem);
        self.write_cert(&issued.cert_pem);
    }

    fn args(&self) -> [String; 4] {
        let path = |p: PathBuf| p.to_str().unwrap().to_owned();
        ["--tls-cert".into(), path(self.cert()), "--tls-key".into(), path(self.key())]
    }
}

#[derive(Clone, Copy)]
enum Connections {
    /// HTTP/2 or HTTP/1.1 as ALPN agrees (reqwest offers both): HTTP/2.
    Alpn,
    Http1,
    /// HTTP/1.1 on a new connection (and handshake) for every request.
    Fresh,
}

/// A client trusting only `ca` (no system roots), following no redirects, telling the
/// certificate it was shown.
fn client(ca: &str, connections: Connections) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .tls_info(true);
    match connections {
        Connections::Alpn => builder,
        Connections::Http1 => builder.http1_only(),
        Connections::Fresh => builder.http1_only().pool_max_idle_per_host(0),
    }
    .build()
    .unwrap()
}

/// A server on `files`, its clients trusting `ca`, adjusted by `configure`.
async fn tls_server(ca: &str, files: &Files, configure: impl FnOnce(&mut handoff_server::ConfigLayer)) -> TestServer {
    let (cert, key) = (files.cert(), files.key());
    TestServer::with_tls(client(ca, Connections::Alpn), move |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
        configure(c);
    })
    .await
}

/// The DER of the certificate a new connection to `url` is shown.
async fn served_certificate(url: &str, ca: &str) -> Vec<u8> {
    let response = client(ca, Connections::Fresh).get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.extensions().get::<TlsInfo>().unwrap().peer_certificate().unwrap().to_vec()
}

async fn wait_for_certificate(url: &str, ca: &str, expected: &Issued) {
    let deadline = tokio::time::Instant::now() + RELOAD_DEADLINE;
    while served_certificate(url, ca).await != expected.der {
        assert!(tokio::time::Instant::now() < deadline, "new connections still get the old certificate");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `handoff_tls_reloads_total` for `trigger` and `outcome`, from `/metrics`.
async fn reloads(http: &reqwest::Client, url: &str, trigger: &str, outcome: &str) -> u64 {
    let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let (trigger, outcome) = (format!("trigger=\"{trigger}\""), format!("outcome=\"{outcome}\""));
    text.lines()
        .find(|line| {
            line.starts_with("handoff_tls_reloads_total{") && line.contains(&trigger) && line.contains(&outcome)
        })
        .map_or(0, |line| line.rsplit(' ').next().unwrap().parse().unwrap())
}

/// Waits until `/metrics` counts at least `count` reloads of `trigger` with `outcome`.
async fn wait_for_reloads(http: &reqwest::Client, url: &str, trigger: &str, outcome: &str, count: u64) {
    let deadline = tokio::time::Instant::now() + RELOAD_DEADLINE;
    while reloads(http, url, trigger, outcome).await < count {
        assert!(tokio::time::Instant::now() < deadline, "no {outcome} {trigger} reload counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clients looping on `/healthz` until finished: HTTP/2 and HTTP/1.1 on kept-alive connections
/// (open across every swap) and two on a new connection per request (handshakes during them).
struct Load {
    stop: Arc<AtomicBool>,
    /// Requests answered so far, by all clients.
    answered: Arc<AtomicU64>,
    clients: Vec<JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    fn start(url: &str, ca: &str) -> Self {
        let (stop, answered) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let clients = [Connections::Alpn, Connections::Http1, Connections::Fresh, Connections::Fresh]
            .into_iter()
            .map(|connections| {
                let (http, url) = (client(ca, connections), format!("{url}/healthz"));
                let (stop, answered) = (stop.clone(), answered.clone());
                tokio::spawn(async move {
                    let (mut ok, mut failed) = (0, Vec::new());
                    while !stop.load(Ordering::SeqCst) {
                        match http.get(&url).send().await {
                            Ok(response) if response.status() == 200 => {
                                ok += 1;
                                answered.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(response) => failed.push(format!("status {}", response.status())),
                            Err(err) => failed.push(format!("{err:?}")),
                        }
                        // Pace the loop: the machine is shared.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    (ok, failed)
                })
            })
            .collect();
        Self { stop, answered, clients }
    }

    /// Waits until the clients have had `count` more answers: the load runs on both sides of a
    /// swap.
    async fn proceed(&self, count: u64) {
        let target = self.answered.load(Ordering::SeqCst) + count;
        let deadline = tokio::time::Instant::now() + RELOAD_DEADLINE;
        while self.answered.load(Ordering::SeqCst) < target {
            assert!(tokio::time::Instant::now() < deadline, "the load clients are stuck");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the clients; asserts that every request of each succeeded.
    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            let (ok, failed) = client.await.unwrap();
            assert!(
                failed.is_empty(),
                "{} failed requests (of {}): {:?}",
                failed.len(),
                ok + failed.len() as u64,
                failed
            );
            assert!(ok > 0, "a load client made no request");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_over_http1_and_http2() {
    let ca = Authority::new("handoff test CA");
    let issued = ca.issue(1);
    let files = Files::new(&issued);
    let server = tls_server(&ca.pem(), &files, |_| {}).await;
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);

    for (connections, version) in [(Connections::Http1, Version::HTTP_11), (Connections::Alpn, Version::HTTP_2)] {
        let response = client(&ca.pem(), connections).get(format!("{}/healthz", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), version);
        let shown = response.extensions().get::<TlsInfo>().unwrap().peer_certificate().unwrap().to_vec();
        assert_eq!(shown, issued.der);
    }
    // Plain http on the TLS port gets no answer.
    let plain = server.url.replacen("https://", "http://", 1);
    assert!(reqwest::Client::new().get(format!("{plain}/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_sso_sessions_forward_auth_and_the_console_work_over_http2() {
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let server = tls_server(&ca.pem(), &files, |_| {}).await;
    let fx = server.fixture().await;

    // Mint (the SDK) and redeem over TLS; links and cookies are https ones.
    let link = server.mint(&fx, "/dashboard/patients/7").await;
    assert!(link.starts_with(&format!("{}/auth/sso?token=", server.url)), "{link}");
    let redeemed = server.open(&link).await;
    assert_eq!(redeemed.version(), Version::HTTP_2);
    assert_eq!(redeemed.status(), 303);
    assert_eq!(header(&redeemed, "location"), Some("/dashboard/patients/7"));
    let set_cookie = header(&redeemed, "set-cookie").unwrap().to_owned();
    assert!(set_cookie.starts_with("__Host-handoff="), "{set_cookie}");
    assert!(set_cookie.contains("; Secure") && set_cookie.contains("; HttpOnly"), "{set_cookie}");
    let cookie = set_cookie_pair(&redeemed);
    assert_eq!(server.who_am_i(&cookie).await["user_id"], fx.user.id.as_str());
    // The same link again is refused: single use holds over TLS too.
    assert_eq!(server.open(&link).await.status(), 409);

    // Forward-auth, over HTTP/2.
    let verify = server.http.get(format!("{}/auth/verify", server.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!((verify.status().as_u16(), verify.version()), (200, Version::HTTP_2));
    assert_eq!(header(&verify, "x-handoff-user-id"), Some(fx.user.id.as_str()));
    let anonymous = server.http.get(format!("{}/auth/verify", server.url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The console: its cookie is the `__Host-`, `Secure` one.
    let admin_cookie = signed_in(&server).await;
    assert!(admin_cookie.starts_with("__Host-handoff-admin="), "{admin_cookie}");
    let home = console(&server, &admin_cookie).await;
    assert_eq!((home.status().as_u16(), home.version()), (200, Version::HTTP_2));
    assert!(home.text().await.unwrap().contains("form_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_request_reaches_the_upstream_as_http1() {
    let app = upstream::start().await;
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let server = tls_server(&ca.pem(), &files, |c| c.upstream = Some(app.url.clone())).await;
    let fx = server.fixture().await;
    let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
    let response = server
        .http
        .post(format!("{}/dashboard/patients/1?tab=rx", server.url))
        .header("cookie", format!("{cookie}; app_pref=dark"))
        .header("cookie", "theme=light")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-app"), Some("yes"));
    let seen: Value = response.json().await.unwrap();
    let headers = &seen["headers"];
    assert_eq!(seen["version"], "HTTP/1.1");
    assert_eq!((seen["method"].as_str(), seen["path"].as_str()), (Some("POST"), Some("/dashboard/patients/1?tab=rx")));
    assert_eq!(seen["bytes"], 5);
    assert_eq!(headers["host"], app.url.trim_start_matches("http://"), "Host is the upstream's");
    assert_eq!(headers["x-forwarded-host"], server.url.trim_start_matches("https://"));
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(headers["x-handoff-user-id"], fx.user.id.as_str());
    // HTTP/2 may carry the cookies in several fields; HTTP/1.1 gets one, without handoff's.
    assert_eq!(headers["cookie"], "app_pref=dark; theme=light");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_tunnelled_over_a_tls_http1_connection() {
    let app = upstream::websocket(true).await;
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let server = tls_server(&ca.pem(), &files, |c| c.upstream = Some(app)).await;
    let fx = server.fixture().await;
    let cookie = server.sign_in(&server.mint(&fx, "/dashboard").await).await;
    // Browsers open WebSockets on an HTTP/1.1 connection (handoff offers no HTTP/2 CONNECT).
    let mut stream = tls_connect(server.url.trim_start_matches("https://"), &ca, b"http/1.1").await;
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let request = format!(
        "GET /socket HTTP/1.1\r\nHost: portal\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nCookie: {cookie}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = upstream::read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(upstream::head_value(&head, "sec-websocket-accept"), Some(upstream::websocket_accept(key).as_str()));
    let text = |frame: Option<(u8, Vec<u8>)>| String::from_utf8(frame.expect("the tunnel closed").1).unwrap();
    assert_eq!(text(upstream::read_frame(&mut stream).await), fx.user.id, "the upstream saw the true identity");
    upstream::write_frame(&mut stream, 1, b"over tls", Some([1, 2, 3, 4])).await.unwrap();
    assert_eq!(text(upstream::read_frame(&mut stream).await), "over tls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_authority_is_refused() {
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let server = tls_server(&ca.pem(), &files, |_| {}).await;
    let healthz = format!("{}/healthz", server.url);
    let other = Authority::new("another CA");
    let refused = client(&other.pem(), Connections::Alpn).get(&healthz).send().await.unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");
    assert!(format!("{refused:?}").contains("UnknownIssuer"), "{refused:?}");
    // Nor does a client with the system's roots trust it.
    assert!(reqwest::Client::new().get(&healthz).send().await.unwrap_err().is_connect());
    // The server goes on serving those who trust it.
    assert_eq!(server.http.get(&healthz).send().await.unwrap().status(), 200);
}

/// A TLS connection to `addr` trusting `ca`, offering `alpn`.
async fn tls_connect(
    addr: &str,
    ca: &Authority,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(alpn));
    stream
}

/// Reads until the server closes `stream`; what it said. (The bound only keeps a broken server
/// from hanging the suite.)
async fn closed_by_server(mut stream: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is still open");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_handshakes_connections_and_slow_headers_are_closed() {
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let server = tls_server(&ca.pem(), &files, |c| c.header_read_timeout = Some(1)).await;
    let addr = server.url.trim_start_matches("https://").to_owned();
    // No handshake at all.
    closed_by_server(tokio::net::TcpStream::connect(&addr).await.unwrap()).await;
    // A handshake for HTTP/2, then not even the connection preface.
    closed_by_server(tls_connect(&addr, &ca, b"h2").await).await;
    // Slow loris over TLS: the request line and one header, then nothing more.
    let mut slow = tls_connect(&addr, &ca, b"http/1.1").await;
    slow.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes()).await.unwrap();
    assert!(!closed_by_server(slow).await.contains("200 OK"));
    // Complete requests are served as before.
    assert_eq!(server.http.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_files_are_reloaded_under_load_and_a_broken_pair_keeps_the_old_one() {
    let ca = Authority::new("handoff test CA");
    let (first, second) = (ca.issue(1), ca.issue(2));
    let files = Files::new(&first);
    let server = tls_server(&ca.pem(), &files, |_| {}).await;
    let load = Load::start(&server.url, &ca.pem());
    load.proceed(40).await;

    // A certificate whose key is not the one beside it (a renewal caught between its writes),
    // then a file that is no certificate: refused, the first pair keeps serving.
    files.write_cert(&second.cert_pem);
    wait_for_reloads(&server.http, &server.url, "file_change", "failed", 1).await;
    assert_eq!(served_certificate(&server.url, &ca.pem()).await, first.der);
    files.write_cert("not a certificate\n");
    wait_for_reloads(&server.http, &server.url, "file_change", "failed", 2).await;
    assert_eq!(served_certificate(&server.url, &ca.pem()).await, first.der);
    assert_eq!(reloads(&server.http, &server.url, "file_change", "ok").await, 0);

    // The renewal completes: new connections get the new certificate.
    files.renew(&second);
    wait_for_certificate(&server.url, &ca.pem(), &second).await;
    assert!(reloads(&server.http, &server.url, "file_change", "ok").await >= 1);
    load.proceed(40).await;
    load.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_binary_under_load_and_a_broken_pair_keeps_the_old_one() {
    let ca = Authority::new("handoff test CA");
    let (first, second) = (ca.issue(1), ca.issue(2));
    let files = Files::new(&first);
    let data = tempfile::tempdir().unwrap();
    let args = files.args();
    let spawned = Spawned::serve(data.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(spawned.url.starts_with("https://127.0.0.1:"), "{}", spawned.url);
    let (url, http) = (spawned.url.clone(), client(&ca.pem(), Connections::Alpn));
    let hangup = || {
        let pid = rustix::process::Pid::from_child(&spawned.child);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    };
    let load = Load::start(&url, &ca.pem());
    load.proceed(40).await;

    // A key that belongs to no certificate beside it: refused and logged with its file.
    files.write_key(&second.key_pem);
    hangup();
    wait_for_reloads(&http, &url, "sighup", "failed", 1).await;
    assert_eq!(served_certificate(&url, &ca.pem()).await, first.der);
    let log = spawned.stderr();
    let key = files.key().display().to_string();
    assert!(log.contains(&key) && log.contains("still serving the previous ones"), "{log}");

    load.proceed(40).await;
    files.write_cert(&second.cert_pem);
    hangup();
    wait_for_reloads(&http, &url, "sighup", "ok", 1).await;
    assert_eq!(served_certificate(&url, &ca.pem()).await, second.der);
    load.proceed(40).await;
    load.finish().await;
    // Still one process: the same admin token, the same server.
    let admin = http.get(format!("{url}/admin/v1/organizations")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(admin.status(), 200);
}

/// `handoff serve` with `args` on a free port: its failure message (it must not start).
fn refused_start(data: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--data-dir"])
        .arg(data)
        .args(args)
        .env_remove("HANDOFF_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success() && !stdout.contains("listening"), "it started: {stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn start_up_refuses_an_http_public_url_and_unusable_files() {
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let data = tempfile::tempdir().unwrap();
    let [cert_flag, cert, key_flag, key] = files.args();

    let http_url = [cert_flag.as_str(), &cert, &key_flag, &key, "--public-url", "http://127.0.0.1:8443"];
    let message = refused_start(data.path(), &http_url);
    assert!(message.contains("invalid `public_url`: must be https://"), "{message}");

    let alone = refused_start(data.path(), &[cert_flag.as_str(), &cert]);
    assert!(alone.contains("invalid `tls_key`: is missing"), "{alone}");

    let missing = files.dir.path().join("missing.pem");
    let missing_text = missing.display().to_string();
    let unreadable = refused_start(data.path(), &[cert_flag.as_str(), &missing_text, &key_flag, &key]);
    assert!(unreadable.contains(&format!("tls_cert {missing_text}: cannot read")), "{unreadable}");

    let other_key = files.dir.path().join("other-key.pem");
    std::fs::write(&other_key, ca.issue(2).key_pem).unwrap();
    let other_text = other_key.display().to_string();
    let mismatched = refused_start(data.path(), &[cert_flag.as_str(), &cert, &key_flag, &other_text]);
    assert!(mismatched.contains(&format!("tls_key {other_text}: is not the key of the certificate")), "{mismatched}");

    // The pair itself starts (and the `https://` public URL is the default).
    let spawned = Spawned::serve(data.path(), &[cert_flag.as_str(), &cert, &key_flag, &key]);
    assert!(spawned.url.starts_with("https://"));
}

#[test]
fn healthcheck_asks_over_tls_and_checks_the_certificate() {
    let ca = Authority::new("handoff test CA");
    let files = Files::new(&ca.issue(1));
    let data = tempfile::tempdir().unwrap();
    let args = files.args();
    let spawned = Spawned::serve(data.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let listen = spawned.url.trim_start_matches("https://").to_owned();
    let ca_file = data.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let check = |trust: Option<&Path>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command.args(["healthcheck", "--listen", &listen]).args(&args).arg("--data-dir").arg(data.path());
        command.env_remove("HANDOFF_CONFIG").env_remove("SSL_CERT_DIR");
        match trust {
            // The host's trust store, as rustls-native-certs reads it, holding the test's CA.
            Some(file) => command.env("SSL_CERT_FILE", file),
            None => command.env("SSL_CERT_FILE", data.path().join("no-such-bundle.pem")),
        };
        command.output().unwrap()
    };
    let trusted = check(Some(&ca_file));
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
    assert!(String::from_utf8_lossy(&trusted.stdout).contains(&format!("https://{listen}/healthz")));
    // A certificate the host does not trust is a failed check, not a pass.
    let untrusted = check(None);
    assert_eq!(untrusted.status.code(), Some(1), "{}", String::from_utf8_lossy(&untrusted.stdout));
}
