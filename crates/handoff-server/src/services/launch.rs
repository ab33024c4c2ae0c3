//! Outbound webhook SSO (seed 002, portal side): a launch signs the signed-in user's event with
//! the supplier's secret, POSTs it, checks the `redirectUrl` it answers. Every launch, successful
//! or not, is audited; a confirmation asked for is not (nothing left handoff).
//!
//! Must not: follow the supplier's HTTP redirects, read an unbounded answer, wait longer than the
//! supplier's timeout, connect to a reserved address unless allowed (`infra::ssrf`), or send the
//! browser to a host the supplier was not allowed.

use std::time::Duration;

use handoff_core::model::{AuditEvent, Supplier};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::is_browser_safe;
use handoff_core::webhook::{SsoEvent, SsoEventData};
use handoff_core::wire::WebhookRedirect;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Identity, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::{supplier_context, Purpose};
use crate::infra::ssrf::{check_host, forbidden_cause, ForbiddenHost};

/// Largest supplier answer read.
const ANSWER_LIMIT: usize = 64 * 1024;

/// What a launch request may do.
pub enum Step {
    /// Ask the user first: the request did not come from the portal's pages.
    Confirm,
    /// Send the event: the request came from the portal's pages.
    Send,
    /// The confirmation page's form: sends if the browser says it was the portal's page and the
    /// form's token is the session's for this supplier.
    Confirmed { from_portal: bool, token: Option<String> },
}

/// What a launch ended in.
pub enum Launched {
    /// Ask first: the supplier to name on the confirmation page.
    Confirm(Supplier),
    /// The checked `redirectUrl`.
    Sent(url::Url),
}

impl Services {
    /// One launch of `identity` into supplier `slug`; `step` says what the request may do.
    pub async fn launch(&self, ctx: &Ctx, identity: &Identity, slug: &str, step: Step) -> ApiResult<Launched> {
        let mut event = ctx.event("launch");
        event.user_id = Some(identity.user.id.to_string());
        event.organization_id = Some(identity.user.organization_id.to_string());
        event.detail = Some(format!("supplier={slug}"));
        let outcome = self.launch_step(identity, slug, step, &mut event).await;
        let launched = self.conclude(&event, outcome).await?;
        if let Launched::Sent(_) = launched {
            self.audit(event.accepted(self.now(), "launched")).await?;
        }
        Ok(launched)
    }

    async fn launch_step(
        &self,
        identity: &Identity,
        slug: &str,
        step: Step,
        event: &mut AuditEvent,
    ) -> ApiResult<Launched> {
        let send = match step {
            Step::Confirm => false,
            Step::Send => true,
            Step::Confirmed { from_portal: false, .. } => {
                return Err(ApiError::forbidden("The confirmation was not sent from the portal's page."))
            }
            Step::Confirmed { token, .. } => {
                let valid = token.is_some_and(|token| {
                    self.sealer.form_token_matches(identity.session.id.as_uuid(), Purpose::Launch, slug, &token)
                });
                if !valid {
                    return Err(ApiError::forbidden(
                        "The confirmation's token is missing or not valid for this session; open the supplier again.",
                    ));
                }
                true
            }
        };
        let supplier =
            self.store.fresh().supplier_by_slug(slug).await?.ok_or_else(|| ApiError::not_found("No such supplier."))?;
        if send {
            Ok(Launched::Sent(self.call(&supplier, identity, event).await?))
        } else {
            Ok(Launched::Confirm(supplier))
        }
    }

    /// Signs and sends the event; returns the checked redirect URL. An endpoint refused for its
    /// address says so in `event`.
    async fn call(&self, supplier: &Supplier, identity: &Identity, event: &mut AuditEvent) -> ApiResult<url::Url> {
        let endpoint = url::Url::parse(&supplier.endpoint).map_err(|_| ApiError::internal())?;
        if !self.settings.allow_private_endpoints {
            // IP literals never reach the client's resolver.
            if let Some(Err(forbidden)) = endpoint.host().map(|host| check_host(&host)) {
                return Err(refused_endpoint(&forbidden, supplier, event));
            }
        }
        let signed = self.signed_event(supplier, identity).await?;
        let names = supplier.signature_profile.headers();
        let timeout = supplier.timeout_seconds.unsigned_abs();
        let late = || {
            ApiError::new(ProblemKind::GatewayTimeout, format!("The supplier did not answer within {timeout} seconds."))
        };
        let mut request = self
            .http
            .post(endpoint)
            .timeout(Duration::from_secs(timeout))
            .header("content-type", "application/json")
            .header(names.timestamp[0], &signed.timestamp)
            .header(names.signature[0], &signed.signature);
        if let Some(id) = names.id {
            request = request.header(id, &signed.id);
        }
        let response = request.body(signed.body).send().await.map_err(|err| match forbidden_cause(&err) {
            Some(forbidden) => refused_endpoint(forbidden, supplier, event),
            None if err.is_timeout() => late(),
            None => gateway("The supplier could not be reached."),
        })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(gateway(format!("The supplier answered {} instead of 200.", response.status().as_u16())));
        }
        let answer = read_capped(response, late).await?;
        let redirect: WebhookRedirect = serde_json::from_slice(&answer)
            .map_err(|_| gateway("The supplier's answer is not {\"redirectUrl\": …}."))?;
        let url =
            url::Url::parse(&redirect.redirect_url).map_err(|_| gateway("The supplier's redirectUrl is not a URL."))?;
        let host_allowed = url.host_str().is_some_and(|host| {
            supplier.allowed_redirect_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))
        });
        if !is_browser_safe(&url) || !host_allowed {
            return Err(gateway("The supplier redirected to a host it is not allowed to use."));
        }
        Ok(url)
    }

    /// The user's event for `supplier`, signed with its profile: by the secret it signs with
    /// now, or (`standard-webhooks`) by every secret in use.
    async fn signed_event(&self, supplier: &Supplier, identity: &Identity) -> ApiResult<Outgoing> {
        let user = &identity.user;
        let organization =
            self.store.fresh().organization(user.organization_id).await?.ok_or_else(ApiError::internal)?;
        let org_no = organization.org_numbers.first().cloned().ok_or_else(|| {
            ApiError::forbidden("Your organization has no organization number, which suppliers need.")
        })?;
        let now = self.clock.now();
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
        let context = supplier_context(supplier);
        let secrets = supplier
            .secrets
            .signing_all(now.unix_timestamp(), supplier.signature_profile)
            .into_iter()
            .map(|sealed| self.sealer.unseal(sealed, &context))
            .collect::<ApiResult<Vec<String>>>()?;
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        // The event's id is the message's: a supplier may remember either.
        let id = sso_event.event_id;
        let signature =
            supplier.signature_profile.sign(&secrets, &id, &timestamp, &body).map_err(|_| ApiError::internal())?;
        Ok(Outgoing { id, timestamp, signature, body })
    }
}

/// A signed event on its way: the header values and the body.
struct Outgoing {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

/// The supplier's answer, at most [`ANSWER_LIMIT`] bytes.
async fn read_capped(mut response: reqwest::Response, late: impl Fn() -> ApiError) -> ApiResult<Vec<u8>> {
    let mut answer = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if answer.len() + chunk.len() <= ANSWER_LIMIT => answer.extend_from_slice(&chunk),
            Ok(Some(_)) => return Err(gateway("The supplier's answer is over 64 KiB.")),
            Ok(None) => return Ok(answer),
            Err(err) if err.is_timeout() => return Err(late()),
            Err(_) => return Err(gateway("The supplier's answer broke off.")),
        }
    }
}

fn gateway(detail: impl Into<String>) -> ApiError {
    ApiError::new(ProblemKind::BadGateway, detail)
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
