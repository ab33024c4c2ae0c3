//! Failed-authentication limiter: per client address, a fixed one-minute window.
//!
//! Kept in process memory for now: each node limits on its own, so N nodes allow N times the
//! configured rate. The shared, store-backed limiter is tracked as part of the hardening work.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_SECONDS: i64 = 60;
/// Above this many tracked addresses, stale windows are swept on the next failure.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct FailureLimiter {
    limit: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl FailureLimiter {
    pub fn new(limit: u32) -> Self {
        Self { limit, windows: Mutex::new(HashMap::new()) }
    }

    /// `Some(seconds to wait)` when `key` has used up its failures for the current window.
    pub fn blocked(&self, key: &str, now: i64) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match windows.get(key) {
            Some(&(start, count)) if count >= self.limit && now < start + WINDOW_SECONDS => {
                Some((start + WINDOW_SECONDS - now).unsigned_abs().max(1))
            }
            _ => None,
        }
    }

    /// Counts one failure for `key`.
    pub fn fail(&self, key: &str, now: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now < *start + WINDOW_SECONDS);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0 + WINDOW_SECONDS {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_until_window_ends() {
        let limiter = FailureLimiter::new(2);
        limiter.fail("a", 100);
        assert_eq!(limiter.blocked("a", 100), None);
        limiter.fail("a", 101);
        assert_eq!(limiter.blocked("a", 110), Some(50));
        assert_eq!(limiter.blocked("b", 110), None);
        assert_eq!(limiter.blocked("a", 160), None);
    }
}
