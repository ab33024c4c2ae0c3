//! Redeeming a sign-in link into a session: checked first ([`Services::check_link`], which
//! consumes nothing), then consumed once ([`Services::consume`]). Every outcome writes its audit
//! record before the caller answers; a consumed link's acceptance commits with its single-use
//! claim.

use std::sync::Arc;

use handoff_core::ids::SessionId;
use handoff_core::model::{AuditEvent, Session, User, UserStatus};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::RedirectPath;
use handoff_core::secret::{opaque_token, SecretDigest};
use handoff_core::store::Write;
use handoff_core::token::{check_time, SsoClaims, TokenError};

use super::sessions::cookie_value;
use super::{Ctx, Identity, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::Purpose;

/// A redeemed link: the new session's cookie value and where to send the browser.
pub struct Redeemed {
    pub cookie_value: String,
    /// Whether the session is an embed session (its own cookie, framed by the partner).
    pub embed: bool,
    pub path: RedirectPath,
    /// The partner's embed origins, for `frame-ancestors` on embed landings.
    pub embed_origins: Vec<String>,
}

/// A link that passed every check and is not consumed yet: what [`Services::consume`] redeems,
/// or what a confirmation page asks about.
pub struct Checked {
    pub claims: SsoClaims,
    /// The user the link signs in (active, in the signed organization).
    pub user: Arc<User>,
    pub path: RedirectPath,
    embed_origins: Vec<String>,
    /// The `sso.redeem` record, for the outcome.
    event: AuditEvent,
}

impl Services {
    /// Verifies a token without consuming it. `frame` receives the partner's embed origins as
    /// soon as they are known, so that even a refusal page can be shown inside the partner's
    /// frame.
    pub async fn check_link(
        &self,
        ctx: &Ctx,
        token: Option<&str>,
        redirect: Option<&str>,
        frame: &mut Option<Vec<String>>,
    ) -> ApiResult<Checked> {
        let mut event = ctx.event("sso.redeem");
        let outcome = self.check_token(&mut event, token, redirect, frame).await;
        let (claims, user, path, embed_origins) = self.conclude(&event, outcome).await?;
        Ok(Checked { claims, user, path, embed_origins, event })
    }

    async fn check_token(
        &self,
        event: &mut AuditEvent,
        token: Option<&str>,
        redirect: Option<&str>,
        frame: &mut Option<Vec<String>>,
    ) -> ApiResult<(SsoClaims, Arc<User>, RedirectPath, Vec<String>)> {
        let invalid = |detail: &str| ApiError::new(ProblemKind::InvalidToken, detail);
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| invalid("The link has no token."))?;
        let claims: SsoClaims = self
            .keys
            .verify_sso(token, &self.settings.public_url.base, &self.audience())
            .await
            .map_err(|_| invalid("The sign-in link is not valid."))?;
        event.user_id = Some(claims.sub.to_string());
        event.organization_id = Some(claims.org.to_string());
        event.partner_id = claims.ptn.map(|p| p.to_string());
        event.detail = Some(format!("jti={}", claims.jti));
        let partner = match claims.ptn {
            Some(id) => self.store.partner(id).await?,
            None => None,
        };
        let path = RedirectPath::parse(&claims.rp).ok();
        if let (Some(p), Some(path)) = (&partner, &path) {
            if path.is_embed() {
                *frame = Some(p.embed_origins.clone());
            }
        }
        match check_time(self.now(), claims.nbf, claims.exp) {
            Err(TokenError::Expired) => {
                return Err(ApiError::new(ProblemKind::ExpiredToken, "The sign-in link has expired."))
            }
            Err(_) => return Err(invalid("The sign-in link is not valid yet.")),
            Ok(()) if redirect.is_some_and(|r| r != claims.rp) => {
                return Err(invalid("The redirect does not match the signed path."))
            }
            Ok(()) => {}
        }
        let path = path.ok_or_else(|| invalid("The signed path is not allowed."))?;
        let user = self.recheck(&claims, partner.is_some()).await?;
        let embed_origins = partner.map(|p| p.embed_origins.clone()).unwrap_or_default();
        Ok((claims, user, path, embed_origins))
    }

    /// Refuses a checked link for `error` (audited); the link stays unused.
    pub async fn refuse_link(&self, checked: Checked, error: ApiError) -> ApiError {
        self.refuse(checked.event, error).await
    }

    /// Consumes a checked link (once: a second use is refused) and opens its session.
    pub async fn consume(&self, checked: Checked) -> ApiResult<Redeemed> {
        let Checked { claims, path, embed_origins, event, .. } = checked;
        let now = self.now();
        let secret = opaque_token();
        let session = Session {
            id: SessionId::new_ordered(),
            secret_digest: SecretDigest::of(&secret),
            user_id: claims.sub,
            organization_id: claims.org,
            partner_id: claims.ptn,
            embed: path.is_embed(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.session_absolute_timeout,
        };
        let (id, embed) = (session.id, session.embed);
        let audit = event.clone().accepted(now, "redeemed");
        let redeem = Write::Redeem { jti: claims.jti, token_expires_at: claims.exp, session, audit };
        if !self.write(redeem).await? {
            let error = ApiError::new(ProblemKind::TokenAlreadyUsed, "The sign-in link was already used.");
            return Err(self.refuse(event, error).await);
        }
        Ok(Redeemed { cookie_value: cookie_value(id, &secret), embed, path, embed_origins })
    }

    /// Redeems `checked` in place of the browser's `current` top-level session, if the
    /// confirmation came from the portal's page (`from_portal`) with `current`'s form token for
    /// this link; then ends `current`, as a sign-out would. Any refusal leaves the link unused.
    pub async fn switch(
        &self,
        mut checked: Checked,
        current: Option<Identity>,
        from_portal: bool,
        confirm: &str,
    ) -> ApiResult<Redeemed> {
        let jti = checked.claims.jti.clone();
        let Some(current) = current.filter(|current| {
            from_portal && self.sealer.form_token_matches(current.session.id.as_uuid(), Purpose::Switch, &jti, confirm)
        }) else {
            let error = ApiError::forbidden(
                "The confirmation was not sent from the portal's page for this session; open the link again.",
            );
            return Err(self.refuse(checked.event, error).await);
        };
        checked.event.detail = Some(format!("jti={jti}; replaces the session of user {}", current.user.id));
        let redeemed = self.consume(checked).await?;
        self.end_session(&current.session).await?;
        Ok(redeemed)
    }

    /// The user must still be active in the organization, and the partner still linked to it.
    async fn recheck(&self, claims: &SsoClaims, partner_exists: bool) -> ApiResult<Arc<User>> {
        let user = match self.store.user(claims.sub).await?.filter(|u| u.organization_id == claims.org) {
            None => return Err(ApiError::forbidden("The user no longer exists.")),
            Some(u) if u.status != UserStatus::Active => return Err(ApiError::user_disabled()),
            Some(u) => u,
        };
        if let Some(partner) = claims.ptn {
            if !partner_exists || !self.store.linked(partner, claims.org).await? {
                return Err(ApiError::forbidden("The partner is no longer linked to the organization."));
            }
        }
        Ok(user)
    }
}
