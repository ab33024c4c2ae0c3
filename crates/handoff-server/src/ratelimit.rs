//! Failed-authentication limiting per client address, in fixed one-minute windows. The counters
//! live in the store, so the limit holds across every node; this module holds the arithmetic.

/// Length of one counting window.
pub const WINDOW_SECONDS: i64 = 60;

/// Seconds to wait, when the window starting at `start` already holds `count >= limit` failures
/// and has not ended by `now`.
pub fn retry_after(start: i64, count: i64, limit: u32, now: i64) -> Option<u64> {
    (count >= i64::from(limit) && now < start + WINDOW_SECONDS)
        .then(|| (start + WINDOW_SECONDS - now).unsigned_abs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_until_window_ends() {
        assert_eq!(retry_after(100, 1, 2, 100), None);
        assert_eq!(retry_after(100, 2, 2, 110), Some(50));
        assert_eq!(retry_after(100, 9, 2, 159), Some(1));
        assert_eq!(retry_after(100, 9, 2, 160), None);
    }
}
