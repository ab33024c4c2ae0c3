//! Inbound webhook SSO (seed 002, supplier side): a signed user event from a trusted portal,
//! verified on the raw bytes, replays refused, its user found or provisioned, answered with a
//! one-time sign-in link.
//!
//! The checks run in a fixed order — content type, timestamp, signature, event fields, replay,
//! organization (known, and linked to the integration), user — and the sandbox runs the same
//! checks to explain a failure. Both count failed signatures towards, and obey, the
//! failed-authentication limits.

use std::sync::Arc;

use handoff_core::limits;
use handoff_core::model::{AuditEvent, InboundIntegration, Organization, UnknownUserPolicy, User, UserStatus};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::RedirectPath;
use handoff_core::store::Write;
use handoff_core::webhook::{validate, SsoEvent, ValidEvent};
use handoff_core::wire::{SandboxCheck, SandboxReport};
use handoff_webhook::{check_timestamp, Request, SignatureProfile, VerifyError};

use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::inbound_context;

/// Seconds an event id is remembered beyond the timestamp tolerance.
const REPLAY_MARGIN_SECONDS: i64 = 300;
/// The longest slug the admin API accepts.
pub(super) const MAX_SLUG_LEN: usize = 64;

/// The prefix of a remembered `webhook-id`, which keeps it apart from `eventId`s.
const WEBHOOK_ID_KEY: &str = "webhook-id:";

/// The audit reason of an event for an organization its integration is not linked to.
const NOT_LINKED: &str = "organization-not-linked";

/// The audit reason of an event whose id (`webhook-id` or `eventId`) was already used.
const REPLAYED: &str = "replayed-event";

/// A webhook as it arrived: the headers any profile reads (lower-case names of
/// [`handoff_webhook::ALL_HEADER_NAMES`] with their text values), and the raw body or why it
/// could not be read.
pub struct SignedEvent {
    pub content_type: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub body: ApiResult<Vec<u8>>,
}

impl SignedEvent {
    /// What `profile` verifies of this request, with its `body`.
    fn request<'a>(&'a self, profile: SignatureProfile, body: &'a [u8]) -> Request<'a> {
        let header = |name: &str| self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        Request::from_headers(profile, header, body)
    }
}

/// What the event leads to for its user.
enum Landing {
    SignIn(Arc<User>),
    Provision,
    Register(String),
}

impl Services {
    /// Verifies a signed SSO event and answers a one-time sign-in link for its user.
    pub async fn inbound_sso(&self, ctx: &Ctx, slug: &str, signed: SignedEvent) -> ApiResult<String> {
        let mut event = ctx.event("inbound.sso");
        event.detail = Some(format!("integration={slug}"));
        let (integration, counted) = self.admit_inbound(ctx, &event, slug).await?;
        let outcome = self.land(ctx, &counted, &integration, &mut event, signed).await;
        self.conclude(&event, outcome).await
    }

    async fn land(
        &self,
        ctx: &Ctx,
        integration_key: &str,
        integration: &InboundIntegration,
        event: &mut AuditEvent,
        signed: SignedEvent,
    ) -> ApiResult<String> {
        let valid = self.verify_event(ctx, integration_key, integration, &signed).await?;
        event.detail = Some(format!("integration={} event={}", integration.slug, valid.event_id));
        let (organization, served) = self.organization_check(integration, &valid).await?;
        event.organization_id = Some(organization.id.to_string());
        if !served {
            return Err(not_linked());
        }
        let (redirect_url, reason) = match self.user_check(integration, &organization, &valid).await? {
            Landing::SignIn(user) => (self.sign_in(integration, &user, event)?, "signed-in"),
            Landing::Provision => {
                let user = self.provision(&organization, &valid).await?;
                (self.sign_in(integration, &user, event)?, "provisioned")
            }
            Landing::Register(url) => (self.register_url(&url, &organization, &valid)?, "register"),
        };
        // One commit remembers the event's ids and records the acceptance; a replay (here or on
        // any node) loses on a primary key and its link is never handed out. Standard Webhooks'
        // `webhook-id` is remembered beside the body's `eventId` (in its own namespace, so a
        // sender may use one value for both).
        let mut event_ids = vec![valid.event_id.clone()];
        let webhook_id = signed.request(integration.signature_profile, &[]).id;
        event_ids.extend(webhook_id.map(|id| format!("{WEBHOOK_ID_KEY}{id}")));
        let remember = Write::RememberEvent {
            integration: integration.id,
            event_ids,
            expires_at: self.now() + integration.tolerance_seconds + REPLAY_MARGIN_SECONDS,
            audit: event.clone().accepted(self.now(), reason),
        };
        if !self.write(remember).await? {
            let used = if webhook_id.is_some() { "This webhook-id or eventId" } else { "This eventId" };
            return Err(ApiError::new(ProblemKind::Conflict, format!("{used} was already used.")).because(REPLAYED));
        }
        Ok(redirect_url)
    }

    /// Every check up to the event's fields; a failed authentication counts for the client and
    /// the integration.
    async fn verify_event(
        &self,
        ctx: &Ctx,
        integration_key: &str,
        integration: &InboundIntegration,
        signed: &SignedEvent,
    ) -> ApiResult<ValidEvent> {
        let checked = async {
            let body = signed.body.as_ref().map_err(clone_error)?;
            content_type_check(signed)?;
            let request = signed.request(integration.signature_profile, body);
            let secrets = self.active_secrets(integration)?;
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            integration
                .signature_profile
                .verify(&secrets, &request, self.now(), integration.tolerance_seconds)
                .map_err(refusal)?;
            self.event_check(integration, body)
        };
        let outcome = checked.await;
        if outcome.as_ref().is_err_and(|error| error.problem.kind == ProblemKind::AuthenticationRequired) {
            self.count_failure(&[ctx.limiter_key(), integration_key]).await;
        }
        outcome
    }

    /// The integration `slug`, unless the client or the integration used up its failed
    /// authentications (then 429, audited as `event`); with the integration's failure counter
    /// key. An unknown integration is not audited: the request names nothing that exists.
    async fn admit_inbound(
        &self,
        ctx: &Ctx,
        event: &AuditEvent,
        slug: &str,
    ) -> ApiResult<(Arc<InboundIntegration>, String)> {
        let client = self.check_client(ctx).await;
        self.conclude(event, client).await?;
        let unknown = || ApiError::not_found("Unknown integration.").unaudited();
        // No slug is longer (admin API): a longer one is not looked up, nor cached as unknown.
        if slug.len() > MAX_SLUG_LEN {
            return Err(unknown());
        }
        let integration = self.store.integration_by_slug(slug).await?.ok_or_else(unknown)?;
        // Like a partner's: bad signatures for one integration count from whichever address.
        let integration_key = limits::integration_key(integration.id);
        let limited = self.check_key(&integration_key, self.settings.failed_auth_limit_per_partner).await;
        self.conclude(event, limited).await?;
        Ok((integration, integration_key))
    }

    /// The sandbox's timestamp check: the header's form and its distance from now.
    fn timestamp_check(&self, integration: &InboundIntegration, request: &Request<'_>) -> ApiResult<()> {
        let profile = integration.signature_profile;
        profile.fresh(request, self.now(), integration.tolerance_seconds).map(drop).map_err(refusal)
    }

    /// The integration's active secrets, unsealed: the current one and an unexpired previous one.
    fn active_secrets(&self, integration: &InboundIntegration) -> ApiResult<Vec<String>> {
        let context = inbound_context(integration);
        let mut sealed = vec![&integration.secrets.current];
        if let Some((previous, until)) = &integration.secrets.previous {
            if self.now() < *until {
                sealed.push(previous);
            }
        }
        sealed.into_iter().map(|s| self.sealer.unseal(s, &context)).collect()
    }

    /// The sandbox's signature check: every check of the signature but the timestamp's age.
    fn signature_check(&self, integration: &InboundIntegration, request: &Request<'_>) -> ApiResult<()> {
        let secrets = self.active_secrets(integration)?;
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        integration.signature_profile.verify_signature(&secrets, request).map_err(refusal)
    }

    fn event_check(&self, integration: &InboundIntegration, body: &[u8]) -> ApiResult<ValidEvent> {
        let event: SsoEvent =
            serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("Malformed event: {e}")))?;
        let valid = validate(&event, &integration.event_type).map_err(ApiError::invalid)?;
        // A body-only signature does not cover the timestamp header: the signed eventTimestamp
        // must then be fresh itself, or a captured request could be replayed once its eventId is
        // forgotten.
        if !integration.signature_profile.covers_timestamp()
            && check_timestamp(&event.event_timestamp, self.now(), integration.tolerance_seconds).is_err()
        {
            return Err(ApiError::new(ProblemKind::AuthenticationRequired, "eventTimestamp is outside the tolerance.")
                .because("event-timestamp-outside-tolerance"));
        }
        Ok(valid)
    }

    /// The event's organization, and whether the integration serves it (is linked to it).
    async fn organization_check(
        &self,
        integration: &InboundIntegration,
        event: &ValidEvent,
    ) -> ApiResult<(Arc<Organization>, bool)> {
        let organization = self
            .store
            .organization_by_number(&event.org_no)
            .await?
            .ok_or_else(|| ApiError::forbidden("Unknown organization."))?;
        let served = self.store.integration_serves(integration.id, organization.id).await?;
        Ok((organization, served))
    }

    async fn user_check(
        &self,
        integration: &InboundIntegration,
        org: &Organization,
        event: &ValidEvent,
    ) -> ApiResult<Landing> {
        match self.store.user_by_email(org.id, event.email.as_str()).await? {
            Some(user) if user.status == UserStatus::Active => Ok(Landing::SignIn(user)),
            Some(_) => Err(ApiError::forbidden("The user is disabled.")),
            None => match (integration.unknown_user, &integration.register_url) {
                (UnknownUserPolicy::Provision, _) => Ok(Landing::Provision),
                (UnknownUserPolicy::Register, Some(url)) => Ok(Landing::Register(url.clone())),
                _ => Err(ApiError::forbidden("Unknown user.")),
            },
        }
    }

    fn sign_in(&self, integration: &InboundIntegration, user: &User, event: &mut AuditEvent) -> ApiResult<String> {
        let path = RedirectPath::parse(&integration.landing_path).map_err(|_| ApiError::internal())?;
        let (link, jti) = self.issue(user, None, &path)?;
        event.user_id = Some(user.id.to_string());
        if let Some(detail) = &mut event.detail {
            detail.push_str(&format!(" jti={jti}"));
        }
        Ok(link.redirect_url)
    }

    /// Runs every check without signing anyone in or remembering the event, and reports each. A
    /// failed signature counts towards the failed-authentication limits, as at the real endpoint.
    pub async fn inbound_sandbox(&self, ctx: &Ctx, slug: &str, signed: SignedEvent) -> ApiResult<SandboxReport> {
        let mut audit = ctx.event("inbound.sandbox");
        audit.detail = Some(format!("integration={slug}"));
        let (integration, integration_key) = self.admit_inbound(ctx, &audit, slug).await?;
        if !integration.sandbox {
            return Err(ApiError::not_found("The sandbox is not enabled for this integration."));
        }
        let body = signed.body.as_ref().map_err(clone_error)?;
        let request = signed.request(integration.signature_profile, body);
        let signature = self.signature_check(&integration, &request);
        let signed_ok = signature.is_ok();
        if !signed_ok {
            self.count_failure(&[ctx.limiter_key(), &integration_key]).await;
        }
        let mut checks = vec![
            sandbox_check("content-type", content_type_check(&signed).map(|()| "application/json".into())),
            sandbox_check(
                "timestamp",
                self.timestamp_check(&integration, &request).map(|()| "within the tolerance".into()),
            ),
            sandbox_check(
                "signature",
                signature.map(|()| format!("valid for profile {}", integration.signature_profile)),
            ),
        ];
        let event = self.event_check(&integration, body);
        checks.push(sandbox_check(
            "event",
            event.as_ref().map(|e| format!("eventId {}", e.event_id)).map_err(clone_error),
        ));
        // Who is known is told only to a sender that holds the secret.
        if let (true, Ok(valid)) = (signed_ok, &event) {
            let organization = self.organization_check(&integration, valid).await.and_then(|(organization, served)| {
                if served {
                    Ok(organization)
                } else {
                    Err(not_linked())
                }
            });
            checks.push(sandbox_check(
                "organization",
                organization.as_ref().map(|o| format!("organization {}", o.id)).map_err(clone_error),
            ));
            if let Ok(org) = &organization {
                let user = self.user_check(&integration, org, valid).await.map(|landing| match landing {
                    Landing::SignIn(user) => format!("would sign in user {}", user.id),
                    Landing::Provision => "unknown user: would be provisioned".into(),
                    Landing::Register(_) => "unknown user: would be sent to registration".into(),
                });
                checks.push(sandbox_check("user", user));
            }
        }
        let ok = checks.iter().all(|c| c.ok);
        let now = self.now();
        let audit = if ok { audit.accepted(now, "all-checks-passed") } else { audit.refused(now, "check-failed", "") };
        self.audit(audit).await?;
        Ok(SandboxReport { ok, checks })
    }
}

/// Seed 002 fixes `application/json` for the webhook (the partner API also takes
/// `application/*+json`).
fn content_type_check(signed: &SignedEvent) -> ApiResult<()> {
    let is_json = signed
        .content_type
        .as_deref()
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(ProblemKind::UnsupportedMediaType, "Content-Type must be application/json."))
    }
}

/// A failed check of the signed request: 401 with the check's sentence, audited with its
/// reason. A stored secret that cannot key the profile's MAC is the server's fault.
fn refusal(error: VerifyError) -> ApiError {
    match error {
        VerifyError::Secret(_) => ApiError::internal(),
        error => ApiError::new(ProblemKind::AuthenticationRequired, error.to_string()).because(error.reason()),
    }
}

fn not_linked() -> ApiError {
    ApiError::forbidden("This integration is not linked to the organization.").because(NOT_LINKED)
}

fn sandbox_check(name: &str, result: Result<String, ApiError>) -> SandboxCheck {
    match result {
        Ok(detail) => SandboxCheck { name: name.into(), ok: true, detail },
        Err(error) => SandboxCheck { name: name.into(), ok: false, detail: error.problem.detail },
    }
}

fn clone_error(error: &ApiError) -> ApiError {
    ApiError { problem: error.problem.clone(), retry_after: error.retry_after, audited: false, reason: error.reason }
}
