//! Outbound webhook SSO (seed 002, portal side): `GET /launch/{supplier}` signs the signed-in
//! user's event with the supplier's secret, POSTs it, checks the `redirectUrl` it answers, and
//! sends the browser there. Every launch, successful or not, is audited.
//!
//! A launch sends the user's identity away, so it starts only on a request from the portal's own
//! pages (`Sec-Fetch-Site: same-origin`, or else an `Origin`/`Referer` on `public_url`). Any other
//! request gets a confirmation page whose form (`POST /launch/{supplier}`) carries a token bound
//! to the session: a cross-site link cannot launch by itself (launch CSRF).
//!
//! Unless `allow_private_endpoints` is set, suppliers are never reached at private, loopback,
//! link-local, metadata or other reserved addresses (SSRF): names are resolved here, every
//! address is checked, and hyper connects only to the addresses checked.
//!
//! Must not: follow the supplier's HTTP redirects, read an unbounded answer, wait longer than the
//! supplier's timeout, or send the browser to a host the supplier was not allowed.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handoff_core::model::{AuditEvent, Outcome, Supplier};
use handoff_core::problem::ProblemKind;
use handoff_core::webhook::{SsoEvent, SsoEventData};
use handoff_core::wire::WebhookRedirect;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Host;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::csrf::{form_token, form_token_matches, from_portal, portal_origin, posted_from_portal, Purpose};
use crate::error::{ApiError, ApiResult};
use crate::openapi::LaunchRefusals;
use crate::portal::{any_identity, not_signed_in, Identity};
use crate::state::{AppState, Ctx};
use crate::web::{escape, page};

/// Largest supplier answer read.
const ANSWER_LIMIT: usize = 64 * 1024;
/// How long configuring a supplier waits for its name to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(OpenApi)]
#[openapi(paths(launch, launch_confirmed), components(schemas(LaunchForm)))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new().route("/launch/{slug}", get(launch).post(launch_confirmed))
}

/// The context a supplier's secret is sealed under: bound to the supplier.
pub fn seal_context(supplier: &Supplier) -> String {
    format!("handoff:supplier:{}", supplier.id)
}

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

/// Whether a browser may be sent to `url`: https, or http on a loopback host (development).
pub fn is_browser_safe(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
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
fn check_host(host: &Host<&str>) -> Result<(), ForbiddenHost> {
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
fn forbidden_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a ForbiddenHost> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(forbidden) = error.downcast_ref::<ForbiddenHost>() {
            return Some(forbidden);
        }
        cause = error.source();
    }
    None
}

/// The launch refusal for an endpoint at a reserved address: the page stays general, the audit
/// record and the log say which address.
fn refused_endpoint(forbidden: &ForbiddenHost, supplier: &Supplier, event: &mut AuditEvent) -> ApiError {
    tracing::warn!(supplier = %supplier.slug, reason = %forbidden, "supplier endpoint refused: reserved address");
    event.detail = Some(format!("supplier={}; {forbidden}; allow_private_endpoints is off", supplier.slug));
    ApiError::new(
        ProblemKind::BadGateway,
        "The supplier's endpoint is at a private or reserved address, which handoff does not connect to.",
    )
}

/// The confirmation page's form.
#[derive(Debug, ToSchema)]
struct LaunchForm {
    /// The confirmation page's token, bound to the session and the supplier.
    token: String,
}

impl LaunchForm {
    fn parse(body: &[u8]) -> Option<Self> {
        url::form_urlencoded::parse(body).find(|(key, _)| key == "token").map(|(_, token)| Self { token: token.into() })
    }
}

/// What a launch request may do once the supplier is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Ask the user first: the request did not come from the portal's pages.
    Confirm,
    /// Send the event.
    Send,
}

/// Launches the signed-in user into a supplier: from the portal's own pages, signs and sends the
/// event, then redirects to the `redirectUrl` the supplier answers; from anywhere else (another
/// site, a bookmark), shows a confirmation page instead and sends nothing.
#[utoipa::path(get, path = "/launch/{slug}", tag = "portal",
    params(("slug" = String, Path, description = "The supplier's slug."),
        ("Sec-Fetch-Site" = Option<String>, Header, description = "`same-origin` launches; anything else gets the confirmation page. Without it, `Origin` or `Referer` on the portal's origin launches.")),
    responses(
        (status = 200, description = "The confirmation page (\"Open …?\"), for a request that did not come from the portal's pages; nothing was sent.", body = String, content_type = "text/html"),
        (status = 303, description = "To the supplier's `redirectUrl`.", headers(("Location" = String))),
        LaunchRefusals,
    ))]
async fn launch(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let step = if from_portal(&headers, &portal_origin(&state)) { Step::Send } else { Step::Confirm };
    run(&state, &ctx, &headers, &slug, |_| Ok(step)).await
}

/// The confirmation page's button: launches like a GET from the portal's pages, if the token is
/// this session's for this supplier and the browser says the form was the portal's.
#[utoipa::path(post, path = "/launch/{slug}", tag = "portal",
    params(("slug" = String, Path, description = "The supplier's slug.")),
    request_body(content = LaunchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the supplier's `redirectUrl`.", headers(("Location" = String))),
        LaunchRefusals,
    ))]
async fn launch_confirmed(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let from_portal = posted_from_portal(&headers, &portal_origin(&state));
    let form = LaunchForm::parse(&body);
    run(&state, &ctx, &headers, &slug, |identity| {
        if !from_portal {
            return Err(ApiError::new(ProblemKind::Forbidden, "The confirmation was not sent from the portal's page."));
        }
        if !form.is_some_and(|form| {
            form_token_matches(&state.master, &identity.session, Purpose::Launch, &slug, &form.token)
        }) {
            return Err(ApiError::new(
                ProblemKind::Forbidden,
                "The confirmation's token is missing or not valid for this session; open the supplier again.",
            ));
        }
        Ok(Step::Send)
    })
    .await
}

/// What a launch ended in.
enum Launched {
    /// The confirmation page.
    Confirm(Response),
    /// The checked `redirectUrl`.
    Sent(reqwest::Url),
}

/// One launch for the signed-in user: `step` says (or refuses) what the request may do; every
/// refusal and every event sent is audited, a confirmation page is not (nothing left handoff).
async fn run(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    slug: &str,
    step: impl FnOnce(&Identity) -> ApiResult<Step>,
) -> ApiResult<Response> {
    let Some(identity) = any_identity(state, headers).await? else {
        return Ok(not_signed_in());
    };
    let mut event = ctx.event("launch");
    event.user_id = Some(identity.user.id.to_string());
    event.organization_id = Some(identity.user.organization_id.to_string());
    event.detail = Some(format!("supplier={slug}"));
    let result = async {
        let step = step(&identity)?;
        let supplier =
            state.store.supplier_by_slug(slug).await?.ok_or_else(|| ApiError::not_found("No such supplier."))?;
        Ok::<_, ApiError>(match step {
            Step::Confirm => Launched::Confirm(confirmation(state, &supplier, &identity)),
            Step::Send => Launched::Sent(call(state, &supplier, &identity, &mut event).await?),
        })
    }
    .await;
    match result {
        Ok(Launched::Confirm(page)) => Ok(page),
        Ok(Launched::Sent(url)) => {
            event.at = state.now();
            event.outcome = Some(Outcome::Accepted);
            event.reason = "launched".into();
            state.audit(event).await?;
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url.as_str())]).into_response())
        }
        Err(error) => Err(state.refuse(event, error).await),
    }
}

/// "Open {supplier}?": a button that POSTs the session's token back to `/launch/{slug}`. The
/// page's `Referrer-Policy: same-origin` makes the browser send the portal's `Origin` with it
/// (the default `no-referrer` would send `Origin: null`).
fn confirmation(state: &AppState, supplier: &Supplier, identity: &Identity) -> Response {
    let name = escape(&supplier.name);
    let body = format!(
        "<h1>Open {name}?</h1><p>You are signed in as <strong>{email}</strong>. Continuing signs you in to \
         {name}: handoff sends it your name, your email address and your organization number.</p>\
         <form method=\"post\" action=\"/launch/{slug}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button>Open {name}</button></form>\
         <p class=\"muted\">If you did not mean to open {name}, close this page.</p>",
        email = escape(&identity.user.email),
        slug = escape(&supplier.slug),
        token = form_token(&state.master, &identity.session, Purpose::Launch, &supplier.slug),
    );
    let mut response = Html(page(&format!("Open {}?", supplier.name), &body)).into_response();
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// Signs and sends the event; returns the checked redirect URL. An endpoint refused for its
/// address says so in `event`.
async fn call(
    state: &AppState,
    supplier: &Supplier,
    identity: &Identity,
    event: &mut AuditEvent,
) -> ApiResult<reqwest::Url> {
    let endpoint = reqwest::Url::parse(&supplier.endpoint).map_err(|_| ApiError::internal())?;
    if !state.settings.allow_private_endpoints {
        // IP literals never reach the client's resolver.
        if let Some(Err(forbidden)) = endpoint.host().map(|host| check_host(&host)) {
            return Err(refused_endpoint(&forbidden, supplier, event));
        }
    }
    let user = &identity.user;
    let organization = state.store.organization(user.organization_id).await?.ok_or_else(ApiError::internal)?;
    let org_no = organization.org_numbers.first().cloned().ok_or_else(|| {
        ApiError::new(ProblemKind::Forbidden, "Your organization has no organization number, which suppliers need.")
    })?;
    let now = state.clock.now();
    let sso_event = SsoEvent {
        event_id: Uuid::new_v4().to_string(),
        event_type: supplier.event_type.clone(),
        event_timestamp: now.format(&Rfc3339).map_err(|_| ApiError::internal())?,
        data: SsoEventData {
            email: user.email.clone(),
            first_name: user.given_name.clone(),
            last_name: user.family_name.clone(),
            org_no,
        },
    };
    let body = serde_json::to_vec(&sso_event).map_err(|_| ApiError::internal())?;
    let timestamp = OffsetDateTime::unix_timestamp(now).to_string();
    let secret = state.unseal(supplier.secrets.signing(now.unix_timestamp()), &seal_context(supplier))?;
    let signature = supplier.signature_profile.sign(&secret, &timestamp, &body);
    let timeout = supplier.timeout_seconds.unsigned_abs();
    let gateway = |detail: String| ApiError::new(ProblemKind::BadGateway, detail);

    let mut response = state
        .http
        .post(endpoint)
        .timeout(Duration::from_secs(timeout))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Vinst-Timestamp", &timestamp)
        .header("Vinst-Signature", &signature)
        .body(body)
        .send()
        .await
        .map_err(|err| {
            if let Some(forbidden) = forbidden_cause(&err) {
                refused_endpoint(forbidden, supplier, event)
            } else if err.is_timeout() {
                ApiError::new(
                    ProblemKind::GatewayTimeout,
                    format!("The supplier did not answer within {timeout} seconds."),
                )
            } else {
                gateway("The supplier could not be reached.".into())
            }
        })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(gateway(format!("The supplier answered {} instead of 200.", response.status().as_u16())));
    }
    let mut answer = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if answer.len() + chunk.len() <= ANSWER_LIMIT => answer.extend_from_slice(&chunk),
            Ok(Some(_)) => return Err(gateway("The supplier's answer is over 64 KiB.".into())),
            Ok(None) => break,
            Err(err) if err.is_timeout() => {
                return Err(ApiError::new(
                    ProblemKind::GatewayTimeout,
                    format!("The supplier did not answer within {timeout} seconds."),
                ))
            }
            Err(_) => return Err(gateway("The supplier's answer broke off.".into())),
        }
    }
    let redirect: WebhookRedirect = serde_json::from_slice(&answer)
        .map_err(|_| gateway("The supplier's answer is not {\"redirectUrl\": …}.".into()))?;
    let url = reqwest::Url::parse(&redirect.redirect_url)
        .map_err(|_| gateway("The supplier's redirectUrl is not a URL.".into()))?;
    let host_allowed = url
        .host_str()
        .is_some_and(|host| supplier.allowed_redirect_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)));
    if !is_browser_safe(&url) || !host_allowed {
        return Err(gateway("The supplier redirected to a host it is not allowed to use.".into()));
    }
    Ok(url)
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
