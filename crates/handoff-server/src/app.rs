//! Boot: from `Settings` to a listening server. The binary and the tests both go through
//! [`App::build`], so tests run exactly what production runs.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::HeaderName;
use axum::Router;
use handoff_core::crypto::MasterKey;
use handoff_core::model::{bounded, AuditEvent, Outcome, AUDIT_FIELD_LIMIT};
use handoff_core::secret::{Secret, SecretKind};
use handoff_core::store::{StoreError, Write};
use handoff_core::wire::{KeysView, RotatedKeys};
use handoff_core::Clock;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower::ServiceExt as _;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::cache::Caches;
use crate::config::{PublicUrl, Settings};
use crate::connections::{Limits, Slot};
use crate::extract::BODY_LIMIT;
use crate::journal::Journal;
use crate::keyring::Keyring;
use crate::proxy::Upstream;
use crate::state::{AppState, Inner};
use crate::{admin, inbound, metrics, openapi, ops, outbound, partner_api, portal, web};

/// Longest time one request may take before the server answers 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often expired sessions and consumed-token records are swept.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How often keys created on other nodes (rotations) are picked up.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

const MASTER_KEY_FILE: &str = "handoff.master.key";
const ADMIN_TOKEN_FILE: &str = "handoff.admin-token";

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
        let audit = AuditEvent {
            at: now,
            kind: "admin.keys.rotate".into(),
            outcome: Some(Outcome::Accepted),
            reason: "ok".into(),
            detail: Some(format!(
                "sso={} identity={} prefill={} via=cli",
                rotated.sso_kid, rotated.identity_kid, rotated.prefill_kid
            )),
            ..AuditEvent::default()
        };
        self.store.commit(vec![Write::Audit(audit)]).await?;
        Ok(rotated)
    }
}

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
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
        let journal = Journal::start(store.clone());
        metrics::handle();
        let http = outbound::client(settings.allow_private_endpoints)
            .map_err(|err| io_error("cannot build the supplier HTTP client")(io::Error::other(err)))?;
        let state = AppState::new(Inner {
            settings,
            store,
            clock,
            keys,
            journal,
            master,
            admin_token,
            caches: Caches::default(),
            partner_windows: Mutex::default(),
            upstream,
            http,
        });
        let router = router(state.clone());
        Ok(App { listener, router, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let purge_state = self.state.clone();
        let purger = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PURGE_INTERVAL);
            loop {
                ticker.tick().await;
                let now = purge_state.now();
                let idle_cutoff = now - purge_state.settings.session_idle_timeout;
                if let Err(err) = purge_state.store.purge_expired(now, idle_cutoff).await {
                    tracing::warn!(%err, "purging expired sessions failed");
                }
            }
        });
        let refresh_state = self.state.clone();
        let refresher = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(KEY_REFRESH_INTERVAL);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if let Err(err) = refresh_state.keys.reload().await {
                    tracing::warn!(%err, "refreshing the signing keys failed");
                }
            }
        });
        let upkeep = tokio::spawn(async {
            let mut ticker = tokio::time::interval(metrics::UPKEEP_INTERVAL);
            loop {
                ticker.tick().await;
                if let Some(handle) = metrics::handle() {
                    handle.run_upkeep();
                }
            }
        });
        let settings = &self.state.settings;
        let limits = Limits::new(
            settings.max_connections,
            settings.max_connections_per_client,
            settings.trusted_proxies.clone(),
        );
        let result = serve(self.listener, self.router, settings.header_read_timeout, limits, shutdown).await;
        purger.abort();
        refresher.abort();
        upkeep.abort();
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
                metrics::connection_refused(cap);
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

fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(web::REQUEST_ID);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
        // The path only (query strings carry tokens, which never reach the log), and bounded.
        let id = request.headers().get(web::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        let path = bounded(request.uri().path(), AUDIT_FIELD_LIMIT);
        tracing::info_span!("request", method = metrics::method_label(request.method()), path = %path, request_id = %id)
    });
    Router::new()
        .merge(partner_api::routes())
        .merge(inbound::routes())
        .merge(outbound::routes())
        .merge(portal::routes())
        .merge(admin::routes())
        .merge(ops::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .fallback(portal::application)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::map_request(web::drop_unsafe_request_id))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(trace)
                .layer(axum::middleware::from_fn_with_state(state.clone(), web::finish))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .with_state(state)
}
