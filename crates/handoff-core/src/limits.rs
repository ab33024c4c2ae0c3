//! Rate limits, their arithmetic only. Failed authentications are counted per client address
//! and per partner in fixed one-minute windows whose counters live in the store, so those limits
//! hold across every node. Each partner's request budget is counted per second on each node.

use std::net::{IpAddr, Ipv6Addr};

/// Length of one counting window.
pub const WINDOW_SECONDS: i64 = 60;

/// Seconds to wait, when the window starting at `start` already holds `count >= limit` failures
/// and has not ended by `now`.
pub fn retry_after(start: i64, count: i64, limit: u32, now: i64) -> Option<u64> {
    (count >= i64::from(limit) && now < start + WINDOW_SECONDS)
        .then(|| (start + WINDOW_SECONDS - now).unsigned_abs().max(1))
}

/// Admits one request into the one-second window `window` = (second, requests so far) at `now`;
/// `false` once the window holds `limit` requests. A `limit` of 0 admits everything.
pub fn admit(window: &mut (i64, u32), now: i64, limit: u32) -> bool {
    if limit == 0 {
        return true;
    }
    if window.0 != now {
        *window = (now, 0);
    }
    window.1 = window.1.saturating_add(1);
    window.1 <= limit
}

/// Whom an address stands for in limits: itself for IPv4, its /64 for IPv6 (one subscriber, one
/// host, usually holds a whole /64, so counting single IPv6 addresses would count nothing).
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// The key failed authentications naming `partner` are counted under.
pub fn partner_key(partner: impl std::fmt::Display) -> String {
    format!("partner:{partner}")
}

/// The failure counter of one inbound integration, across addresses and nodes.
pub fn integration_key(integration: impl std::fmt::Display) -> String {
    format!("integration:{integration}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_per_second() {
        let mut window = (0, 0);
        assert!(admit(&mut window, 100, 2));
        assert!(admit(&mut window, 100, 2));
        assert!(!admit(&mut window, 100, 2));
        assert!(admit(&mut window, 101, 2));
        assert!((0..10).all(|_| admit(&mut window, 101, 0)));
    }

    #[test]
    fn blocks_after_limit_until_window_ends() {
        assert_eq!(retry_after(100, 1, 2, 100), None);
        assert_eq!(retry_after(100, 2, 2, 110), Some(50));
        assert_eq!(retry_after(100, 9, 2, 159), Some(1));
        assert_eq!(retry_after(100, 9, 2, 160), None);
    }
}
