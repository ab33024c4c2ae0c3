//! The TLS listener's certificate (`tls_cert`, `tls_key`): rustls with the ring provider and its
//! safe defaults (TLS 1.3 and 1.2), ALPN `h2` and `http/1.1`, and renewal without a restart.
//!
//! Renewal swaps only the certificate and key that the next handshake picks ([`Current`]):
//! the listener, the open connections and handshakes under way are never touched, so no request
//! fails during a swap. The files are read again on SIGHUP and whenever their content changes
//! (checked every [`POLL_INTERVAL`]). A pair that cannot be used (unreadable, not PEM, a key that
//! does not belong to the certificate — as when a renewal is caught between its two writes) is
//! logged with the file it is about, and the previous pair keeps serving.
//!
//! Must not: take the listener down, log key material.

use std::io;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;
use crate::infra::telemetry;

/// How often the files are compared with the pair last loaded.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// A file of the pair that cannot be used, named by its setting and path.
#[derive(Debug, thiserror::Error)]
#[error("{setting} {path}: {message}")]
pub struct TlsError {
    setting: &'static str,
    path: String,
    message: String,
}

impl TlsError {
    fn new(setting: &'static str, path: &Path, message: impl Into<String>) -> Self {
        Self { setting, path: path.display().to_string(), message: message.into() }
    }
}

/// The listener's acceptor and what keeps its certificate current.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub reloader: Reloader,
}

impl Tls {
    /// Loads the pair (a start-up error names the file at fault) and listens for SIGHUP.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let provider = Arc::new(ring::default_provider());
        let contents = read(&files).map_err(|(err, _)| err)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(certified(&files, &contents, &provider)?))));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|err| TlsError::new("tls_cert", &files.cert, err.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let reloader = Reloader { files, provider, current, seen: Ok(contents), hangup: Hangup::install() };
        Ok(Tls { acceptor, reloader })
    }
}

/// The certificate and key every new handshake gets.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// The bytes of both files.
type Contents = (Vec<u8>, Vec<u8>);

/// Why the files were read again, as logs and `/metrics` name it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Poll,
    Hangup,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Poll => "file_change",
            Trigger::Hangup => "sighup",
        }
    }
}

/// Reloads the pair on SIGHUP and when the files change; see the module's header.
pub struct Reloader {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    /// What the files held when last read (or why they could not be read): a poll that finds
    /// the same again does nothing, so a broken pair is logged once, not every few seconds.
    seen: Result<Contents, String>,
    hangup: Hangup,
}

impl Reloader {
    /// Runs for as long as the server does.
    pub async fn run(mut self) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        loop {
            let trigger = tokio::select! {
                _ = poll.tick() => Trigger::Poll,
                () = self.hangup.recv() => Trigger::Hangup,
            };
            self.check(trigger);
        }
    }

    fn check(&mut self, trigger: Trigger) {
        let (files, read) = (&self.files, read(&self.files));
        let seen = read.as_ref().map(Clone::clone).map_err(|(_, message)| message.clone());
        if trigger == Trigger::Poll && seen == self.seen {
            return;
        }
        self.seen = seen;
        let loaded = read.map_err(|(err, _)| err).and_then(|contents| certified(files, &contents, &self.provider));
        match loaded {
            Ok(key) => {
                *self.current.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                telemetry::tls_reload(trigger.as_str(), true);
                tracing::info!(trigger = trigger.as_str(), cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(err) => {
                telemetry::tls_reload(trigger.as_str(), false);
                tracing::warn!(
                    trigger = trigger.as_str(),
                    error = %err,
                    "cannot load the new TLS certificate and key: still serving the previous ones"
                );
            }
        }
    }
}

/// Both files' bytes, or the error (and its text, to compare) of the first that cannot be read.
fn read(files: &TlsFiles) -> Result<Contents, (TlsError, String)> {
    let one = |setting, path: &Path| {
        std::fs::read(path).map_err(|err: io::Error| {
            let err = TlsError::new(setting, path, format!("cannot read: {err}"));
            let text = err.to_string();
            (err, text)
        })
    };
    Ok((one("tls_cert", &files.cert)?, one("tls_key", &files.key)?))
}

/// The chain and key in `contents`, checked to belong together.
fn certified(files: &TlsFiles, (cert, key): &Contents, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::new("tls_cert", &files.cert, format!("is not a PEM certificate chain: {err}")))?;
    if chain.is_empty() {
        return Err(TlsError::new("tls_cert", &files.cert, "holds no PEM CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|err| {
        TlsError::new("tls_key", &files.key, format!("holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {err}"))
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|err| {
        let message = format!("is not the key of the certificate in {}: {err}", files.cert.display());
        TlsError::new("tls_key", &files.key, message)
    })
}

/// SIGHUP, listened for from start-up on, so a signal right after "listening" is already caught
/// (unhandled, it would end the process).
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn install() -> Self {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|err| tracing::warn!(%err, "cannot listen for SIGHUP: TLS files reload on change only"))
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes at the next SIGHUP; never, where there are none.
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}
