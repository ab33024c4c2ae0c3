//! The failed-authentication limits (per client address, per partner, per integration: counters
//! in the store, so they hold across nodes) and each partner's request budget (per node). The
//! arithmetic is `handoff_core::limits`.

use handoff_core::ids::PartnerId;
use handoff_core::limits;
use handoff_core::problem::ProblemKind;

use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};

/// The 429 answer for a partner over its request budget.
pub fn over_budget() -> ApiError {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(ProblemKind::RateLimited, "Too many requests from this partner; retry in a second.")
    }
}

/// The 429 answer for a client that must wait `seconds`.
pub fn rate_limited(seconds: u64) -> ApiError {
    ApiError {
        retry_after: Some(seconds),
        ..ApiError::new(ProblemKind::RateLimited, "Too many failed authentication attempts; retry later.")
    }
}

impl Services {
    /// A 429 when the client behind `ctx` used up its failed authentications.
    pub(super) async fn check_client(&self, ctx: &Ctx) -> ApiResult<()> {
        self.check_key(ctx.limiter_key(), self.settings.failed_auth_limit).await
    }

    /// A 429 when failures counted under `key` reached `limit` in this window.
    pub(super) async fn check_key(&self, key: &str, limit: u32) -> ApiResult<()> {
        let window = self.store.failures(key).await?;
        match window.and_then(|(start, count)| limits::retry_after(start, count, limit, self.now())) {
            Some(wait) => Err(rate_limited(wait)),
            None => Ok(()),
        }
    }

    /// Counts one failed authentication under each of `keys` (client addresses, a partner, an
    /// integration).
    pub(super) async fn count_failure(&self, keys: &[&str]) {
        for key in keys {
            if let Err(err) = self.store.record_failure(key, self.now(), limits::WINDOW_SECONDS).await {
                tracing::error!(%err, "counting a failed authentication failed");
            }
        }
    }

    /// Admits one request of `partner` into this second's budget (`partner_rate_limit`).
    pub(super) fn admit_partner(&self, partner: PartnerId) -> ApiResult<()> {
        let mut windows = self.partner_windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let admitted = limits::admit(windows.entry(partner).or_default(), self.now(), self.settings.partner_rate_limit);
        if admitted {
            Ok(())
        } else {
            Err(over_budget())
        }
    }
}
