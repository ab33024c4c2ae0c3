//! Open connections, counted at accept: at most `max_connections` in all and
//! `max_connections_per_client` per client (the TCP peer, IPv6 per /64; `trusted_proxies`, which
//! carry many clients, are exempt from the per-client cap). A connection over a cap is closed at
//! once, before any byte is read, and counted in `/metrics`. One client holding hundreds of
//! keep-alive connections can then no longer use up the process's file descriptors.
//!
//! Also raises the soft `RLIMIT_NOFILE` to the hard limit at start, as servers do.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use handoff_core::limits::client_key;

use crate::infra::telemetry;

/// File descriptors kept free beyond the connections: the database, log files, upstream and
/// supplier connections.
const RESERVED_DESCRIPTORS: u64 = 128;

#[derive(Default)]
struct Open {
    total: u32,
    per_client: HashMap<IpAddr, u32>,
}

/// The caps and who is exempt from the per-client one.
pub struct Limits {
    total: u32,
    per_client: u32,
    exempt: Vec<IpAddr>,
    open: Arc<Mutex<Open>>,
}

/// One admitted connection; dropping it gives its place back.
pub struct Admitted {
    client: Option<IpAddr>,
    open: Arc<Mutex<Open>>,
}

impl Limits {
    pub fn new(total: u32, per_client: u32, exempt: Vec<IpAddr>) -> Self {
        Self { total: capped_by_descriptors(total), per_client, exempt, open: Arc::default() }
    }

    /// Admits a connection from `peer`, or says which cap it is over.
    pub fn admit(&self, peer: IpAddr) -> Result<Admitted, &'static str> {
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
        let peer = peer.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.total >= self.total {
            return Err("max_connections");
        }
        let client = (!self.exempt.contains(&peer)).then(|| client_key(peer));
        if let Some(client) = client {
            let count = open.per_client.entry(client).or_default();
            if *count >= self.per_client {
                return Err("max_connections_per_client");
            }
            *count += 1;
        }
        open.total += 1;
        telemetry::connections_open(open.total);
        Ok(Admitted { client, open: self.open.clone() })
    }
}

/// A connection's place, as a request extension: whatever outlives the connection's HTTP
/// exchange with its socket (a WebSocket tunnel) holds a clone, so the place is given back only
/// when the socket is closed.
#[derive(Clone)]
pub struct Slot {
    _place: Arc<Admitted>,
}

impl From<Admitted> for Slot {
    fn from(admitted: Admitted) -> Self {
        Slot { _place: Arc::new(admitted) }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(client) = self.client {
            if let Some(count) = open.per_client.get_mut(&client) {
                *count -= 1;
                if *count == 0 {
                    open.per_client.remove(&client);
                }
            }
        }
        telemetry::connections_open(open.total);
    }
}

/// Raises the soft descriptor limit to the hard one and returns `max_connections` lowered, with
/// a warning, when even that leaves too few descriptors for it.
fn capped_by_descriptors(max_connections: u32) -> u32 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(err) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%err, "cannot raise the file descriptor limit");
        }
    }
    let Some(descriptors) = getrlimit(Resource::Nofile).current else {
        return max_connections;
    };
    let room = u32::try_from(descriptors.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(u32::MAX).max(1);
    if room < max_connections {
        tracing::warn!(
            descriptors,
            max_connections,
            allowed = room,
            "the file descriptor limit (RLIMIT_NOFILE) is too low for max_connections: serving fewer; \
             raise LimitNOFILE"
        );
        return room;
    }
    max_connections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_client_with_exempt_proxies() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let limits = Limits::new(4, 2, vec![proxy]);
        let a: IpAddr = [192, 0, 2, 1].into();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).err(), Some("max_connections_per_client"));
        drop(first);
        let _third = limits.admit(a).unwrap();
        let _p1 = limits.admit(proxy).unwrap();
        let _p2 = limits.admit(proxy).unwrap();
        assert_eq!(limits.admit(proxy).err(), Some("max_connections"));
        // One /64 is one client.
        let v6 = Limits::new(10, 1, vec![]);
        let _one = v6.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(v6.admit("2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        assert!(v6.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }
}
