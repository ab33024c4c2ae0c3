//! Inbound webhook SSO (seed 002, supplier side): a trusted portal POSTs a signed user event to
//! `/v1/inbound/{slug}/sso`; handoff verifies it on the raw bytes, refuses replays, finds or
//! provisions the user and answers `{"redirectUrl": …}` with a one-time sign-in link.
//!
//! The checks run in a fixed order — content type, timestamp, signature, event fields, replay,
//! organization (known, and linked to the integration), user — and the sandbox endpoint runs the
//! same checks to explain a failure. Both count failed signatures towards, and obey, the
//! failed-authentication limits.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use handoff_core::model::{AuditEvent, InboundIntegration, Organization, Outcome, UnknownUserPolicy, User, UserStatus};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::RedirectPath;
use handoff_core::store::Write;
use handoff_core::token::PrefillClaims;
use handoff_core::webhook::{check_timestamp, SsoEvent, TimestampError, ValidEvent};
use handoff_core::wire::{SandboxCheck, SandboxReport, WebhookRedirect};
use handoff_core::UserId;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::openapi::{SandboxRefusals, WebhookRefusals};
use crate::state::{AppState, Ctx};
use crate::{ratelimit, sso};

/// Seconds an event id is remembered beyond the timestamp tolerance.
const REPLAY_MARGIN_SECONDS: i64 = 300;
/// The longest slug the admin API accepts.
const MAX_SLUG_LEN: usize = 64;
/// Lifetime of a registration prefill token.
const PREFILL_TTL_SECONDS: i64 = 300;

#[derive(OpenApi)]
#[openapi(paths(sso_event, sandbox))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/inbound/{slug}/sso", post(sso_event)).route("/v1/inbound/{slug}/sso/test", post(sandbox))
}

/// The context a webhook secret is sealed under: bound to its integration.
pub fn seal_context(integration: &InboundIntegration) -> String {
    format!("handoff:inbound:{}", integration.id)
}

fn header<'a>(headers: &'a HeaderMap, names: [&str; 2]) -> Option<&'a str> {
    names.iter().find_map(|name| headers.get(*name)).and_then(|v| v.to_str().ok())
}

fn content_type_check(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(ProblemKind::UnsupportedMediaType, "Content-Type must be application/json."))
    }
}

fn timestamp_check(state: &AppState, integration: &InboundIntegration, headers: &HeaderMap) -> Result<(), ApiError> {
    let auth = |detail: &str| ApiError::new(ProblemKind::AuthenticationRequired, detail);
    let value =
        header(headers, ["vinst-timestamp", "x-vinst-timestamp"]).ok_or_else(|| auth("Missing timestamp header."))?;
    match check_timestamp(value, state.now(), integration.tolerance_seconds) {
        Ok(_) => Ok(()),
        Err(TimestampError::Unparseable) => Err(auth("Invalid timestamp: use Unix seconds or RFC 3339.")),
        Err(TimestampError::TooOld) => Err(auth("Timestamp is too old.")),
        Err(TimestampError::TooNew) => Err(auth("Timestamp is in the future.")),
    }
}

/// The integration's active secrets, unsealed: the current one and an unexpired previous one.
fn active_secrets(state: &AppState, integration: &InboundIntegration) -> ApiResult<Vec<String>> {
    let context = seal_context(integration);
    let mut sealed = vec![&integration.secrets.current];
    if let Some((previous, until)) = &integration.secrets.previous {
        if state.now() < *until {
            sealed.push(previous);
        }
    }
    sealed.into_iter().map(|s| state.unseal(s, &context)).collect()
}

fn signature_check(
    state: &AppState,
    integration: &InboundIntegration,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<()> {
    let auth = |detail: &str| ApiError::new(ProblemKind::AuthenticationRequired, detail);
    let signature =
        header(headers, ["vinst-signature", "x-vinst-signature"]).ok_or_else(|| auth("Missing signature header."))?;
    let timestamp = header(headers, ["vinst-timestamp", "x-vinst-timestamp"]).unwrap_or_default();
    let secrets = active_secrets(state, integration)?;
    if integration.signature_profile.verify(secrets.iter().map(String::as_str), timestamp, body, signature) {
        Ok(())
    } else {
        Err(auth("Invalid signature."))
    }
}

fn event_check(state: &AppState, integration: &InboundIntegration, body: &[u8]) -> ApiResult<ValidEvent> {
    let event: SsoEvent =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("Malformed event: {e}")))?;
    let valid = event.validate(&integration.event_type).map_err(ApiError::invalid)?;
    // A body-only signature does not cover the timestamp header: the signed eventTimestamp must
    // then be fresh itself, or a captured request could be replayed once its eventId is forgotten.
    if !integration.signature_profile.covers_timestamp()
        && check_timestamp(&event.event_timestamp, state.now(), integration.tolerance_seconds).is_err()
    {
        return Err(ApiError::new(ProblemKind::AuthenticationRequired, "eventTimestamp is outside the tolerance."));
    }
    Ok(valid)
}

/// The audit reason of an event for an organization its integration is not linked to.
const NOT_LINKED: &str = "organization-not-linked";

fn not_linked() -> ApiError {
    ApiError::new(ProblemKind::Forbidden, "This integration is not linked to the organization.")
}

/// The event's organization, and whether the integration serves it (is linked to it).
async fn organization_check(
    state: &AppState,
    integration: &InboundIntegration,
    event: &ValidEvent,
) -> ApiResult<(Arc<Organization>, bool)> {
    let organization = state
        .organization_by_number(&event.org_no)
        .await?
        .ok_or_else(|| ApiError::new(ProblemKind::Forbidden, "Unknown organization."))?;
    let served = state.integration_serves(integration.id, organization.id).await?;
    Ok((organization, served))
}

/// What the event leads to for its user.
enum Landing {
    SignIn(Arc<User>),
    Provision,
    Register(String),
}

async fn user_check(
    state: &AppState,
    integration: &InboundIntegration,
    org: &Organization,
    event: &ValidEvent,
) -> ApiResult<Landing> {
    match state.user_by_email(org.id, event.email.as_str()).await? {
        Some(user) if user.status == UserStatus::Active => Ok(Landing::SignIn(user)),
        Some(_) => Err(ApiError::new(ProblemKind::Forbidden, "The user is disabled.")),
        None => match (integration.unknown_user, &integration.register_url) {
            (UnknownUserPolicy::Provision, _) => Ok(Landing::Provision),
            (UnknownUserPolicy::Register, Some(url)) => Ok(Landing::Register(url.clone())),
            _ => Err(ApiError::new(ProblemKind::Forbidden, "Unknown user.")),
        },
    }
}

async fn integration_by_slug(state: &AppState, slug: &str) -> ApiResult<Arc<InboundIntegration>> {
    let unknown = || ApiError::not_found("Unknown integration.").unaudited();
    // No slug is longer (admin API): a longer one is not looked up, nor cached as unknown.
    if slug.len() > MAX_SLUG_LEN {
        return Err(unknown());
    }
    state.integration(slug).await?.ok_or_else(unknown)
}

fn body_bytes(body: RawBody) -> ApiResult<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ProblemKind::PayloadTooLarge, "The request body is over the 64 KiB limit.")
        } else {
            ApiError::invalid("The request body could not be read.")
        }
    })
}

/// The integration `slug`, unless the client or the integration used up its failed
/// authentications (then 429, audited as `event`); with the integration's failure counter key.
async fn admit(
    state: &AppState,
    ctx: &Ctx,
    event: &AuditEvent,
    slug: &str,
) -> ApiResult<(Arc<InboundIntegration>, String)> {
    if let Some(wait) = state.throttled(ctx).await? {
        return Err(state.refuse(event.clone(), AppState::rate_limited(wait)).await);
    }
    let integration = integration_by_slug(state, slug).await?;
    // Like a partner's: bad signatures for one integration count from whichever address.
    let integration_key = ratelimit::integration_key(integration.id);
    if let Some(wait) = state.throttled_key(&integration_key, state.settings.failed_auth_limit_per_partner).await? {
        return Err(state.refuse(event.clone(), AppState::rate_limited(wait)).await);
    }
    Ok((integration, integration_key))
}

/// Counts a failed authentication for the client behind `ctx` and for the integration.
async fn count_failure(state: &AppState, ctx: &Ctx, integration_key: &str) {
    state.failed_authentication(ctx).await;
    state.count_failure(integration_key).await;
}

/// Every check up to the user; on failure the refusal is audited with its reason.
async fn verify(
    state: &AppState,
    ctx: &Ctx,
    event: &mut AuditEvent,
    slug: &str,
    headers: &HeaderMap,
    body: RawBody,
) -> ApiResult<(Arc<InboundIntegration>, ValidEvent)> {
    let (integration, integration_key) = admit(state, ctx, event, slug).await?;
    let result = async {
        let body = body_bytes(body)?;
        content_type_check(headers)?;
        timestamp_check(state, &integration, headers)?;
        signature_check(state, &integration, headers, &body)?;
        event_check(state, &integration, &body)
    }
    .await;
    match result {
        Ok(valid) => {
            event.detail = Some(format!("integration={} event={}", integration.slug, valid.event_id));
            Ok((integration, valid))
        }
        Err(error) => {
            if error.problem.kind == ProblemKind::AuthenticationRequired {
                count_failure(state, ctx, &integration_key).await;
            }
            Err(state.refuse(event.clone(), error).await)
        }
    }
}

/// Verifies a signed SSO event and answers a one-time sign-in link for its user.
#[utoipa::path(post, path = "/v1/inbound/{slug}/sso", tag = "inbound",
    params(
        ("slug" = String, Path, description = "The integration's slug."),
        ("Vinst-Timestamp" = Option<String>, Header, description = "Unix seconds or RFC 3339, as signed (also `X-Vinst-Timestamp`)."),
        ("Vinst-Signature" = Option<String>, Header, description = "The signature per the integration's profile, e.g. lowercase hex of HMAC-SHA256 over `{timestamp}.{body}`; a `sha256=` prefix is accepted (also `X-Vinst-Signature`)."),
    ),
    request_body(content = SsoEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "Open `redirectUrl` in the user's browser, once, within 5 minutes.", body = WebhookRedirect),
        WebhookRefusals,
    ))]
async fn sso_event(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<WebhookRedirect>> {
    let mut event = ctx.event("inbound.sso");
    event.detail = Some(format!("integration={slug}"));
    let (integration, valid) = verify(&state, &ctx, &mut event, &slug, &headers, body).await?;
    let (organization, served) = match organization_check(&state, &integration, &valid).await {
        Ok(found) => found,
        Err(error) => return Err(state.refuse(event, error).await),
    };
    event.organization_id = Some(organization.id.to_string());
    if !served {
        return Err(state.refuse_because(event, not_linked(), NOT_LINKED).await);
    }
    let landing = match user_check(&state, &integration, &organization, &valid).await {
        Ok(landing) => landing,
        Err(error) => return Err(state.refuse(event, error).await),
    };
    let (redirect_url, reason) = match landing {
        Landing::SignIn(user) => (sign_in(&state, &integration, &user, &mut event)?, "signed-in"),
        Landing::Provision => {
            let user = provision(&state, &organization, &valid).await?;
            (sign_in(&state, &integration, &user, &mut event)?, "provisioned")
        }
        Landing::Register(url) => (register_url(&state, &url, &organization, &valid)?, "register"),
    };
    let mut accepted = event.clone();
    accepted.at = state.now();
    accepted.outcome = Some(Outcome::Accepted);
    accepted.reason = reason.into();
    // One commit remembers the event id and records the acceptance; a replay (here or on any
    // node) loses on the primary key and its link is never handed out.
    let remember = Write::RememberEvent {
        integration: integration.id,
        event_id: valid.event_id.clone(),
        expires_at: state.now() + integration.tolerance_seconds + REPLAY_MARGIN_SECONDS,
        audit: accepted,
    };
    if !state.write(remember).await? {
        let error = ApiError::new(ProblemKind::Conflict, "This eventId was already used.");
        return Err(state.refuse(event, error).await);
    }
    Ok(Json(WebhookRedirect { redirect_url }))
}

fn sign_in(
    state: &AppState,
    integration: &InboundIntegration,
    user: &User,
    event: &mut AuditEvent,
) -> ApiResult<String> {
    let path = RedirectPath::parse(&integration.landing_path).map_err(|_| ApiError::internal())?;
    let (link, jti) = sso::issue(state, user, None, &path)?;
    event.user_id = Some(user.id.to_string());
    if let Some(detail) = &mut event.detail {
        detail.push_str(&format!(" jti={jti}"));
    }
    Ok(link.redirect_url)
}

/// Creates the user the event names; a concurrent creation of the same email wins and is used.
async fn provision(state: &AppState, organization: &Organization, event: &ValidEvent) -> ApiResult<User> {
    let user = User {
        id: UserId::new(),
        organization_id: organization.id,
        email: event.email.to_string(),
        given_name: event.first_name.clone(),
        family_name: event.last_name.clone(),
        status: UserStatus::Active,
        status_set_by: None,
        created_at: state.now(),
    };
    let created = state.store.create_user(&user).await;
    state.caches.users_by_email.clear();
    match created {
        Ok(()) => Ok(user),
        Err(handoff_core::store::StoreError::Conflict(_)) => state
            .store
            .user_by_email(organization.id, event.email.as_str())
            .await?
            .filter(|u| u.status == UserStatus::Active)
            .ok_or_else(|| ApiError::new(ProblemKind::Forbidden, "The user is disabled.")),
        Err(error) => Err(error.into()),
    }
}

/// The registration URL with a signed, short-lived `prefill` token appended.
fn register_url(state: &AppState, url: &str, organization: &Organization, event: &ValidEvent) -> ApiResult<String> {
    let now = state.now();
    let claims = PrefillClaims {
        iss: state.settings.public_url.base.clone(),
        aud: url.to_owned(),
        email: event.email.to_string(),
        given_name: event.first_name.clone(),
        family_name: event.last_name.clone(),
        org: organization.id,
        org_no: event.org_no.clone(),
        jti: Uuid::new_v4().simple().to_string(),
        iat: now,
        exp: now + PREFILL_TTL_SECONDS,
    };
    let token = state.keys.prefill().sign(&claims).map_err(|_| ApiError::internal())?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}prefill={token}"))
}

fn check(name: &str, result: Result<String, ApiError>) -> SandboxCheck {
    match result {
        Ok(detail) => SandboxCheck { name: name.into(), ok: true, detail },
        Err(error) => SandboxCheck { name: name.into(), ok: false, detail: error.problem.detail },
    }
}

/// Runs every check without signing anyone in or remembering the event, and reports each. A
/// failed signature counts towards the failed-authentication limits, as at the real endpoint.
#[utoipa::path(post, path = "/v1/inbound/{slug}/sso/test", tag = "inbound",
    params(
        ("slug" = String, Path, description = "The integration's slug."),
        ("Vinst-Timestamp" = Option<String>, Header, description = "Unix seconds or RFC 3339, as signed (also `X-Vinst-Timestamp`)."),
        ("Vinst-Signature" = Option<String>, Header, description = "The signature per the integration's profile, e.g. lowercase hex of HMAC-SHA256 over `{timestamp}.{body}`; a `sha256=` prefix is accepted (also `X-Vinst-Signature`)."),
    ),
    request_body(content = Option<serde_json::Value>, content_type = "application/json",
        description = "Anything: the event as the portal would send it. The report says what is wrong with it."),
    responses(
        (status = 200, description = "Each check and whether it passed; `ok` when all did.", body = SandboxReport),
        SandboxRefusals,
    ))]
async fn sandbox(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<SandboxReport>> {
    let mut audit = ctx.event("inbound.sandbox");
    audit.detail = Some(format!("integration={slug}"));
    let (integration, integration_key) = admit(&state, &ctx, &audit, &slug).await?;
    if !integration.sandbox {
        return Err(ApiError::not_found("The sandbox is not enabled for this integration."));
    }
    let body = body_bytes(body)?;
    let signature = signature_check(&state, &integration, &headers, &body);
    let signed = signature.is_ok();
    if !signed {
        count_failure(&state, &ctx, &integration_key).await;
    }
    let mut checks = vec![
        check("content-type", content_type_check(&headers).map(|()| "application/json".into())),
        check("timestamp", timestamp_check(&state, &integration, &headers).map(|()| "within the tolerance".into())),
        check("signature", signature.map(|()| format!("valid for profile {}", integration.signature_profile))),
    ];
    let event = event_check(&state, &integration, &body);
    checks.push(check("event", event.as_ref().map(|e| format!("eventId {}", e.event_id)).map_err(clone_error)));
    // Who is known is told only to a sender that holds the secret.
    if let (true, Ok(valid)) = (signed, &event) {
        let organization = organization_check(&state, &integration, valid).await.and_then(|(organization, served)| {
            if served {
                Ok(organization)
            } else {
                Err(not_linked())
            }
        });
        checks.push(check(
            "organization",
            organization.as_ref().map(|o| format!("organization {}", o.id)).map_err(clone_error),
        ));
        if let Ok(org) = &organization {
            let user = user_check(&state, &integration, org, valid).await.map(|landing| match landing {
                Landing::SignIn(user) => format!("would sign in user {}", user.id),
                Landing::Provision => "unknown user: would be provisioned".into(),
                Landing::Register(_) => "unknown user: would be sent to registration".into(),
            });
            checks.push(check("user", user));
        }
    }
    let ok = checks.iter().all(|c| c.ok);
    audit.at = state.now();
    audit.outcome = Some(if ok { Outcome::Accepted } else { Outcome::Refused });
    audit.reason = if ok { "all-checks-passed".into() } else { "check-failed".into() };
    state.audit(audit).await?;
    Ok(Json(SandboxReport { ok, checks }))
}

fn clone_error(error: &ApiError) -> ApiError {
    ApiError::from(error.problem.clone())
}
