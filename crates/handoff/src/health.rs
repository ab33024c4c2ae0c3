//! `handoff healthcheck`: asks a running server's `/healthz` and exits 0 when it answers 200 — for
//! a container's `HEALTHCHECK` or a probe on an image without curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use handoff_server::Settings;

/// Asks `url`, else `/healthz` on the configured `listen` address (a wildcard address is asked on
/// loopback), within `timeout`. With TLS it connects to that address but checks the certificate
/// against `public_url`'s host, as any client would: an expired or untrusted certificate fails.
pub async fn run(settings: &Settings, url: Option<String>, timeout: Duration) -> Result<(), String> {
    let target = loopback(settings.listen);
    let mut builder = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none());
    let url = match url {
        Some(url) => url,
        None if settings.tls.is_some() => {
            let public = reqwest::Url::parse(&settings.public_url.base).map_err(|e| e.to_string())?;
            let host = public.host_str().ok_or("public_url has no host")?.to_owned();
            builder = builder.resolve(&host, target);
            format!("https://{host}:{}/healthz", target.port())
        }
        None => format!("http://{target}/healthz"),
    };
    let client = builder.build().map_err(|e| e.to_string())?;
    let response = client.get(&url).send().await.map_err(|e| format!("unhealthy: {url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        println!("healthy: {url} answered {status}");
        Ok(())
    } else {
        Err(format!("unhealthy: {url} answered {status}"))
    }
}

/// The address a client on this host reaches `listen` at.
fn loopback(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_asked_on_loopback() {
        let at = |text: &str| loopback(text.parse().unwrap()).to_string();
        assert_eq!(at("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(at("[::]:8443"), "[::1]:8443");
        assert_eq!(at("10.1.2.3:80"), "10.1.2.3:80");
    }
}
