//! The SSO link's life: minting for an authenticated caller, and redeeming it into a session:
//! checked first ([`check`], which consumes nothing), then consumed once ([`consume`]). Minting
//! and every outcome of a redemption write their audit record before the caller answers.

use std::sync::Arc;

use handoff_core::ids::{PartnerId, SessionId, UserId};
use handoff_core::model::{AuditEvent, Outcome, Session, User, UserStatus};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::RedirectPath;
use handoff_core::secret::{opaque_token, SecretDigest};
use handoff_core::store::Write;
use handoff_core::token::{check_time, SsoClaims, TokenError};
use handoff_core::wire::SsoLink;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::partner_api::PartnerCaller;
use crate::portal::session_cookie_value;
use crate::state::{AppState, Ctx};

/// Everything but RFC 3986's unreserved characters is encoded in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The audience of SSO tokens: the redemption endpoint.
pub fn audience(state: &AppState) -> String {
    state.settings.public_url.join("/auth/sso")
}

/// Mints a one-time link for `user_id` in the caller's organization.
pub async fn mint(
    state: &AppState,
    caller: PartnerCaller,
    user_id: &str,
    redirect_path: Option<&str>,
) -> ApiResult<SsoLink> {
    let PartnerCaller { partner, organization, mut event } = caller;
    event.user_id = Some(user_id.to_owned());
    let path = match redirect_path {
        None => state.settings.default_redirect_path.clone(),
        Some(raw) => match RedirectPath::parse(raw) {
            Ok(path) => path,
            Err(reason) => return Err(state.refuse(event, ApiError::invalid(reason.to_string())).await),
        },
    };
    if !path.is_within(&partner.allowed_path_prefixes) {
        let error =
            ApiError::new(ProblemKind::Forbidden, "redirect_path is outside the partner's allowed path prefixes.");
        return Err(state.refuse(event, error).await);
    }
    let user = match user_id.parse::<UserId>() {
        Ok(id) => state.user(id).await?.filter(|u| u.organization_id == organization.id),
        Err(_) => None,
    };
    let Some(user) = user else {
        let error = ApiError::not_found("No user with this x-user-id in the organization.");
        return Err(state.refuse(event, error).await);
    };
    if user.status != UserStatus::Active {
        return Err(state.refuse(event, ApiError::new(ProblemKind::Forbidden, "The user is disabled.")).await);
    }
    let link = issue(state, &user, Some(partner.id), &path)?;
    event.at = state.now();
    event.outcome = Some(Outcome::Accepted);
    event.reason = "minted".into();
    event.detail = Some(format!("jti={} redirect={}", link.1, path));
    state.audit(event).await?;
    Ok(link.0)
}

/// Signs a token for `user` landing on `path`; returns the link and the token's `jti`.
pub fn issue(
    state: &AppState,
    user: &User,
    partner: Option<PartnerId>,
    path: &RedirectPath,
) -> ApiResult<(SsoLink, String)> {
    let now = state.now();
    let ttl = state.settings.sso_token_ttl;
    // Time-ordered, so consumed-link rows append to their index.
    let jti = Uuid::now_v7().simple().to_string();
    let claims = SsoClaims {
        iss: state.settings.public_url.base.clone(),
        aud: audience(state),
        sub: user.id,
        org: user.organization_id,
        ptn: partner,
        rp: path.as_str().to_owned(),
        jti: jti.clone(),
        iat: now,
        nbf: now,
        exp: now.saturating_add_unsigned(ttl),
    };
    let token = state.keys.sso().sign(&claims).map_err(|err| {
        tracing::error!(%err, "signing an SSO token failed");
        ApiError::internal()
    })?;
    let redirect_url =
        format!("{}?token={token}&redirect={}", audience(state), utf8_percent_encode(path.as_str(), QUERY_VALUE));
    Ok((SsoLink { sso_token: token, redirect_url, expires_in: ttl }, jti))
}

/// A redeemed link: the new session's cookie value and where to send the browser.
pub struct Redeemed {
    pub cookie_value: String,
    pub session: Session,
    pub path: RedirectPath,
    /// The partner's embed origins, for `frame-ancestors` on embed landings.
    pub embed_origins: Vec<String>,
}

/// A link that passed every check and is not consumed yet: what [`consume`] redeems, or what a
/// confirmation page asks about.
pub struct Checked {
    pub claims: SsoClaims,
    /// The user the link signs in (active, in the signed organization).
    pub user: Arc<User>,
    pub path: RedirectPath,
    embed_origins: Vec<String>,
    /// The `sso.redeem` record, for the outcome.
    pub event: AuditEvent,
}

impl Checked {
    /// Refuses the link for `error` (audited); the link stays unused.
    pub async fn refuse(self, state: &AppState, error: ApiError) -> ApiError {
        state.refuse(self.event, error).await
    }
}

/// Verifies a token without consuming it. `frame` receives the partner's embed origins as soon
/// as they are known, so that even a refusal page can be shown inside the partner's frame.
pub async fn check(
    state: &AppState,
    ctx: &Ctx,
    token: Option<&str>,
    redirect: Option<&str>,
    frame: &mut Option<Vec<String>>,
) -> ApiResult<Checked> {
    let mut event = ctx.event("sso.redeem");
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(state.refuse(event, ApiError::new(ProblemKind::InvalidToken, "The link has no token.")).await);
    };
    let claims: SsoClaims = match state.keys.verify_sso(token, &state.settings.public_url.base, &audience(state)).await
    {
        Ok(claims) => claims,
        Err(_) => {
            let error = ApiError::new(ProblemKind::InvalidToken, "The sign-in link is not valid.");
            return Err(state.refuse(event, error).await);
        }
    };
    event.user_id = Some(claims.sub.to_string());
    event.organization_id = Some(claims.org.to_string());
    event.partner_id = claims.ptn.map(|p| p.to_string());
    event.detail = Some(format!("jti={}", claims.jti));
    let partner = match claims.ptn {
        Some(id) => state.partner(id).await?,
        None => None,
    };
    let path = RedirectPath::parse(&claims.rp).ok();
    if let (Some(p), Some(path)) = (&partner, &path) {
        if path.is_embed() {
            *frame = Some(p.embed_origins.clone());
        }
    }
    let refuse = |kind: ProblemKind, detail: &str| ApiError::new(kind, detail);
    let outcome = match check_time(state.now(), claims.nbf, claims.exp) {
        Err(TokenError::Expired) => Err(refuse(ProblemKind::ExpiredToken, "The sign-in link has expired.")),
        Err(_) => Err(refuse(ProblemKind::InvalidToken, "The sign-in link is not valid yet.")),
        Ok(()) if redirect.is_some_and(|r| r != claims.rp) => {
            Err(refuse(ProblemKind::InvalidToken, "The redirect does not match the signed path."))
        }
        Ok(()) => Ok(()),
    };
    if let Err(error) = outcome {
        return Err(state.refuse(event, error).await);
    }
    let Some(path) = path else {
        return Err(state.refuse(event, refuse(ProblemKind::InvalidToken, "The signed path is not allowed.")).await);
    };
    let user = match recheck(state, &claims, partner.is_some()).await {
        Ok(user) => user,
        Err(error) => return Err(state.refuse(event, error).await),
    };
    let embed_origins = partner.map(|p| p.embed_origins.clone()).unwrap_or_default();
    Ok(Checked { claims, user, path, embed_origins, event })
}

/// Consumes a checked link (once: a second use is refused) and opens its session.
pub async fn consume(state: &AppState, checked: Checked) -> ApiResult<Redeemed> {
    let Checked { claims, path, embed_origins, event, .. } = checked;
    let now = state.now();
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
        expires_at: now + state.settings.session_absolute_timeout,
    };
    let mut accepted = event.clone();
    accepted.at = now;
    accepted.outcome = Some(Outcome::Accepted);
    accepted.reason = "redeemed".into();
    let redeem =
        Write::Redeem { jti: claims.jti, token_expires_at: claims.exp, session: session.clone(), audit: accepted };
    if !state.write(redeem).await? {
        let error = ApiError::new(ProblemKind::TokenAlreadyUsed, "The sign-in link was already used.");
        return Err(state.refuse(event, error).await);
    }
    Ok(Redeemed { cookie_value: session_cookie_value(session.id, &secret), session, path, embed_origins })
}

/// The user must still be active in the organization, and the partner still linked to it.
async fn recheck(state: &AppState, claims: &SsoClaims, partner_exists: bool) -> ApiResult<Arc<User>> {
    let user = match state.user(claims.sub).await?.filter(|u| u.organization_id == claims.org) {
        None => return Err(ApiError::new(ProblemKind::Forbidden, "The user no longer exists.")),
        Some(u) if u.status != UserStatus::Active => {
            return Err(ApiError::new(ProblemKind::Forbidden, "The user is disabled."))
        }
        Some(u) => u,
    };
    if let Some(partner) = claims.ptn {
        if !partner_exists || !state.linked(partner, claims.org).await? {
            return Err(ApiError::new(ProblemKind::Forbidden, "The partner is no longer linked to the organization."));
        }
    }
    Ok(user)
}
