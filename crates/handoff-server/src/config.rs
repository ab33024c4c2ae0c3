//! Configuration: defaults, then a TOML file, then `HANDOFF_*` environment variables, then flags.
//!
//! One struct, [`ConfigLayer`], is at once the TOML schema (`deny_unknown_fields`) and the flag
//! and environment schema (clap), so the three spellings of a key cannot drift. [`Settings`] is
//! the resolved, validated result.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderName, Uri};
use clap::{Args, CommandFactory as _};
use handoff_core::RedirectPath;
use handoff_store::{Dialect, PoolSettings};
use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown environment variable(s) {0}; known keys are listed in docs/operator-guide.md")]
    UnknownEnv(String),
    #[error("invalid `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

/// One layer of configuration. Every key `k` is the TOML key `k`, the variable `HANDOFF_K` and
/// the flag `--k` (with `-` for `_`).
#[derive(Debug, Clone, Default, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HANDOFF_LISTEN")]
    pub listen: Option<String>,
    /// The portal's external base URL, used in every link [default: http://{listen}].
    #[arg(long, env = "HANDOFF_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM file of the TLS certificate chain (server certificate first). With `tls_key`, handoff
    /// serves HTTPS (HTTP/2 and HTTP/1.1) and reloads both files when they change or on SIGHUP
    /// [default: none, plain http].
    #[arg(long, env = "HANDOFF_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the TLS certificate's private key (PKCS#8, PKCS#1 or SEC1) [default: none].
    #[arg(long, env = "HANDOFF_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Directory for the default database, master key and admin token files [default: .].
    #[arg(long, env = "HANDOFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://path` or `postgres://user:password@host/db` [default: sqlite://{data_dir}/handoff.db].
    #[arg(long, env = "HANDOFF_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Database connections this node keeps at most [default: 8].
    #[arg(long, env = "HANDOFF_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,
    /// Seconds start-up waits for an unreachable database [default: 30].
    #[arg(long, env = "HANDOFF_DATABASE_CONNECT_TIMEOUT")]
    pub database_connect_timeout: Option<u64>,
    /// Seconds a request waits for a database connection before it is answered 503 [default: 5].
    #[arg(long, env = "HANDOFF_DATABASE_ACQUIRE_TIMEOUT")]
    pub database_acquire_timeout: Option<u64>,
    /// Whether PostgreSQL connections keep prepared statements; false behind a transaction-pooling
    /// PgBouncer (statements run unnamed, each in a transaction) [default: true].
    #[arg(long, env = "HANDOFF_DATABASE_STATEMENT_CACHE")]
    pub database_statement_cache: Option<bool>,
    /// Base64 of 32 bytes; seals every key at rest [default: generated into the data directory].
    #[arg(long, env = "HANDOFF_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// A file holding `master_key` (systemd `LoadCredential=`, a container secret); surrounding
    /// whitespace is ignored. Not together with `master_key`.
    #[arg(long, env = "HANDOFF_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Bearer token for the admin API [default: generated into the data directory].
    #[arg(long, env = "HANDOFF_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A file holding `admin_token`; surrounding whitespace is ignored. Not together with
    /// `admin_token`. `handoff admin` reads the same variable to find the token.
    #[arg(long, env = "HANDOFF_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Lifetime of SSO links in seconds, 1 to 300 [default: 300].
    #[arg(long, env = "HANDOFF_SSO_TOKEN_TTL")]
    pub sso_token_ttl: Option<u64>,
    /// Where a link lands when the partner names no path [default: /dashboard].
    #[arg(long, env = "HANDOFF_DEFAULT_REDIRECT_PATH")]
    pub default_redirect_path: Option<String>,
    /// Seconds a session may sit unused [default: 1800].
    #[arg(long, env = "HANDOFF_SESSION_IDLE_TIMEOUT")]
    pub session_idle_timeout: Option<u64>,
    /// Seconds a session lives at most [default: 43200].
    #[arg(long, env = "HANDOFF_SESSION_ABSOLUTE_TIMEOUT")]
    pub session_absolute_timeout: Option<u64>,
    /// Seconds a web console (`/admin`) operator session may sit unused, at most a day [default: 1800].
    #[arg(long, env = "HANDOFF_CONSOLE_IDLE_TIMEOUT")]
    pub console_idle_timeout: Option<u64>,
    /// Seconds a web console operator session lives at most, at most a week [default: 43200].
    #[arg(long, env = "HANDOFF_CONSOLE_ABSOLUTE_TIMEOUT")]
    pub console_absolute_timeout: Option<u64>,
    /// Failed authentications per client address per minute before 429 [default: 20].
    #[arg(long, env = "HANDOFF_FAILED_AUTH_LIMIT")]
    pub failed_auth_limit: Option<u32>,
    /// Failed authentications naming one partner per minute, from any address, before that
    /// partner's requests get 429 [default: 100].
    #[arg(long, env = "HANDOFF_FAILED_AUTH_LIMIT_PER_PARTNER")]
    pub failed_auth_limit_per_partner: Option<u32>,
    /// Requests per second one partner may make to this node; 0 for no limit [default: 1000].
    #[arg(long, env = "HANDOFF_PARTNER_RATE_LIMIT")]
    pub partner_rate_limit: Option<u32>,
    /// `text` or `json` [default: text].
    #[arg(long, env = "HANDOFF_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// The protected application, `http://host:port`: handoff reverse-proxies every portal path
    /// that is not its own to it [default: none, the built-in placeholder page].
    #[arg(long, env = "HANDOFF_UPSTREAM")]
    pub upstream: Option<String>,
    /// Comma-separated addresses of the proxies in front of handoff whose `X-Forwarded-For` is
    /// believed [default: none, the TCP peer is the client].
    #[arg(long, env = "HANDOFF_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// The header in which the trusted proxies name the client: a comma-separated list like
    /// `X-Forwarded-For`, or one address like `X-Real-IP` [default: X-Forwarded-For].
    #[arg(long, env = "HANDOFF_CLIENT_ADDR_HEADER")]
    pub client_addr_header: Option<String>,
    /// Seconds a client may take to send a request's headers before the connection is closed
    /// [default: 10].
    #[arg(long, env = "HANDOFF_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,
    /// Comma-separated addresses or networks (`10.0.0.0/8`) that may read `/metrics`, checked
    /// against the TCP peer [default: 127.0.0.0/8,::1].
    #[arg(long, env = "HANDOFF_METRICS_ALLOW")]
    pub metrics_allow: Option<String>,
    /// Comma-separated addresses or networks that may call the forward-auth endpoint
    /// `/auth/verify` (your proxies), checked against the TCP peer [default: 127.0.0.0/8,::1].
    #[arg(long, env = "HANDOFF_FORWARD_AUTH_ALLOW")]
    pub forward_auth_allow: Option<String>,
    /// Open client connections at most; more are closed at accept [default: 4096].
    #[arg(long, env = "HANDOFF_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Open connections per client address at most (the TCP peer; `trusted_proxies` are exempt),
    /// more are closed at accept [default: 64].
    #[arg(long, env = "HANDOFF_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<u32>,
    /// Days audit records are kept; older ones are deleted in the background, in small batches
    /// (on PostgreSQL by one node at a time). 0 keeps every record [default: 0].
    #[arg(long, env = "HANDOFF_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Whether suppliers and webhook streams may be at private, loopback, link-local or other
    /// reserved addresses (on-premise receivers, development); `--allow-private-endpoints` alone means true
    /// [default: false].
    #[arg(long, env = "HANDOFF_ALLOW_PRIVATE_ENDPOINTS", num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_endpoints: Option<bool>,
}

macro_rules! overlay {
    ($upper:expr, $lower:expr, $($field:ident),*) => {
        ConfigLayer { $($field: $upper.$field.or($lower.$field)),* }
    };
}

impl ConfigLayer {
    /// `self` wins over `lower`, key by key.
    pub fn over(self, lower: ConfigLayer) -> ConfigLayer {
        overlay!(
            self,
            lower,
            listen,
            public_url,
            tls_cert,
            tls_key,
            data_dir,
            database_url,
            database_max_connections,
            database_connect_timeout,
            database_acquire_timeout,
            database_statement_cache,
            master_key,
            master_key_file,
            admin_token,
            admin_token_file,
            sso_token_ttl,
            default_redirect_path,
            session_idle_timeout,
            session_absolute_timeout,
            console_idle_timeout,
            console_absolute_timeout,
            failed_auth_limit,
            failed_auth_limit_per_partner,
            partner_rate_limit,
            log_format,
            upstream,
            trusted_proxies,
            client_addr_header,
            header_read_timeout,
            metrics_allow,
            forward_auth_allow,
            max_connections,
            max_connections_per_client,
            audit_retention_days,
            allow_private_endpoints
        )
    }

    /// Reads a TOML file; unknown keys are an error.
    pub fn from_toml_file(path: &Path) -> Result<ConfigLayer, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    /// The `HANDOFF_*` variables this layer knows.
    pub fn known_env() -> Vec<String> {
        #[derive(clap::Parser)]
        struct Probe {
            #[command(flatten)]
            layer: ConfigLayer,
        }
        Probe::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
            .collect()
    }

    /// Fails on any `HANDOFF_*` variable in `vars` that is neither a config key nor in `extra`.
    pub fn check_env(vars: impl Iterator<Item = String>, extra: &[&str]) -> Result<(), ConfigError> {
        let known = Self::known_env();
        let unknown: Vec<String> = vars
            .filter(|name| name.starts_with("HANDOFF_"))
            .filter(|name| !known.contains(name) && !extra.contains(&name.as_str()))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::UnknownEnv(unknown.join(", ")))
        }
    }
}

/// The portal's external base URL, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// Scheme and authority, no trailing slash: `https://portal.example.com`.
    pub base: String,
    pub https: bool,
    /// Whether the host is a loopback address (plain-http development is allowed there).
    pub loopback: bool,
}

impl PublicUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim().trim_end_matches('/');
        let uri: Uri = trimmed.parse().map_err(|e| format!("not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("must start with http:// or https://".into()),
        };
        let host = uri.host().ok_or("has no host")?;
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err("must be scheme and host only, without a path".into());
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback =
            bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !https && !loopback {
            return Err("plain http is allowed only for loopback development; use https".into());
        }
        Ok(Self { base: trimmed.to_owned(), https, loopback })
    }

    /// `base` + `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// The TLS listener's certificate chain and key files (`tls_cert`, `tls_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub public_url: PublicUrl,
    /// Whether `public_url` was derived from `listen` (and so follows the port actually bound).
    pub public_url_from_listen: bool,
    /// The TLS listener's files; `None` serves plain http.
    pub tls: Option<TlsFiles>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub pool: PoolSettings,
    pub master_key: Option<String>,
    pub admin_token: Option<String>,
    pub sso_token_ttl: u64,
    pub default_redirect_path: RedirectPath,
    pub session_idle_timeout: i64,
    pub session_absolute_timeout: i64,
    pub console_idle_timeout: i64,
    pub console_absolute_timeout: i64,
    pub failed_auth_limit: u32,
    pub failed_auth_limit_per_partner: u32,
    /// Requests per second per partner on this node; 0 is no limit.
    pub partner_rate_limit: u32,
    pub log_format: LogFormat,
    /// Scheme and authority of the protected application, when reverse-proxying.
    pub upstream: Option<Uri>,
    /// Proxies whose `client_addr_header` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    pub client_addr_header: HeaderName,
    /// Time a client has to send a request's headers (slow-loris bound).
    pub header_read_timeout: Duration,
    /// Who may read `/metrics`.
    pub metrics_allow: AddrSet,
    /// Who may call `/auth/verify`.
    pub forward_auth_allow: AddrSet,
    /// Open connections at most, in all and per client address.
    pub max_connections: u32,
    pub max_connections_per_client: u32,
    /// Days audit records are kept; 0 keeps them all.
    pub audit_retention_days: u32,
    /// Whether suppliers may be at private or reserved addresses (refused by default: SSRF).
    pub allow_private_endpoints: bool,
}

/// The longest `audit_retention_days` (a hundred years).
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 36_500;

/// Addresses and networks, as `metrics_allow` and `forward_auth_allow` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSet(Vec<IpNet>);

impl AddrSet {
    /// Loopback only: `127.0.0.0/8` and `::1`.
    pub fn loopback() -> Self {
        Self(vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ])
    }

    fn parse(key: &'static str, text: &str) -> Result<Self, ConfigError> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| invalid(key, format!("{entry:?} is neither an address nor a network")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `addr` is in the set (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn allows(&self, addr: Option<IpAddr>) -> bool {
        addr.map(|addr| addr.to_canonical()).is_some_and(|addr| self.0.iter().any(|net| net.contains(&addr)))
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

fn seconds(key: &'static str, value: Option<u64>, default: u64, max: u64) -> Result<i64, ConfigError> {
    let value = value.unwrap_or(default);
    if value == 0 || value > max {
        return Err(invalid(key, format!("must be between 1 and {max} seconds")));
    }
    i64::try_from(value).map_err(|_| invalid(key, "too large"))
}

impl Settings {
    pub fn resolve(layer: ConfigLayer) -> Result<Settings, ConfigError> {
        let listen_text = layer.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr =
            listen_text.parse().map_err(|_| invalid("listen", format!("{listen_text:?} is not host:port")))?;
        let tls = match (layer.tls_cert, layer.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("tls_key", "is missing: tls_cert and tls_key go together")),
            (None, Some(_)) => return Err(invalid("tls_cert", "is missing: tls_cert and tls_key go together")),
        };
        let public_url_from_listen = layer.public_url.is_none();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_text = layer.public_url.unwrap_or_else(|| format!("{scheme}://{listen}"));
        let public_url = PublicUrl::parse(&public_text).map_err(|m| invalid("public_url", m))?;
        if tls.is_some() && !public_url.https {
            return Err(invalid(
                "public_url",
                "must be https:// when handoff serves TLS (tls_cert and tls_key are set)",
            ));
        }
        let data_dir = layer.data_dir.unwrap_or_else(|| PathBuf::from("."));
        let database_url =
            layer.database_url.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("handoff.db").display()));
        if Dialect::of(&database_url).is_none() {
            return Err(invalid("database_url", "must start with sqlite:// or postgres://"));
        }
        let max_connections = layer.database_max_connections.unwrap_or(8);
        if !(1..=1000).contains(&max_connections) {
            return Err(invalid("database_max_connections", "must be between 1 and 1000"));
        }
        let connect_timeout = seconds("database_connect_timeout", layer.database_connect_timeout, 30, 3600)?;
        let acquire_timeout = seconds("database_acquire_timeout", layer.database_acquire_timeout, 5, 300)?;
        let pool = PoolSettings {
            max_connections,
            acquire_timeout: Duration::from_secs(acquire_timeout.unsigned_abs()),
            connect_timeout: Duration::from_secs(connect_timeout.unsigned_abs()),
            statement_cache: layer.database_statement_cache.unwrap_or(true),
        };
        let default_redirect_path = RedirectPath::parse(layer.default_redirect_path.as_deref().unwrap_or("/dashboard"))
            .map_err(|e| invalid("default_redirect_path", e.to_string()))?;
        let log_format = match layer.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(invalid("log_format", format!("{other:?} is neither text nor json"))),
        };
        let upstream = layer.upstream.as_deref().map(parse_upstream).transpose()?;
        let trusted_proxies = layer
            .trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpAddr>()
                    .map_err(|_| invalid("trusted_proxies", format!("{entry:?} is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client_addr_header = layer
            .client_addr_header
            .as_deref()
            .unwrap_or("x-forwarded-for")
            .parse::<HeaderName>()
            .map_err(|_| invalid("client_addr_header", "is not a header name"))?;
        let allow =
            |key, value: Option<String>| value.map_or_else(|| Ok(AddrSet::loopback()), |v| AddrSet::parse(key, &v));
        let metrics_allow = allow("metrics_allow", layer.metrics_allow)?;
        let forward_auth_allow = allow("forward_auth_allow", layer.forward_auth_allow)?;
        let max_connections = layer.max_connections.unwrap_or(4096);
        let max_connections_per_client = layer.max_connections_per_client.unwrap_or(64);
        if max_connections == 0 || max_connections_per_client == 0 {
            return Err(invalid("max_connections", "and max_connections_per_client must be at least 1"));
        }
        let audit_retention_days = layer.audit_retention_days.unwrap_or(0);
        if audit_retention_days > MAX_AUDIT_RETENTION_DAYS {
            return Err(invalid(
                "audit_retention_days",
                format!("must be 0 (keep every record) or a number of days up to {MAX_AUDIT_RETENTION_DAYS}"),
            ));
        }
        let master_key = secret_value("master_key", layer.master_key, layer.master_key_file)?;
        let admin_token = secret_value("admin_token", layer.admin_token, layer.admin_token_file)?;
        if admin_token.as_ref().is_some_and(|t| t.len() < 32) {
            return Err(invalid("admin_token", "must be at least 32 characters"));
        }
        Ok(Settings {
            listen,
            public_url,
            public_url_from_listen,
            tls,
            data_dir,
            database_url,
            pool,
            master_key,
            admin_token,
            sso_token_ttl: seconds("sso_token_ttl", layer.sso_token_ttl, 300, 300)?.unsigned_abs(),
            default_redirect_path,
            session_idle_timeout: seconds("session_idle_timeout", layer.session_idle_timeout, 1800, 86_400 * 30)?,
            session_absolute_timeout: seconds(
                "session_absolute_timeout",
                layer.session_absolute_timeout,
                43_200,
                86_400 * 90,
            )?,
            console_idle_timeout: seconds("console_idle_timeout", layer.console_idle_timeout, 1800, 86_400)?,
            console_absolute_timeout: seconds(
                "console_absolute_timeout",
                layer.console_absolute_timeout,
                43_200,
                86_400 * 7,
            )?,
            failed_auth_limit: layer.failed_auth_limit.unwrap_or(20).max(1),
            failed_auth_limit_per_partner: layer.failed_auth_limit_per_partner.unwrap_or(100).max(1),
            partner_rate_limit: layer.partner_rate_limit.unwrap_or(1000),
            log_format,
            upstream,
            trusted_proxies,
            client_addr_header,
            header_read_timeout: Duration::from_secs(
                seconds("header_read_timeout", layer.header_read_timeout, 10, 60)?.unsigned_abs(),
            ),
            metrics_allow,
            forward_auth_allow,
            max_connections,
            max_connections_per_client,
            audit_retention_days,
            allow_private_endpoints: layer.allow_private_endpoints.unwrap_or(false),
        })
    }
}

/// A secret given inline or as `{key}_file`, the file's content without surrounding whitespace
/// (the newline `echo` and editors add). Giving both is a mistake, not a precedence question.
fn secret_value(
    key: &'static str,
    inline: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<String>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(key, format!("is set both inline and as {key}_file; set one"))),
        (inline, None) => Ok(inline),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            let value = text.trim();
            if value.is_empty() {
                return Err(invalid(key, format!("the file {} is empty", path.display())));
            }
            Ok(Some(value.to_owned()))
        }
    }
}

/// `http://host:port`, nothing more: the request's own path and query are appended.
fn parse_upstream(text: &str) -> Result<Uri, ConfigError> {
    let uri: Uri =
        text.trim_end_matches('/').parse().map_err(|_| invalid("upstream", format!("{text:?} is not a URL")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(invalid(
            "upstream",
            "must be http://host:port (handoff terminates TLS, the hop behind it is plain)",
        ));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid("upstream", "must not have a path or query"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_rules() {
        assert!(PublicUrl::parse("http://127.0.0.1:8080/").unwrap().loopback);
        assert!(PublicUrl::parse("http://localhost:3000").is_ok());
        assert!(PublicUrl::parse("http://portal.example.com").is_err());
        assert!(PublicUrl::parse("https://portal.example.com/app").is_err());
        assert_eq!(PublicUrl::parse("https://portal.example.com/").unwrap().base, "https://portal.example.com");
    }

    #[test]
    fn upper_layer_wins_and_unknown_env_is_refused() {
        let lower = ConfigLayer { listen: Some("a".into()), sso_token_ttl: Some(5), ..Default::default() };
        let upper = ConfigLayer { listen: Some("b".into()), ..Default::default() };
        let merged = upper.over(lower);
        assert_eq!(merged.listen.as_deref(), Some("b"));
        assert_eq!(merged.sso_token_ttl, Some(5));
        assert!(ConfigLayer::known_env().contains(&"HANDOFF_SSO_TOKEN_TTL".to_string()));
        assert!(ConfigLayer::check_env(["HANDOFF_LISTEN".to_string()].into_iter(), &[]).is_ok());
        assert!(ConfigLayer::check_env(["HANDOFF_LISTN".to_string()].into_iter(), &[]).is_err());
    }

    #[test]
    fn private_endpoints_are_refused_unless_allowed() {
        assert!(!Settings::resolve(ConfigLayer::default()).unwrap().allow_private_endpoints);
        let layer: ConfigLayer = toml::from_str("allow_private_endpoints = true").unwrap();
        assert!(Settings::resolve(layer).unwrap().allow_private_endpoints);
        assert!(ConfigLayer::known_env().contains(&"HANDOFF_ALLOW_PRIVATE_ENDPOINTS".to_string()));
    }

    #[test]
    fn audit_retention_keeps_everything_unless_set() {
        assert_eq!(Settings::resolve(ConfigLayer::default()).unwrap().audit_retention_days, 0);
        let layer: ConfigLayer = toml::from_str("audit_retention_days = 400").unwrap();
        assert_eq!(Settings::resolve(layer).unwrap().audit_retention_days, 400);
        let layer = ConfigLayer { audit_retention_days: Some(MAX_AUDIT_RETENTION_DAYS + 1), ..Default::default() };
        assert!(Settings::resolve(layer).is_err());
        assert!(ConfigLayer::known_env().contains(&"HANDOFF_AUDIT_RETENTION_DAYS".to_string()));
    }

    #[test]
    fn secrets_come_from_files_without_their_newline() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("master_key");
        let token_file = dir.path().join("admin_token");
        std::fs::write(&key_file, "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=\n").unwrap();
        std::fs::write(&token_file, format!("{}\n", "t".repeat(40))).unwrap();
        let layer: ConfigLayer = toml::from_str(&format!(
            "master_key_file = {:?}\nadmin_token_file = {:?}",
            key_file.display().to_string(),
            token_file.display().to_string()
        ))
        .unwrap();
        let settings = Settings::resolve(layer).unwrap();
        assert_eq!(settings.master_key.as_deref(), Some("a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="));
        assert_eq!(settings.admin_token, Some("t".repeat(40)));

        let both = ConfigLayer { master_key: Some("x".into()), master_key_file: Some(key_file), ..Default::default() };
        assert!(Settings::resolve(both).unwrap_err().to_string().contains("both inline and as master_key_file"));
        let missing = ConfigLayer { admin_token_file: Some(dir.path().join("absent")), ..Default::default() };
        assert!(Settings::resolve(missing).unwrap_err().to_string().contains("absent"));
        std::fs::write(&token_file, "\n").unwrap();
        let empty = ConfigLayer { admin_token_file: Some(token_file), ..Default::default() };
        assert!(Settings::resolve(empty).unwrap_err().to_string().contains("is empty"));
        std::fs::write(dir.path().join("short"), "short").unwrap();
        let short = ConfigLayer { admin_token_file: Some(dir.path().join("short")), ..Default::default() };
        assert!(Settings::resolve(short).unwrap_err().to_string().contains("at least 32"));
    }

    #[test]
    fn tls_files_go_together_and_want_an_https_public_url() {
        let both = "tls_cert = \"/etc/handoff/cert.pem\"\ntls_key = \"/etc/handoff/key.pem\"\n";
        let settings = Settings::resolve(toml::from_str(both).unwrap()).unwrap();
        assert_eq!(settings.tls.unwrap().key, PathBuf::from("/etc/handoff/key.pem"));
        assert_eq!(settings.public_url.base, "https://127.0.0.1:8080");
        let alone = ConfigLayer { tls_cert: Some("cert.pem".into()), ..Default::default() };
        assert!(Settings::resolve(alone).unwrap_err().to_string().contains("tls_key"));
        let plain: ConfigLayer = toml::from_str(&format!("{both}public_url = \"http://127.0.0.1:8080\"")).unwrap();
        assert!(Settings::resolve(plain).unwrap_err().to_string().contains("public_url"));
        assert!(ConfigLayer::known_env().contains(&"HANDOFF_TLS_CERT".to_string()));
    }

    #[test]
    fn ttl_is_capped_at_five_minutes() {
        let layer = ConfigLayer { sso_token_ttl: Some(301), ..Default::default() };
        assert!(Settings::resolve(layer).is_err());
    }
}
