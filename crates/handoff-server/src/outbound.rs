//! Outbound webhook SSO (seed 002, portal side): `GET /launch/{supplier}` signs the signed-in
//! user's event with the supplier's secret, POSTs it, checks the `redirectUrl` it answers, and
//! sends the browser there. Every launch, successful or not, is audited.
//!
//! Must not: follow the supplier's HTTP redirects, read an unbounded answer, wait longer than the
//! supplier's timeout, or send the browser to a host the supplier was not allowed.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handoff_core::model::{Outcome, Supplier};
use handoff_core::problem::ProblemKind;
use handoff_core::webhook::{SsoEvent, SsoEventData};
use handoff_core::wire::WebhookRedirect;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::openapi::LaunchRefusals;
use crate::portal::{any_identity, not_signed_in, Identity};
use crate::state::{AppState, Ctx};

/// Largest supplier answer read.
const ANSWER_LIMIT: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(paths(launch))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new().route("/launch/{slug}", get(launch))
}

/// The context a supplier's secret is sealed under: bound to the supplier.
pub fn seal_context(supplier: &Supplier) -> String {
    format!("handoff:supplier:{}", supplier.id)
}

/// The HTTP client for suppliers: no redirects followed, short connect timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
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

/// Launches the signed-in user into a supplier: signs and sends the event, then redirects to the
/// `redirectUrl` the supplier answers.
#[utoipa::path(get, path = "/launch/{slug}", tag = "portal",
    params(("slug" = String, Path, description = "The supplier's slug.")),
    responses(
        (status = 303, description = "To the supplier's `redirectUrl`.", headers(("Location" = String))),
        LaunchRefusals,
    ))]
async fn launch(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(identity) = any_identity(&state, &headers).await? else {
        return Ok(not_signed_in());
    };
    let mut event = ctx.event("launch");
    event.user_id = Some(identity.user.id.to_string());
    event.organization_id = Some(identity.user.organization_id.to_string());
    event.detail = Some(format!("supplier={slug}"));
    let result = async {
        let supplier =
            state.store.supplier_by_slug(&slug).await?.ok_or_else(|| ApiError::not_found("No such supplier."))?;
        let url = call(&state, &supplier, &identity).await?;
        Ok::<_, ApiError>(url)
    }
    .await;
    match result {
        Ok(url) => {
            event.at = state.now();
            event.outcome = Some(Outcome::Accepted);
            event.reason = "launched".into();
            state.audit(event).await?;
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url.as_str())]).into_response())
        }
        Err(error) => Err(state.refuse(event, error).await),
    }
}

/// Signs and sends the event; returns the checked redirect URL.
async fn call(state: &AppState, supplier: &Supplier, identity: &Identity) -> ApiResult<reqwest::Url> {
    let user = &identity.user;
    let organization = state.store.organization(user.organization_id).await?.ok_or_else(ApiError::internal)?;
    let org_no = organization.org_numbers.first().cloned().ok_or_else(|| {
        ApiError::new(ProblemKind::Forbidden, "Your organization has no organization number, which suppliers need.")
    })?;
    let now = state.clock.now();
    let event = SsoEvent {
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
    let body = serde_json::to_vec(&event).map_err(|_| ApiError::internal())?;
    let timestamp = OffsetDateTime::unix_timestamp(now).to_string();
    let secret = state.unseal(supplier.secrets.signing(now.unix_timestamp()), &seal_context(supplier))?;
    let signature = supplier.signature_profile.sign(&secret, &timestamp, &body);
    let timeout = supplier.timeout_seconds.unsigned_abs();
    let gateway = |detail: String| ApiError::new(ProblemKind::BadGateway, detail);

    let mut response = state
        .http
        .post(&supplier.endpoint)
        .timeout(Duration::from_secs(timeout))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Vinst-Timestamp", &timestamp)
        .header("Vinst-Signature", &signature)
        .body(body)
        .send()
        .await
        .map_err(|err| {
            if err.is_timeout() {
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
