//! Read-through caches for the hot path: partners, organizations, links, users, sessions,
//! failure windows and identity tokens. Entries live for [`TTL`]; changes made through this
//! node invalidate them at once, changes made on another node show here within [`TTL`].

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handoff_core::ids::{IntegrationId, OrganizationId, PartnerId, SessionId, UserId};
use handoff_core::model::{InboundIntegration, Organization, Partner, Session, User};
use handoff_core::store::StoreResult;

/// How long a cached answer is trusted.
pub const TTL: Duration = Duration::from_secs(2);
/// Entries per cache before it is emptied (bounds memory against floods of unknown ids).
const MAX_ENTRIES: usize = 100_000;

/// A map whose entries expire after [`TTL`].
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh cached value, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.lock();
        entries.get(key).filter(|(at, _)| at.elapsed() < TTL).map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// The cached value, or `load`'s answer (then cached).
    pub async fn get_or_load<F: Future<Output = StoreResult<V>>>(&self, key: K, load: F) -> StoreResult<V> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = load.await?;
        self.put(key, value.clone());
        Ok(value)
    }

    pub fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// Every hot-path cache of one node.
#[derive(Default)]
pub struct Caches {
    pub partners: TtlCache<PartnerId, Option<Arc<Partner>>>,
    pub organizations: TtlCache<OrganizationId, Option<Arc<Organization>>>,
    pub links: TtlCache<(PartnerId, OrganizationId), bool>,
    pub users: TtlCache<UserId, Option<Arc<User>>>,
    pub users_by_email: TtlCache<(OrganizationId, String), Option<Arc<User>>>,
    pub organizations_by_number: TtlCache<String, Option<Arc<Organization>>>,
    pub integrations: TtlCache<String, Option<Arc<InboundIntegration>>>,
    /// Whether an inbound integration serves an organization.
    pub integration_links: TtlCache<(IntegrationId, OrganizationId), bool>,
    pub sessions: TtlCache<SessionId, Option<Arc<Session>>>,
    /// Failure windows per client address; dropped at every local failure.
    pub failures: TtlCache<String, Option<(i64, i64)>>,
    /// Identity tokens per session: (token, expiry), reused while comfortably valid.
    pub identity_tokens: TtlCache<SessionId, (Arc<str>, i64)>,
}
