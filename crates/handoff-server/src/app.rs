//! Boot: from `Settings` to a listening server. The binary and the tests both go through
//! [`App::build`], so tests run exactly what production runs.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use handoff_core::crypto::MasterKey;
use handoff_core::model::AuditEvent;
use handoff_core::secret::{Secret, SecretKind};
use handoff_core::store::{StoreError, Write};
use handoff_core::wire::{KeysView, RotatedKeys};
use handoff_core::Clock;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::{PublicUrl, Settings};
use crate::http::state::AppState;
use crate::infra::connections::{Limits, Slot};
use crate::infra::keyring::Keyring;
use crate::infra::sealer::Sealer;
use crate::infra::tls::{Tls, TlsError};
use crate::infra::upstream::Upstream;
use crate::infra::{ssrf, telemetry};
use crate::router::router;
use crate::services::{Adapters, Services};

/// How often expired sessions and consumed-token records are swept, and audit records past
/// `audit_retention_days` deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How often each node looks for audit records to stream.
const STREAM_INTERVAL: Duration = Duration::from_millis(250);
/// How often keys created on other nodes (rotations) are picked up.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The file in the data directory that holds the master key when no `master_key` is configured.
pub const MASTER_KEY_FILE: &str = "handoff.master.key";
/// The file in the data directory that holds the admin token when no `admin_token` is configured.
pub const ADMIN_TOKEN_FILE: &str = "handoff.admin-token";

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Crypto(#[from] handoff_core::crypto::CryptoError),
    #[error("cannot load the TLS certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BootError {
    let context = context.into();
    move |source| BootError::Io { context, source }
}

/// Reads `path`, or creates it with `make()` (mode 0600) when it does not exist.
fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> Result<(String, bool), BootError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text.trim().to_owned(), false)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let value = make();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io_error(format!("cannot create {}", path.display())))?;
            io::Write::write_all(&mut file, format!("{value}\n").as_bytes())
                .map_err(io_error(format!("cannot write {}", path.display())))?;
            Ok((value, true))
        }
        Err(err) => Err(io_error(format!("cannot read {}", path.display()))(err)),
    }
}

/// The configured master key, or the one in the data directory (created on first use).
fn master_key(settings: &Settings) -> Result<MasterKey, BootError> {
    match &settings.master_key {
        Some(encoded) => Ok(MasterKey::from_base64(encoded)?),
        None => {
            let path = settings.data_dir.join(MASTER_KEY_FILE);
            let (encoded, created) = read_or_create(&path, || MasterKey::generate().1)?;
            if created {
                tracing::warn!(
                    path = %path.display(),
                    "NO master_key CONFIGURED: generated one and stored it next to the data. Anyone who can \
                     read this file can unseal every key. For production set master_key (HANDOFF_MASTER_KEY) \
                     from a secret store and keep a backup of it."
                );
            } else {
                tracing::warn!(path = %path.display(), "using the master key file in the data directory");
            }
            Ok(MasterKey::from_base64(&encoded)?)
        }
    }
}

/// The signing keys in the configured store, for `handoff keys`: the operator's way on the
/// host, with the configuration of `serve` and no admin token.
pub struct OfflineKeys {
    store: Arc<dyn handoff_core::store::Store>,
    keys: Keyring,
    clock: Arc<dyn Clock>,
}

impl OfflineKeys {
    pub async fn open(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, BootError> {
        // A missing key file means the wrong directory, not a new deployment: refuse.
        let key_file = settings.data_dir.join(MASTER_KEY_FILE);
        if settings.master_key.is_none() && !key_file.exists() {
            let message = format!(
                "no master_key configured and no {}: point --data-dir or --config at the server's",
                key_file.display()
            );
            return Err(io_error("cannot open the keys")(io::Error::new(io::ErrorKind::NotFound, message)));
        }
        let master = master_key(settings)?;
        let store = handoff_store::connect(&settings.database_url, &settings.pool).await?;
        let keys = Keyring::open(store.clone(), master, clock.as_ref()).await?;
        Ok(Self { store, keys, clock })
    }

    pub fn describe(&self) -> KeysView {
        self.keys.describe()
    }

    /// New keys of every kind, audited like the admin API's rotation. Running nodes sign with
    /// them once they reload their keys (within 30 seconds); older keys keep verifying.
    pub async fn rotate(&self) -> Result<RotatedKeys, BootError> {
        let now = self.clock.unix();
        let rotated = self.keys.rotate(now).await?;
        let detail = format!(
            "sso={} identity={} prefill={} via=cli",
            rotated.sso_kid, rotated.identity_kid, rotated.prefill_kid
        );
        let audit = AuditEvent { kind: "admin.keys.rotate".into(), detail: Some(detail), ..AuditEvent::default() }
            .accepted(now, "ok");
        self.store.commit(vec![Write::Audit(audit)]).await?;
        Ok(rotated)
    }
}

pub struct App {
    listener: TcpListener,
    router: Router,
    services: Arc<Services>,
    tls: Option<Tls>,
}

impl App {
    /// Opens the store (applying migrations), loads or creates keys, binds the listener.
    pub async fn build(mut settings: Settings, clock: Arc<dyn Clock>) -> Result<App, BootError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(io_error(format!("cannot create data directory {}", settings.data_dir.display())))?;
        let tls = settings.tls.clone().map(Tls::load).transpose()?;
        let master = master_key(&settings)?;
        let admin_token = match &settings.admin_token {
            Some(token) => Secret::from_plaintext(token.clone()).digest(),
            None => {
                let path = settings.data_dir.join(ADMIN_TOKEN_FILE);
                let (token, created) =
                    read_or_create(&path, || Secret::generate(SecretKind::Admin).expose().to_owned())?;
                if created {
                    tracing::warn!(path = %path.display(), "no admin_token configured: generated one into this file");
                }
                Secret::from_plaintext(token).digest()
            }
        };
        let store = handoff_store::connect(&settings.database_url, &settings.pool).await?;
        let keys = Keyring::open(store.clone(), master.clone(), clock.as_ref()).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(io_error(format!("cannot listen on {}", settings.listen)))?;
        if settings.public_url_from_listen {
            // `listen` may name port 0; links must carry the port actually bound.
            let bound = listener.local_addr().map_err(io_error("cannot read the bound address"))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            settings.public_url = PublicUrl::parse(&format!("{scheme}://{bound}"))
                .map_err(|message| io_error("cannot derive public_url")(io::Error::other(message)))?;
        }
        let upstream = settings.upstream.clone().map(Upstream::new);
        telemetry::handle();
        let http = ssrf::client(settings.allow_private_endpoints)
            .map_err(|err| io_error("cannot build the supplier HTTP client")(io::Error::other(err)))?;
        let sealer = Sealer::new(master);
        let services = Arc::new(Services::new(Adapters { settings, store, clock, keys, sealer, admin_token, http }));
        let router = router(AppState::new(services.clone(), upstream));
        Ok(App { listener, router, services, tls })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The services this app serves (the binary's `--demo` uses them, tests run the background
    /// purges through them).
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let services = self.services.clone();
        let purger = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PURGE_INTERVAL);
            loop {
                ticker.tick().await;
                services.purge_expired().await;
                services.purge_audit().await;
            }
        });
        let services = self.services.clone();
        tracing::info!(node = services.node(), "audit streams: this node takes leases as this node id");
        let streams = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(STREAM_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                // A stream that is behind is stepped again at once, not a tick later.
                while services.deliver_streams().await {}
            }
        });
        let services = self.services.clone();
        let refresher = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(KEY_REFRESH_INTERVAL);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                services.reload_keys().await;
            }
        });
        let upkeep = tokio::spawn(async {
            let mut ticker = tokio::time::interval(telemetry::UPKEEP_INTERVAL);
            loop {
                ticker.tick().await;
                if let Some(handle) = telemetry::handle() {
                    handle.run_upkeep();
                }
            }
        });
        let (acceptor, reloader) = match self.tls {
            Some(Tls { acceptor, reloader }) => (Some(acceptor), Some(tokio::spawn(reloader.run()))),
            None => (None, None),
        };
        let settings = self.services.settings();
        let limits = Limits::new(
            settings.max_connections,
            settings.max_connections_per_client,
            settings.trusted_proxies.clone(),
        );
        let listen =
            Listen { listener: self.listener, tls: acceptor, header_read_timeout: settings.header_read_timeout };
        let result = serve(listen, self.router, limits, shutdown).await;
        purger.abort();
        streams.abort();
        refresher.abort();
        upkeep.abort();
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        // Another node may deliver this node's streams at once instead of after the lease.
        self.services.release_streams().await;
        result
    }
}

/// The listening socket and how its connections are opened.
struct Listen {
    listener: TcpListener,
    /// Set for the TLS listener (`tls_cert`, `tls_key`).
    tls: Option<TlsAcceptor>,
    /// How long a client may take for its TLS handshake, and then for each request's headers.
    header_read_timeout: Duration,
}

/// Serves on `listen` until `shutdown`, then lets every open connection finish its request.
/// Connections over the caps of `limits` are closed at accept. Plain connections speak HTTP/1.1;
/// TLS connections HTTP/2 or HTTP/1.1, as ALPN agreed. What `axum::serve` does, plus hyper's
/// timer: without one hyper never enforces `header_read_timeout`, and a client sending its
/// headers a byte at a time (slow loris) would hold its connection for ever. The TLS handshake
/// and a connection's first request must also come within `header_read_timeout`.
async fn serve(listen: Listen, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let Listen { listener, tls, header_read_timeout } = listen;
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    // Pings find the HTTP/2 connections whose peer is gone (an idle one holds its place).
    http.http2().timer(TokioTimer::new()).keep_alive_interval(HTTP2_KEEP_ALIVE);
    let protocols =
        Arc::new(Protocols { http1: http.clone().http1_only(), http2: http.http2_only(), header_read_timeout });
    // `stop` tells the connections to finish; `open` is held by each until it has.
    let (stop, stopping) = watch::channel(());
    let (open, connections) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match limits.admit(peer.ip()) {
            Ok(admitted) => Slot::from(admitted),
            Err(cap) => {
                telemetry::connection_refused(cap);
                tracing::debug!(cap, "connection refused at accept");
                continue;
            }
        };
        let connection =
            Connection { protocols: protocols.clone(), router: router.clone(), peer, slot, stopping: stopping.clone() };
        let (tls, held) = (tls.clone(), connections.clone());
        tokio::spawn(async move {
            match tls {
                None => connection.serve(stream, false).await,
                Some(tls) => match tokio::time::timeout(header_read_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        connection.serve(stream, http2).await;
                    }
                    Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
            drop(held);
        });
    }
    drop(listener);
    let _ = stop.send(());
    drop(connections);
    open.closed().await;
    Ok(())
}

/// How often an HTTP/2 connection is pinged.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(30);

/// hyper's connection settings, one per protocol (the version is chosen, never sniffed), and the
/// time a connection has to send its first request.
struct Protocols {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
}

/// One accepted connection: the same serving for plain and TLS streams.
struct Connection {
    protocols: Arc<Protocols>,
    router: Router,
    peer: SocketAddr,
    /// Its place under the connection caps, given back when the connection (and any WebSocket
    /// tunnel holding a clone) ends.
    slot: Slot,
    stopping: watch::Receiver<()>,
}

impl Connection {
    /// Serves HTTP/2 when `http2` (ALPN agreed on `h2`), else HTTP/1.1.
    async fn serve(
        self,
        stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        http2: bool,
    ) {
        let Self { protocols, router, peer, slot, mut stopping } = self;
        let (request_slot, asked) = (slot.clone(), Arc::new(AtomicBool::new(false)));
        let asked_here = asked.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            asked_here.store(true, Ordering::Relaxed);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(request_slot.clone());
            router.clone().oneshot(request.map(Body::new))
        });
        let http = if http2 { &protocols.http2 } else { &protocols.http1 };
        let connection = http.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        // A connection that never asks anything (an HTTP/2 client that sends no preface) is
        // dropped: nothing is in flight on it.
        let silent = async {
            tokio::time::sleep(protocols.header_read_timeout).await;
            if !asked.load(Ordering::Relaxed) {
                return;
            }
            std::future::pending::<()>().await;
        };
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = silent => {
                tracing::debug!("connection closed: no request within header_read_timeout");
                Ok(())
            }
            _ = stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(%err, "connection ended with an error");
        }
        drop(slot);
    }
}
