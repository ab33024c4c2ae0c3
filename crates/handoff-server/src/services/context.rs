//! Who is asking: the client address (through trusted proxies) and the request id, for audit
//! records, logs and the failed-authentication limits. Resolved once per request.

use std::net::{IpAddr, SocketAddr};

use handoff_core::limits::client_key;
use handoff_core::model::AuditEvent;

use crate::config::Settings;

/// Who is asking: the client address and the request id.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    /// What failed authentications of this client are counted under: its address, or for IPv6
    /// its /64.
    limiter: String,
    /// The channel an operator's change came through when it is not the admin API (`console`):
    /// admin audit records say `via=console`.
    pub via: Option<&'static str>,
}

/// One entry of a forwarding header: `203.0.113.7`, `2001:db8::7`, and with a port
/// `203.0.113.7:4711` or `[2001:db8::7]:4711`.
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

impl Ctx {
    /// The context of a request from the TCP `peer`, whose `client_addr_header` values are
    /// `forwarded`. The client address is the peer's, unless the peer is one of
    /// `trusted_proxies`: then it is the right-most entry of `forwarded` that is not itself a
    /// trusted proxy. Entries further left are whatever the client claimed, so the walk stops at
    /// the first entry that is no address (`unknown`, garbage): then the proxy's own address
    /// stands, never a claim from further left.
    pub fn resolve<'a>(
        settings: &Settings,
        peer: Option<IpAddr>,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
        request_id: Option<String>,
    ) -> Self {
        let trusted = &settings.trusted_proxies;
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
        let client = match peer.map(|peer| peer.to_canonical()) {
            Some(peer) if trusted.contains(&peer) => forwarded
                .flat_map(|v| v.split(','))
                .rev()
                .map(forwarded_addr)
                .take_while(Option::is_some)
                .flatten()
                .map(|ip| ip.to_canonical())
                .find(|ip| !trusted.contains(ip))
                .or(Some(peer)),
            other => other,
        };
        let client_addr = client.map(|ip| ip.to_string());
        let limiter = match (client.map(client_key), &client_addr) {
            (Some(IpAddr::V6(prefix)), _) => format!("{prefix}/64"),
            // An IPv4 address stands for itself.
            (Some(_), Some(v4)) => v4.clone(),
            _ => "unknown".to_owned(),
        };
        Self { limiter, client_addr, request_id, via: None }
    }

    /// This context for a change made through `channel` (`console`).
    pub fn via(self, channel: &'static str) -> Self {
        Self { via: Some(channel), ..self }
    }

    /// An audit event of `kind` carrying this context.
    pub fn event(&self, kind: &str) -> AuditEvent {
        AuditEvent {
            kind: kind.to_owned(),
            client_addr: self.client_addr.clone(),
            request_id: self.request_id.clone(),
            ..AuditEvent::default()
        }
    }

    /// The key failed authentications are counted under.
    pub fn limiter_key(&self) -> &str {
        &self.limiter
    }
}
