//! The server's signing keys, one set per token kind (SSO, identity, registration prefill):
//! loaded from the store, unsealed with the master key, created on first start, rotated together,
//! and reloaded when a token names a `kid` this node has not seen (a key created or
//! rotated on another node).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use handoff_core::crypto::{generate_ed25519, MasterKey};
use handoff_core::secret::random_bytes;
use handoff_core::store::{Store, StoreError, StoredKey};
use handoff_core::token::{Jwks, KeyKind, KeyMaterial, KeySet, TokenError};
use handoff_core::wire::{KeySetView, KeysView, RotatedKeys};
use handoff_core::Clock;

/// At most one reload per this interval, so forged `kid`s cannot hammer the database.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Every kind of key: each is created at first start and rotated with the others.
const KINDS: [KeyKind; 3] = [KeyKind::SsoHmac, KeyKind::Identity, KeyKind::Prefill];

pub struct Keyring {
    store: Arc<dyn Store>,
    master: MasterKey,
    sso: RwLock<Arc<KeySet>>,
    identity: RwLock<Arc<KeySet>>,
    prefill: RwLock<Arc<KeySet>>,
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
            sso: RwLock::new(Arc::new(KeySet::empty(KeyKind::SsoHmac))),
            identity: RwLock::new(Arc::new(KeySet::empty(KeyKind::Identity))),
            prefill: RwLock::new(Arc::new(KeySet::empty(KeyKind::Prefill))),
            last_reload: Mutex::new(None),
        };
        ring.reload().await?;
        let mut created = false;
        for kind in KINDS {
            if ring.set(kind).is_empty() {
                ring.create(kind, clock.unix()).await?;
                created = true;
            }
        }
        if created {
            ring.reload().await?;
        }
        Ok(ring)
    }

    fn lock(&self, kind: KeyKind) -> &RwLock<Arc<KeySet>> {
        match kind {
            KeyKind::SsoHmac => &self.sso,
            KeyKind::Identity => &self.identity,
            KeyKind::Prefill => &self.prefill,
        }
    }

    fn set(&self, kind: KeyKind) -> Arc<KeySet> {
        read(self.lock(kind))
    }

    pub fn sso(&self) -> Arc<KeySet> {
        self.set(KeyKind::SsoHmac)
    }

    pub fn identity(&self) -> Arc<KeySet> {
        self.set(KeyKind::Identity)
    }

    pub fn prefill(&self) -> Arc<KeySet> {
        self.set(KeyKind::Prefill)
    }

    /// The public keys of identity and prefill tokens (distinct keys and kids; the `typ` header
    /// tells the kinds apart).
    pub fn jwks(&self) -> Jwks {
        Jwks::of(&[&self.identity(), &self.prefill()])
    }

    /// Generates, seals and stores a new key of `kind`; it signs from the next reload on.
    pub async fn create(&self, kind: KeyKind, now: i64) -> Result<String, StoreError> {
        let kid = URL_SAFE_NO_PAD.encode(random_bytes::<12>());
        let (secret, public) = match kind {
            KeyKind::SsoHmac => (random_bytes::<32>().to_vec(), Vec::new()),
            KeyKind::Identity | KeyKind::Prefill => {
                generate_ed25519().map_err(|e| StoreError::Backend(e.to_string()))?
            }
        };
        let sealed_secret =
            self.master.seal(&secret, &seal_context(&kid, kind)).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.store.insert_key(&StoredKey { kid: kid.clone(), kind, sealed_secret, public, created_at: now }).await?;
        Ok(kid)
    }

    /// New keys of every kind; they sign on this node at once and on the others after their next
    /// reload. Every older key keeps verifying.
    pub async fn rotate(&self, now: i64) -> Result<RotatedKeys, StoreError> {
        let sso_kid = self.create(KeyKind::SsoHmac, now).await?;
        let identity_kid = self.create(KeyKind::Identity, now).await?;
        let prefill_kid = self.create(KeyKind::Prefill, now).await?;
        self.reload().await?;
        Ok(RotatedKeys { sso_kid, identity_kid, prefill_kid })
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
        let mut sets = Vec::with_capacity(KINDS.len());
        for kind in KINDS {
            let set = KeySet::new(kind, &material)
                .map_err(|_| StoreError::Backend(format!("a stored {} key is not a usable key", kind.as_str())))?;
            sets.push((kind, set));
        }
        for (kind, set) in sets {
            write(self.lock(kind), Arc::new(set));
        }
        Ok(())
    }

    /// The kids of every key set: `{"sso": {"current", "kids"}, "identity": {…}, "prefill": {…}}`.
    pub fn describe(&self) -> KeysView {
        let describe = |set: &KeySet| KeySetView {
            current: set.current().map(str::to_owned),
            kids: set.kids().into_iter().map(str::to_owned).collect(),
        };
        KeysView {
            sso: describe(&self.sso()),
            identity: describe(&self.identity()),
            prefill: describe(&self.prefill()),
        }
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
