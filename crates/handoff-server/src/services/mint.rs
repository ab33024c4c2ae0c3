//! Minting a one-time sign-in link for a partner's user, and signing the SSO token any surface
//! hands out (the partner API's links and the inbound webhook's).

use std::fmt::Write as _;

use handoff_core::ids::PartnerId;
use handoff_core::model::{AuditEvent, Organization, Partner, User, UserStatus};
use handoff_core::redirect::RedirectPath;
use handoff_core::token::SsoClaims;
use handoff_core::wire::{SsoLink, SsoRequest};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use uuid::Uuid;

use super::{PartnerCaller, Services};
use crate::error::{ApiError, ApiResult};

/// Everything but RFC 3986's unreserved characters is encoded in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl Services {
    /// The audience of SSO tokens: the redemption endpoint.
    pub(super) fn audience(&self) -> String {
        self.settings.public_url.join("/auth/sso")
    }

    /// Mints a one-time link for the caller's `x-user-id` in its organization. `request` is the
    /// body, parsed after authentication so that its refusal names the partner in the audit log.
    pub async fn mint(&self, caller: PartnerCaller, request: ApiResult<Option<SsoRequest>>) -> ApiResult<SsoLink> {
        let PartnerCaller { partner, organization, user_id, mut event } = caller;
        let outcome = self.mint_for(&partner, &organization, user_id, &mut event, request).await;
        let link = self.conclude(&event, outcome).await?;
        self.audit(event.accepted(self.now(), "minted")).await?;
        Ok(link)
    }

    async fn mint_for(
        &self,
        partner: &Partner,
        organization: &Organization,
        user_id: Option<String>,
        event: &mut AuditEvent,
        request: ApiResult<Option<SsoRequest>>,
    ) -> ApiResult<SsoLink> {
        let request = request?.unwrap_or_default();
        let user_id = user_id.unwrap_or_default();
        event.user_id = Some(user_id.clone());
        let path = match request.redirect_path {
            None => self.settings.default_redirect_path.clone(),
            Some(raw) => RedirectPath::parse(&raw).map_err(|reason| ApiError::invalid(reason.to_string()))?,
        };
        if !path.is_within(&partner.allowed_path_prefixes) {
            return Err(ApiError::forbidden("redirect_path is outside the partner's allowed path prefixes.")
                .because("path-not-allowed"));
        }
        let user = match user_id.parse() {
            Ok(id) => self.store.user(id).await?.filter(|u| u.organization_id == organization.id),
            Err(_) => None,
        };
        let user = user.ok_or_else(|| ApiError::not_found("No user with this x-user-id in the organization."))?;
        if user.status != UserStatus::Active {
            return Err(ApiError::user_disabled());
        }
        let (link, jti) = self.issue(&user, Some(partner.id), &path)?;
        event.detail = Some(format!("jti={jti} redirect={path}"));
        Ok(link)
    }

    /// Signs a token for `user` landing on `path`; returns the link and the token's `jti`.
    pub(super) fn issue(
        &self,
        user: &User,
        partner: Option<PartnerId>,
        path: &RedirectPath,
    ) -> ApiResult<(SsoLink, String)> {
        let now = self.now();
        let ttl = self.settings.sso_token_ttl;
        let audience = self.audience();
        // Time-ordered, so consumed-link rows append to their index.
        let jti = Uuid::now_v7().simple().to_string();
        let claims = SsoClaims {
            iss: self.settings.public_url.base.clone(),
            aud: audience.clone(),
            sub: user.id,
            org: user.organization_id,
            ptn: partner,
            rp: path.as_str().to_owned(),
            jti: jti.clone(),
            iat: now,
            nbf: now,
            exp: now.saturating_add_unsigned(ttl),
        };
        let token = self.keys.sso().sign(&claims).map_err(|err| {
            tracing::error!(%err, "signing an SSO token failed");
            ApiError::internal()
        })?;
        let mut redirect_url = audience;
        let redirect = utf8_percent_encode(path.as_str(), QUERY_VALUE);
        redirect_url.reserve(token.len() + 3 * path.as_str().len() + "?token=&redirect=".len());
        write!(redirect_url, "?token={token}&redirect={redirect}").map_err(|_| ApiError::internal())?;
        Ok((SsoLink { sso_token: token, redirect_url, expires_in: ttl }, jti))
    }
}
