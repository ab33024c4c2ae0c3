//! Portal sessions after sign-in: which live session a cookie names (constant-time secret
//! check, idle and absolute expiry, an active user), activity, sign-out, and the identity the
//! protected application is told (headers and a signed token, reused for a while per session).

use std::sync::Arc;

use handoff_core::ids::{PartnerId, SessionId};
use handoff_core::model::{Partner, Session, User, UserStatus};
use handoff_core::secret::SecretDigest;
use handoff_core::token::IdentityClaims;

use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};

/// Seconds between two `last_seen_at` writes of one session (portal or operator session).
pub(super) const TOUCH_INTERVAL: i64 = 60;
/// Lifetime of the `X-Handoff-Token` identity token.
const IDENTITY_TOKEN_TTL: i64 = 60;

/// A live session with its (active) user.
pub struct Identity {
    pub session: Arc<Session>,
    pub user: Arc<User>,
}

/// The cookie value of a new session: its id and its secret.
pub(super) fn cookie_value(id: SessionId, secret: &str) -> String {
    format!("{}.{secret}", id.as_uuid().simple())
}

impl Services {
    /// The session a cookie value names, if its secret half matches (constant time); alive or not.
    pub async fn session_named(&self, value: &str) -> ApiResult<Option<Arc<Session>>> {
        let Some((id, secret)) = value.split_once('.') else {
            return Ok(None);
        };
        let Ok(id) = id.parse::<SessionId>() else {
            return Ok(None);
        };
        let session = self.store.session(id).await?;
        Ok(session.filter(|s| s.secret_digest.matches(&SecretDigest::of(secret))))
    }

    /// The live session a cookie value names, with its user; counts as activity.
    pub async fn identify(&self, value: &str) -> ApiResult<Option<Identity>> {
        let Some(session) = self.session_named(value).await? else {
            return Ok(None);
        };
        let Some(Identity { session, user }) = self.alive(session).await? else {
            return Ok(None);
        };
        let now = self.now();
        if now - session.last_seen_at >= TOUCH_INTERVAL {
            let session = self.store.touch_session(&session, now).await?;
            return Ok(Some(Identity { session, user }));
        }
        Ok(Some(Identity { session, user }))
    }

    /// Whether session `id` and its user are still alive, without counting as activity: what an
    /// open WebSocket tunnel re-checks. Sees a logout, a disable or an end-sessions on this node
    /// at once (they invalidate the cache), on another node within the cache's TTL.
    pub async fn still_alive(&self, id: SessionId) -> ApiResult<bool> {
        let Some(session) = self.store.session(id).await? else {
            return Ok(false);
        };
        Ok(self.alive(session).await?.is_some())
    }

    /// `session` with its user, if the session has not expired (idle or absolute; an expired one
    /// is deleted) and the user is active.
    async fn alive(&self, session: Arc<Session>) -> ApiResult<Option<Identity>> {
        let now = self.now();
        if now >= session.expires_at || now >= session.last_seen_at + self.settings.session_idle_timeout {
            self.store.delete_session(session.id).await?;
            return Ok(None);
        }
        let user = self.store.user(session.user_id).await?.filter(|u| u.status == UserStatus::Active);
        Ok(user.map(|user| Identity { session, user }))
    }

    /// The partner that opened a session, if any (and it still exists).
    pub async fn partner_of(&self, partner: Option<PartnerId>) -> ApiResult<Option<Arc<Partner>>> {
        match partner {
            Some(id) => Ok(self.store.partner(id).await?),
            None => Ok(None),
        }
    }

    /// The embed origins of the partner that opened a session: who may frame its pages.
    pub async fn embed_origins(&self, partner: Option<PartnerId>) -> ApiResult<Vec<String>> {
        Ok(self.partner_of(partner).await?.map(|p| p.embed_origins.clone()).unwrap_or_default())
    }

    /// Ends `session`: deleted, and forgotten by this node's caches.
    pub async fn end_session(&self, session: &Session) -> ApiResult<()> {
        self.store.delete_session(session.id).await?;
        Ok(())
    }

    /// Ends the sessions the browser's cookies name (`sessions`: one per cookie sent, top-level
    /// and embed) — unless it sent a cookie and the request did not come `from_allowed_page`
    /// (the portal's, or the embed partner's): then a refusal, audited with the `origin` the
    /// browser named (logout CSRF).
    pub async fn logout(
        &self,
        ctx: &Ctx,
        sessions: &[Option<Arc<Session>>],
        from_allowed_page: bool,
        origin: Option<String>,
    ) -> ApiResult<()> {
        if !from_allowed_page && !sessions.is_empty() {
            let mut event = ctx.event("auth.logout");
            if let Some(session) = sessions.iter().flatten().next() {
                event.user_id = Some(session.user_id.to_string());
                event.organization_id = Some(session.organization_id.to_string());
                event.partner_id = session.partner_id.map(|p| p.to_string());
            }
            event.detail = Some(format!("sign-out from another site refused; origin={}", origin.unwrap_or_default()));
            let error = ApiError::forbidden("Sign-out was sent from another site's page.");
            return Err(self.refuse(event, error).await);
        }
        for session in sessions.iter().flatten() {
            self.end_session(session).await?;
        }
        Ok(())
    }

    /// The identity headers the protected application receives, including a signed token.
    pub fn identity_headers(&self, identity: &Identity) -> Vec<(&'static str, String)> {
        let Identity { session, user } = identity;
        let mut headers = vec![
            ("x-handoff-user-id", user.id.to_string()),
            ("x-handoff-organization-id", user.organization_id.to_string()),
            ("x-handoff-email", user.email.clone()),
            ("x-handoff-embed", session.embed.to_string()),
        ];
        if let Some(partner) = session.partner_id {
            headers.push(("x-handoff-partner-id", partner.to_string()));
        }
        if let Some(token) = self.identity_token(identity) {
            headers.push(("x-handoff-token", token.to_string()));
        }
        headers
    }

    /// The identity's signed token. One signature serves a session for a while: Ed25519 signing
    /// is the costliest step of forward-auth.
    fn identity_token(&self, identity: &Identity) -> Option<Arc<str>> {
        let Identity { session, user } = identity;
        let now = self.now();
        if let Some(token) = self.store.identity_token(session.id, now + IDENTITY_TOKEN_TTL / 2) {
            return Some(token);
        }
        let claims = IdentityClaims {
            iss: self.settings.public_url.base.clone(),
            aud: self.settings.public_url.base.clone(),
            sub: user.id,
            org: user.organization_id,
            ptn: session.partner_id,
            email: user.email.clone(),
            emb: session.embed,
            iat: now,
            exp: now + IDENTITY_TOKEN_TTL,
        };
        match self.keys.identity().sign(&claims) {
            Ok(token) => {
                let token: Arc<str> = token.into();
                self.store.keep_identity_token(session.id, token.clone(), claims.exp);
                Some(token)
            }
            Err(err) => {
                tracing::error!(%err, "signing an identity token failed");
                None
            }
        }
    }
}
