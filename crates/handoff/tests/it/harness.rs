//! Test harness: boots the real application (in-process through `App::build`, or the real
//! binary as a child process), with a fresh data directory and SQLite file per test.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use handoff_client::wire::{OrganizationView, PartnerView, UserView};
use handoff_client::{Client, PartnerCredentials};
use handoff_core::Clock;
use handoff_server::{App, ConfigLayer, Services, Settings};
use handoff_testkit::postgres;

use crate::backend::Backend;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use time::OffsetDateTime;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";

/// A clock the test moves by hand; starts at the real time.
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

pub struct TestServer {
    /// Where the server listens (equal to its public URL unless a test sets one).
    pub url: String,
    /// Keeps the data directory (and its SQLite file) alive as long as the server.
    _dir: TempDir,
    /// The PostgreSQL server, when the test runs on that backend; dropped after the app.
    _postgres: Option<postgres::Cluster>,
    pub clock: Arc<TestClock>,
    /// The running app's services, for a test that runs a background task (a purge) now.
    pub services: Arc<Services>,
    /// The server's database, for a test that writes what no request can (a second connection).
    pub database_url: String,
    pub admin: Client,
    /// Follows no redirects and keeps no cookies: tests look at every hop.
    pub http: reqwest::Client,
    /// What the SDK clients (`admin`, partner calls) send with.
    sdk_http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A client whose connections come from `source` (any 127.0.0.0/8 address is this machine).
pub fn http_client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Starts a server with the test defaults, adjusted by `configure`.
    pub async fn with(configure: impl FnOnce(&mut ConfigLayer)) -> Self {
        Self::boot(configure, None).await
    }

    /// Like [`TestServer::with`], for a server that `configure` gives `tls_cert` and `tls_key`:
    /// `url` is https, and `http` and the SDK clients are `client` (which trusts its CA).
    pub async fn with_tls(client: reqwest::Client, configure: impl FnOnce(&mut ConfigLayer)) -> Self {
        Self::boot(configure, Some(client)).await
    }

    async fn boot(configure: impl FnOnce(&mut ConfigLayer), client: Option<reqwest::Client>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let postgres = Backend::current().database();
        let mut layer = ConfigLayer {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_owned()),
            admin_token: Some(ADMIN_TOKEN.into()),
            database_url: postgres.as_ref().map(|pg| pg.url.clone()),
            ..ConfigLayer::default()
        };
        configure(&mut layer);
        let settings = Settings::resolve(layer).unwrap();
        let database_url = settings.database_url.clone();
        #[allow(clippy::disallowed_methods)]
        let clock = Arc::new(TestClock(AtomicI64::new(OffsetDateTime::now_utc().unix_timestamp())));
        let app = App::build(settings, clock.clone()).await.unwrap();
        let scheme = if client.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", app.local_addr().unwrap());
        let services = app.services().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        let sdk_http = client.clone().unwrap_or_default();
        let admin = Client::new(&url).with_admin_token(ADMIN_TOKEN).with_http_client(sdk_http.clone());
        Self {
            url,
            _dir: dir,
            _postgres: postgres,
            clock,
            services,
            database_url,
            admin,
            http: client.unwrap_or_else(http_client),
            sdk_http,
            shutdown: Some(tx),
        }
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        self.admin.admin(Method::POST, path, Some(&body)).await.unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin.admin::<Value, Value>(Method::GET, path, None).await.unwrap()
    }

    /// An admin API request (`/admin/v1{path}`, bearer token set) for a test that looks at the
    /// raw response: a refusal's status and problem, a 204.
    pub fn admin_request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/admin/v1{path}", self.url)).bearer_auth(ADMIN_TOKEN)
    }

    /// Sets a user's status as the operator does (`PATCH /admin/v1/users/{id}`); the user it answers.
    pub async fn set_user_status(&self, user_id: &str, status: &str) -> Value {
        let body = json!({ "status": status });
        self.admin.admin(Method::PATCH, &format!("/users/{user_id}"), Some(&body)).await.unwrap()
    }

    /// A linked partner and organization with one active user.
    pub async fn fixture(&self) -> Fixture {
        self.fixture_with(json!({"name": "Acme EHR", "embed_origins": ["https://ehr.example.com"]})).await
    }

    pub async fn fixture_with(&self, partner: Value) -> Fixture {
        let org: OrganizationView = serde_json::from_value(
            self.admin_post("/organizations", json!({"name": "Fjordklinikken", "org_numbers": []})).await,
        )
        .unwrap();
        let partner: PartnerView = serde_json::from_value(self.admin_post("/partners", partner).await).unwrap();
        self.admin
            .admin::<Value, Value>(Method::PUT, &format!("/partners/{}/organizations/{}", partner.id, org.id), None)
            .await
            .unwrap();
        let user = self.create_user(&org.id, "turid@jensen.com").await;
        let credentials = PartnerCredentials {
            partner_id: partner.id.clone(),
            partner_secret: partner.secret.clone().unwrap(),
            organization_id: org.id.clone(),
            organization_secret: org.secret.clone().unwrap(),
        };
        Fixture { org, partner, user, credentials }
    }

    pub async fn create_user(&self, org_id: &str, email: &str) -> UserView {
        serde_json::from_value(
            self.admin_post(
                &format!("/organizations/{org_id}/users"),
                json!({"email": email, "given_name": "Turid", "family_name": "Jensen"}),
            )
            .await,
        )
        .unwrap()
    }

    /// `POST /v1/sso` with the fixture's credentials, `user_id` and a raw JSON body.
    pub async fn mint_raw(&self, fx: &Fixture, user_id: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/v1/sso", self.url));
        for (name, value) in fx.headers(user_id) {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Mints a link for the fixture's user to `path` and returns `redirect_url`.
    pub async fn mint(&self, fx: &Fixture, path: &str) -> String {
        let link = self.admin_sdk_mint(fx, path).await;
        link.redirect_url
    }

    pub async fn admin_sdk_mint(&self, fx: &Fixture, path: &str) -> handoff_client::wire::SsoLink {
        Client::new(&self.url)
            .with_http_client(self.sdk_http.clone())
            .mint_sso_link(&fx.credentials, &fx.user.id, Some(path))
            .await
            .unwrap()
    }

    /// Opens a link like a browser's first hop; returns the response (a 303 on success).
    pub async fn open(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// Redeems `url` and returns the `name=value` of the session cookie it set.
    pub async fn sign_in(&self, url: &str) -> String {
        let response = self.open(url).await;
        assert_eq!(response.status(), 303, "redeem failed: {:?}", response.text().await);
        set_cookie_pair(&response)
    }

    /// `GET /auth/session` with `cookie`: who that browser is signed in as.
    pub async fn who_am_i(&self, cookie: &str) -> Value {
        self.http
            .get(format!("{}/auth/session", self.url))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST /auth/logout` with `cookie`, asking for JSON, sent to `base`: this server's URL or
    /// that of a proxy in front of it.
    pub async fn logout(&self, base: &str, cookie: &str) -> reqwest::Response {
        self.http
            .post(format!("{base}/auth/logout"))
            .header("cookie", cookie)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    /// Bytes the database takes on disk: the SQLite file and its log, or the PostgreSQL
    /// cluster's tables and indexes (`base/`).
    pub fn stored_bytes(&self) -> u64 {
        let root = match &self._postgres {
            Some(pg) => pg.data_dir().join("data").join("base"),
            None => self._dir.path().to_owned(),
        };
        dir_bytes(&root)
    }

    /// Audit records matching `query` (a query string without `?`).
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        self.admin_get(&format!("/audit?{query}")).await["items"].as_array().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Fixture {
    pub org: OrganizationView,
    pub partner: PartnerView,
    pub user: UserView,
    pub credentials: PartnerCredentials,
}

impl Fixture {
    pub fn headers(&self, user_id: &str) -> Vec<(&'static str, String)> {
        vec![
            ("x-partner-id", self.credentials.partner_id.clone()),
            ("x-partner-secret", self.credentials.partner_secret.clone()),
            ("x-organization-id", self.credentials.organization_id.clone()),
            ("x-organization-secret", self.credentials.organization_secret.clone()),
            ("x-user-id", user_id.to_owned()),
        ]
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The first `Set-Cookie`'s `name=value`.
pub fn set_cookie_pair(response: &reqwest::Response) -> String {
    let header = response.headers().get("set-cookie").expect("no Set-Cookie").to_str().unwrap();
    header.split(';').next().unwrap().to_owned()
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The JOSE header of a JWT, unverified.
pub fn jwt_header(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

/// The header and claims of an EdDSA JWT whose signature verifies with the key its `kid` names in
/// the JWKS at `jwks_url` — checked with ed25519-dalek directly, not with handoff's token code
/// (the browser tests check with `jose`).
pub async fn verify_with_jwks(http: &reqwest::Client, jwks_url: &str, token: &str) -> (Value, Value) {
    let jwks: Value = http.get(jwks_url).send().await.unwrap().json().await.unwrap();
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let (header, claims) = signed.split_once('.').unwrap();
    let header: Value = serde_json::from_slice(&decode(header)).unwrap();
    assert_eq!(header["alg"], "EdDSA", "{header}");
    let jwk =
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("the key is in the JWKS");
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    let x: [u8; 32] = decode(jwk["x"].as_str().unwrap()).try_into().unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&decode(signature)).unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap().verify_strict(signed.as_bytes(), &signature).unwrap();
    (header, serde_json::from_slice(&decode(claims)).unwrap())
}

/// Asserts the problem envelope and returns it.
pub async fn assert_problem(response: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "wrong status");
    assert!(header(&response, "content-type").unwrap().contains("json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    assert!(body["error"]["type"].as_str().unwrap().ends_with(&format!("/errors/{slug}")), "{body}");
    assert!(body["error"]["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["error"]["detail"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    body
}

/// Look-alikes of `kari@x.no` whose local part is not ASCII: a KELVIN SIGN (which Unicode
/// lower-cases to `k`), full-width and Cyrillic letters. Every way in refuses them.
pub const LOOK_ALIKE_EMAILS: [&str; 3] = ["\u{212A}ari@x.no", "ｋａｒｉ@x.no", "каri@x.no"];

/// Asserts that `create` (a user API's create call for an email) refuses every one of
/// [`LOOK_ALIKE_EMAILS`] as a 400 that names the rule.
pub async fn refuses_look_alike_emails<F, R>(create: F)
where
    F: Fn(&'static str) -> R,
    R: Future<Output = reqwest::Result<reqwest::Response>>,
{
    for look_alike in LOOK_ALIKE_EMAILS {
        let problem = assert_problem(create(look_alike).await.unwrap(), 400, "invalid-request").await;
        let detail = problem["error"]["detail"].as_str().unwrap();
        assert!(detail.starts_with("email must have an ASCII local part"), "{look_alike}: {detail}");
    }
}

/// The real `handoff` binary as a child process with captured output.
pub struct Spawned {
    pub child: Child,
    pub url: String,
    /// Every line the process printed to stdout, up to the "listening" line.
    pub stdout: Vec<String>,
    pub stderr_path: PathBuf,
    /// The PostgreSQL server this process uses, when it started one of its own.
    pub postgres: Option<postgres::Cluster>,
}

impl Spawned {
    /// Runs `handoff serve` on a free loopback port with `data_dir`, plus `args`; waits until it
    /// says it is listening (no sleeps, no fixed ports).
    pub fn serve(data_dir: &Path, args: &[&str]) -> Spawned {
        Self::serve_on(data_dir, "127.0.0.1:0", args)
    }

    /// Like [`Spawned::serve`], on the given `listen` address.
    pub fn serve_on(data_dir: &Path, listen: &str, args: &[&str]) -> Spawned {
        let postgres = Backend::current().database();
        let mut spawned = Self::serve_with(data_dir, listen, postgres.as_ref().map(|pg| pg.url.as_str()), args);
        spawned.postgres = postgres;
        spawned
    }

    /// Like [`Spawned::serve_on`], on the given database (else the data directory's SQLite file).
    pub fn serve_with(data_dir: &Path, listen: &str, database_url: Option<&str>, args: &[&str]) -> Spawned {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command
            .arg("serve")
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(["--admin-token", ADMIN_TOKEN])
            .args(database_url.map(|url| ["--database-url", url]).into_iter().flatten())
            .args(args);
        Self::start(command, data_dir)
    }

    /// Runs `command` (a `handoff serve` the caller configured) with debug logs to a file in
    /// `data_dir`; waits until it says it is listening.
    pub fn start(mut command: Command, data_dir: &Path) -> Spawned {
        let stderr_path = data_dir.join(format!("stderr-{}.log", uuid::Uuid::new_v4()));
        let mut child = command
            .env("RUST_LOG", "debug")
            .env_remove("HANDOFF_CONFIG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("handoff exited before listening").unwrap();
            if let Some(url) = line.strip_prefix("handoff listening on ") {
                break url.to_owned();
            }
            stdout.push(line);
        };
        // Keep reading stdout in the background so the child never blocks on a full pipe.
        let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        drop(rest);
        Spawned { child, url, stdout, stderr_path, postgres: None }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A linked organization, partner and user, created through the admin API of the server at `url`
/// (for servers the harness did not boot in-process).
pub struct RemoteFixture {
    pub organization: Value,
    pub partner: Value,
    pub user_id: String,
    pub credentials: PartnerCredentials,
}

pub async fn remote_fixture(url: &str) -> RemoteFixture {
    let admin = Client::new(url).with_admin_token(ADMIN_TOKEN);
    let organization: Value = admin.admin(Method::POST, "/organizations", Some(&json!({"name": "Org"}))).await.unwrap();
    let partner: Value = admin.admin(Method::POST, "/partners", Some(&json!({"name": "Partner"}))).await.unwrap();
    let (org_id, partner_id) = (organization["id"].as_str().unwrap(), partner["id"].as_str().unwrap());
    admin
        .admin::<Value, Value>(Method::PUT, &format!("/partners/{partner_id}/organizations/{org_id}"), None)
        .await
        .unwrap();
    let user: Value = admin
        .admin(
            Method::POST,
            &format!("/organizations/{org_id}/users"),
            Some(&json!({"email": "a@b.no", "given_name": "A", "family_name": "B"})),
        )
        .await
        .unwrap();
    let credentials = PartnerCredentials {
        partner_id: partner_id.to_owned(),
        partner_secret: partner["secret"].as_str().unwrap().to_owned(),
        organization_id: org_id.to_owned(),
        organization_secret: organization["secret"].as_str().unwrap().to_owned(),
    };
    RemoteFixture { user_id: user["id"].as_str().unwrap().to_owned(), organization, partner, credentials }
}

/// A Vinst-profile signature header value of `body` by `secret` (one secret, no webhook id).
pub fn sign_one(profile: handoff_webhook::SignatureProfile, secret: &str, timestamp: &str, body: &[u8]) -> String {
    profile.sign(&[secret], "", timestamp, body).unwrap()
}
