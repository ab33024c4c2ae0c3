//! Where handoff may connect for suppliers (SSRF): unless `allow_private_endpoints` is set,
//! suppliers are never reached at private, loopback, link-local, metadata or other reserved
//! addresses. Names are resolved here, every address is checked, and hyper connects only to the
//! addresses checked ([`CheckedResolver`]).
//!
//! Must not: filter a mixed answer (a name with any reserved address is refused), or let the
//! client follow redirects or use a proxy (the check must see the supplier's own addresses).

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Host;

/// How long configuring a supplier waits for its name to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The HTTP client for suppliers: no redirects followed, short connect timeout, no proxy (the
/// address check must see the supplier's own addresses), and unless `allow_private` every host
/// name resolved through [`CheckedResolver`].
pub fn client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")));
    let builder = if allow_private { builder } else { builder.dns_resolver(Arc::new(CheckedResolver)) };
    // A failure is a boot error: a default client would follow redirects and skip the checks.
    builder.build()
}

/// A supplier host handoff does not connect to without `allow_private_endpoints`; the text says
/// why (`169.254.169.254 is a link-local address`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ForbiddenHost(String);

/// Cloud metadata services' names (their addresses are link-local or otherwise reserved too).
const METADATA_NAMES: [&str; 6] = [
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

/// The kind of range `ip` is in, if it is not a public unicast address.
fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => reserved_v4(ip),
        IpAddr::V6(ip) => reserved_v6(ip),
    }
}

fn reserved_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (\"this network\")",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn reserved_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4 carried in IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96)
    // and 6to4 (2002::/16) reach the IPv4 address they embed.
    let embedded = match segments {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some((hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some((hi, lo)),
        [0x2002, hi, lo, ..] => Some((hi, lo)),
        _ => None,
    };
    if let Some((hi, lo)) = embedded {
        return reserved_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    Some(match segments[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfc00..=0xfdff => "unique local",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        // Outside 2000::/3 nothing is global unicast.
        first if first & 0xe000 != 0x2000 => "reserved",
        0x2001 if segments[1] == 0x0db8 => "documentation",
        0x2001 if segments[1] < 0x0200 => "IETF protocol assignment",
        _ => return None,
    })
}

/// Names refused before any lookup: cloud metadata services (outside their cloud they may
/// resolve to anything). Every other name, `localhost` included, is judged by its addresses.
fn check_name(name: &str) -> Result<(), ForbiddenHost> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if METADATA_NAMES.contains(&name.as_str()) {
        return Err(ForbiddenHost(format!("{name} is a cloud metadata service")));
    }
    Ok(())
}

/// Refuses `ip`, which `host` names (itself, or by resolving to it), if it is reserved.
fn check_ip(host: &str, ip: IpAddr) -> Result<(), ForbiddenHost> {
    match reserved_range(ip) {
        None => Ok(()),
        Some(kind) if host.trim_matches(['[', ']']) == ip.to_string() => {
            Err(ForbiddenHost(format!("{ip} is a {kind} address")))
        }
        Some(kind) => Err(ForbiddenHost(format!("{host} resolves to {ip}, a {kind} address"))),
    }
}

/// The checks that need no lookup: IP literals by their range, names by name.
pub fn check_host(host: &Host<&str>) -> Result<(), ForbiddenHost> {
    match host {
        Host::Domain(name) => check_name(name),
        Host::Ipv4(ip) => check_ip(&ip.to_string(), IpAddr::V4(*ip)),
        Host::Ipv6(ip) => check_ip(&ip.to_string(), IpAddr::V6(*ip)),
    }
}

/// The check when a supplier is configured: the host, and every address its name resolves to
/// now. A name that does not resolve (yet) passes: every launch checks again when it connects.
pub async fn check_endpoint(url: &url::Url) -> Result<(), ForbiddenHost> {
    let Some(host) = url.host() else {
        return Ok(());
    };
    check_host(&host)?;
    if let Host::Domain(name) = host {
        if let Ok(Ok(addrs)) = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, 0))).await {
            for addr in addrs {
                check_ip(name, addr.ip())?;
            }
        }
    }
    Ok(())
}

/// Resolves supplier names for the HTTP client and refuses a name if **any** of its addresses
/// is reserved (a mixed answer is refused, not filtered). hyper connects only to the addresses
/// returned here, so a name cannot pass the check and then connect elsewhere (DNS rebinding).
/// IP-literal hosts never reach a resolver: [`call`] checks them before sending.
struct CheckedResolver;

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            check_name(&name)?;
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            for addr in &addrs {
                check_ip(&name, addr.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The address refusal somewhere in a send error's causes, if that is why it failed.
pub fn forbidden_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a ForbiddenHost> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(forbidden) = error.downcast_ref::<ForbiddenHost>() {
            return Some(forbidden);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(ip: &str) -> Option<&'static str> {
        reserved_range(ip.parse().unwrap())
    }

    #[test]
    fn reserved_ranges_include_every_form_of_a_private_address() {
        for (ip, kind) in [
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("10.0.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("100.100.100.200", "shared (carrier-grade NAT)"),
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("192.0.0.192", "IETF protocol assignment"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fd00::1", "unique local"),
            ("fd00:ec2::254", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::10.0.0.1", "private (RFC 1918)"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:a00:1::", "private (RFC 1918)"),
            ("2001:db8::1", "documentation"),
            ("2001::1", "IETF protocol assignment"),
            ("100::1", "reserved"),
            ("4000::1", "reserved"),
        ] {
            assert_eq!(range(ip), Some(kind), "{ip}");
        }
        for public in
            ["1.1.1.1", "172.32.0.1", "100.128.0.1", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "2002:808:808::"]
        {
            assert_eq!(range(public), None, "{public}");
        }
    }

    #[test]
    fn metadata_names_are_refused_by_name_and_addresses_say_how_they_were_reached() {
        assert!(check_name("Metadata.Google.Internal.").is_err());
        assert!(check_name("supplier.example").is_ok());
        assert_eq!(
            check_ip("10.0.0.1", "10.0.0.1".parse().unwrap()).unwrap_err().to_string(),
            "10.0.0.1 is a private (RFC 1918) address"
        );
        assert_eq!(
            check_ip("localhost", "127.0.0.1".parse().unwrap()).unwrap_err().to_string(),
            "localhost resolves to 127.0.0.1, a loopback address"
        );
        assert!(check_ip("[::1]", "::1".parse().unwrap()).unwrap_err().to_string().starts_with("::1 is a"));
    }
}
