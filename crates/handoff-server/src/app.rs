//! Boot: from `Settings` to a listening server. The binary and the tests both go through
//! [`App::build`], so tests run exactly what production runs.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
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
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::config::{PublicUrl, Settings};
use crate::http::state::AppState;
use crate::infra::connections::{Limits, Slot};
use crate::infra::keyring::Keyring;
use crate::infra::sealer::Sealer;
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
}

impl App {
    /// Opens the store (applying migrations), loads or creates keys, binds the listener.
    pub async fn build(mut settings: Settings, clock: Arc<dyn Clock>) -> Result<App, BootError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(io_error(format!("cannot create data directory {}", settings.data_dir.display())))?;
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
            settings.public_url = PublicUrl::parse(&format!("http://{bound}"))
                .map_err(|message| io_error("cannot derive public_url")(io::Error::other(message)))?;
        }
        let upstream = settings.upstream.clone().map(Upstream::new);
        telemetry::handle();
        let http = ssrf::client(settings.allow_private_endpoints)
            .map_err(|err| io_error("cannot build the supplier HTTP client")(io::Error::other(err)))?;
        let sealer = Sealer::new(master);
        let services = Arc::new(Services::new(Adapters { settings, store, clock, keys, sealer, admin_token, http }));
        let router = router(AppState::new(services.clone(), upstream));
        Ok(App { listener, router, services })
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
                services.deliver_streams().await;
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
        let settings = self.services.settings();
        let limits = Limits::new(
            settings.max_connections,
            settings.max_connections_per_client,
            settings.trusted_proxies.clone(),
        );
        let result = serve(self.listener, self.router, settings.header_read_timeout, limits, shutdown).await;
        purger.abort();
        streams.abort();
        refresher.abort();
        upkeep.abort();
        // Another node may deliver this node's streams at once instead of after the lease.
        self.services.release_streams().await;
        result
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown`, then lets every open connection finish its
/// request. Connections over the caps of `limits` are closed at accept. What `axum::serve` does, plus hyper's timer: without one hyper never enforces
/// `header_read_timeout`, and a client sending its headers a byte at a time (slow loris) would
/// hold its connection for ever.
async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
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
        let (router, request_slot) = (router.clone(), slot.clone());
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(request_slot.clone());
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let (mut stopping, held) = (stopping.clone(), connections.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
            drop((held, slot));
        });
    }
    drop(listener);
    let _ = stop.send(());
    drop(connections);
    open.closed().await;
    Ok(())
}
