//! The server's signing keys: loaded from the store, unsealed with the master key, created on
//! first start, and reloaded when a token names a `kid` this node has not seen (a key created or
//! rotated on another node).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use handoff_core::crypto::{generate_ed25519, MasterKey};
use handoff_core::secret::random_bytes;
use handoff_core::store::{Store, StoreError, StoredKey};
use handoff_core::token::{KeyKind, KeyMaterial, KeySet, TokenError};
use handoff_core::wire::{KeySetView, KeysView, RotatedKeys};
use handoff_core::Clock;

/// At most one reload per this interval, so forged `kid`s cannot hammer the database.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

pub struct Keyring {
    store: Arc<dyn Store>,
    master: MasterKey,
    sso: RwLock<Arc<KeySet>>,
    identity: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Option<Instant>>,
}

fn seal_context(kid: &str, kind: KeyKind) -> String {
    format!("handoff:key:{}:{kid}", kind.as_str())
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = value;
}

impl Keyring {
    /// Loads the keys, creating any kind that has none yet.
    pub async fn open(store: Arc<dyn Store>, master: MasterKey, clock: &dyn Clock) -> Result<Self, StoreError> {
        let ring = Self {
            store,
            master,
            sso: RwLock::new(Arc::new(KeySet::new(KeyKind::SsoHmac, &[]))),
            identity: RwLock::new(Arc::new(KeySet::new(KeyKind::Ed25519, &[]))),
            last_reload: Mutex::new(None),
        };
        ring.reload().await?;
        let mut created = false;
        if ring.sso().is_empty() {
            ring.create(KeyKind::SsoHmac, clock.unix()).await?;
            created = true;
        }
        if ring.identity().is_empty() {
            ring.create(KeyKind::Ed25519, clock.unix()).await?;
            created = true;
        }
        if created {
            ring.reload().await?;
        }
        Ok(ring)
    }

    pub fn sso(&self) -> Arc<KeySet> {
        read(&self.sso)
    }

    pub fn identity(&self) -> Arc<KeySet> {
        read(&self.identity)
    }

    /// Generates, seals and stores a new key of `kind`; it signs from the next reload on.
    pub async fn create(&self, kind: KeyKind, now: i64) -> Result<String, StoreError> {
        let kid = URL_SAFE_NO_PAD.encode(random_bytes::<12>());
        let (secret, public) = match kind {
            KeyKind::SsoHmac => (random_bytes::<32>().to_vec(), Vec::new()),
            KeyKind::Ed25519 => generate_ed25519().map_err(|e| StoreError::Backend(e.to_string()))?,
        };
        let sealed_secret =
            self.master.seal(&secret, &seal_context(&kid, kind)).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.store.insert_key(&StoredKey { kid: kid.clone(), kind, sealed_secret, public, created_at: now }).await?;
        Ok(kid)
    }

    /// New keys of both kinds; they sign on this node at once and on the others after their next
    /// reload. Every older key keeps verifying.
    pub async fn rotate(&self, now: i64) -> Result<RotatedKeys, StoreError> {
        let sso_kid = self.create(KeyKind::SsoHmac, now).await?;
        let identity_kid = self.create(KeyKind::Ed25519, now).await?;
        self.reload().await?;
        Ok(RotatedKeys { sso_kid, identity_kid })
    }

    /// Re-reads every key from the store.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let stored = self.store.keys().await?;
        let mut material = Vec::with_capacity(stored.len());
        for key in stored {
            let secret = self.master.open(&key.sealed_secret, &seal_context(&key.kid, key.kind)).map_err(|_| {
                StoreError::Backend(format!(
                    "key {} cannot be unsealed: the master key differs from the one that sealed it",
                    key.kid
                ))
            })?;
            material.push(KeyMaterial {
                kid: key.kid,
                kind: key.kind,
                secret,
                public: key.public,
                created_at: key.created_at,
            });
        }
        write(&self.sso, Arc::new(KeySet::new(KeyKind::SsoHmac, &material)));
        write(&self.identity, Arc::new(KeySet::new(KeyKind::Ed25519, &material)));
        Ok(())
    }

    /// The kids of both key sets: `{"sso": {"current", "kids"}, "identity": {…}}`.
    pub fn describe(&self) -> KeysView {
        let describe = |set: &KeySet| KeySetView {
            current: set.current().map(str::to_owned),
            kids: set.kids().into_iter().map(str::to_owned).collect(),
        };
        KeysView { sso: describe(&self.sso()), identity: describe(&self.identity()) }
    }

    /// Verifies an SSO token, reloading the keys once if it names an unknown `kid`.
    pub async fn verify_sso<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<T, TokenError> {
        match self.sso().verify(token, issuer, audience) {
            Err(TokenError::UnknownKey) if self.may_reload() => {
                if let Err(err) = self.reload().await {
                    tracing::error!(%err, "key reload failed");
                }
                self.sso().verify(token, issuer, audience).map_err(|e| match e {
                    TokenError::UnknownKey => TokenError::Invalid,
                    other => other,
                })
            }
            Err(TokenError::UnknownKey) => Err(TokenError::Invalid),
            other => other,
        }
    }

    fn may_reload(&self) -> bool {
        let mut last = self.last_reload.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }
}
