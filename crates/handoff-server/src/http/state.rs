//! The router state: the services, and the upstream application when reverse-proxying.

use std::sync::Arc;

use crate::infra::upstream::Upstream;
use crate::services::Services;

#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
    upstream: Option<Arc<Upstream>>,
}

impl AppState {
    pub fn new(services: Arc<Services>, upstream: Option<Upstream>) -> Self {
        Self { services, upstream: upstream.map(Arc::new) }
    }

    /// The protected application, when handoff reverse-proxies to it.
    pub fn upstream(&self) -> Option<&Upstream> {
        self.upstream.as_deref()
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
