//! Who may call: the admin bearer token, and a partner with its organization (both secrets,
//! the partner linked to the organization, the failed-authentication limits and the partner's
//! request budget).

use std::sync::Arc;

use handoff_core::ids::PartnerId;
use handoff_core::limits;
use handoff_core::model::{AuditEvent, Organization, Partner};
use handoff_core::problem::ProblemKind;
use handoff_core::secret::{verify_or_dummy, SecretDigest};

use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};

/// The partner API's credential headers, and `x-user-id` last.
pub const PARTNER_HEADERS: [&str; 5] =
    ["x-partner-id", "x-partner-secret", "x-organization-id", "x-organization-secret", "x-user-id"];

/// What a partner call presented in [`PARTNER_HEADERS`].
#[derive(Debug, Default)]
pub struct PartnerCredentials {
    /// Each header's value, trimmed, when it was sent, readable and not empty.
    pub values: [Option<String>; 5],
    /// The headers sent more than once: a proxy reading the last value would see another
    /// identity than handoff, which reads the first.
    pub repeated: Vec<&'static str>,
    /// Whether the request sent any of the headers at all.
    pub named_any: bool,
}

/// An authenticated partner acting for one of its organizations, with the audit record its
/// call will write.
pub struct PartnerCaller {
    pub partner: Arc<Partner>,
    pub organization: Arc<Organization>,
    /// `x-user-id`, when the call names a user.
    pub user_id: Option<String>,
    pub event: AuditEvent,
}

impl Services {
    /// Whether `bearer` is the admin token; a wrong one counts as a failed authentication.
    pub async fn authenticate_admin(&self, ctx: &Ctx, bearer: &str) -> ApiResult<()> {
        self.check_client(ctx).await?;
        if SecretDigest::of(bearer).matches(&self.admin_token) {
            Ok(())
        } else {
            self.count_failure(&[ctx.limiter_key()]).await;
            Err(ApiError::new(ProblemKind::AuthenticationRequired, "A valid admin bearer token is required."))
        }
    }

    /// Authenticates a partner call of `kind` (audited as that when refused). A request naming no
    /// partner, organization or user says nothing about anyone: its refusal is not audited.
    pub async fn authenticate(
        &self,
        ctx: &Ctx,
        kind: &str,
        credentials: PartnerCredentials,
        needs_user: bool,
    ) -> ApiResult<PartnerCaller> {
        let mut event = ctx.event(kind);
        let outcome = self.authenticate_partner(ctx, &mut event, credentials, needs_user).await;
        let (partner, organization, user_id) = self.conclude(&event, outcome).await?;
        Ok(PartnerCaller { partner, organization, user_id, event })
    }

    async fn authenticate_partner(
        &self,
        ctx: &Ctx,
        event: &mut AuditEvent,
        credentials: PartnerCredentials,
        needs_user: bool,
    ) -> ApiResult<(Arc<Partner>, Arc<Organization>, Option<String>)> {
        self.check_client(ctx).await?;
        let named_any = credentials.named_any;
        let ([partner_id, partner_secret, organization_id, organization_secret], user_id) =
            credentials.require(needs_user).map_err(|error| if named_any { error } else { error.unaudited() })?;
        event.partner_id = Some(partner_id.clone());
        event.organization_id = Some(organization_id.clone());

        let parsed: Option<PartnerId> = partner_id.parse().ok();
        let partner = match parsed {
            Some(id) => self.store.partner(id).await?,
            None => None,
        };
        // Failures naming a partner count for it too, from whichever address they come: a guesser
        // spread over many addresses still meets a limit. Any well-formed id is counted, known or
        // not, so that the work done does not tell which ids exist.
        let partner_key = parsed.map(limits::partner_key);
        if let Some(key) = &partner_key {
            self.check_key(key, self.settings.failed_auth_limit_per_partner).await?;
        }
        let counted: Vec<&str> = [Some(ctx.limiter_key()), partner_key.as_deref()].into_iter().flatten().collect();
        let failed = |what: &'static str| async move {
            self.count_failure(&counted).await;
            ApiError::new(ProblemKind::AuthenticationRequired, what)
        };
        let now = self.now();
        let partner_ok = verify_or_dummy(partner.as_ref().map(|p| &p.credential), &partner_secret, now);
        let Some(partner) = partner.filter(|_| partner_ok) else {
            return Err(failed("Invalid partner credentials").await);
        };
        let organization = match organization_id.parse() {
            Ok(id) => self.store.organization(id).await?,
            Err(_) => None,
        };
        let organization_ok = verify_or_dummy(organization.as_ref().map(|o| &o.credential), &organization_secret, now);
        let Some(organization) = organization.filter(|_| organization_ok) else {
            return Err(failed("Invalid organization credentials").await);
        };
        self.admit_partner(partner.id)?;
        if !self.store.linked(partner.id, organization.id).await? {
            return Err(
                ApiError::forbidden("The partner is not linked to this organization.").because("partner-not-linked")
            );
        }
        Ok((partner, organization, user_id))
    }
}

impl PartnerCredentials {
    /// The four credentials and the user id, or a 400 naming every header sent more than once,
    /// else every one missing (`x-user-id` too when `needs_user`).
    fn require(self, needs_user: bool) -> ApiResult<([String; 4], Option<String>)> {
        if !self.repeated.is_empty() {
            return Err(ApiError::invalid(format!("Headers sent more than once: {}", self.repeated.join(", "))));
        }
        let required = if needs_user { PARTNER_HEADERS.len() } else { 4 };
        let missing: Vec<&str> = PARTNER_HEADERS[..required]
            .iter()
            .zip(&self.values)
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| *name)
            .collect();
        match self.values {
            [Some(partner_id), Some(partner_secret), Some(organization_id), Some(organization_secret), user_id]
                if missing.is_empty() =>
            {
                Ok(([partner_id, partner_secret, organization_id, organization_secret], user_id))
            }
            _ => Err(ApiError::invalid(format!("Missing required headers: {}", missing.join(", ")))),
        }
    }
}
