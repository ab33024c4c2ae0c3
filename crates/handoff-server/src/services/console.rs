//! The web console's operator sessions: signing in with the admin token (a wrong one counts
//! towards the failed-authentication limit, as on the admin API), which live session a console
//! cookie names (constant-time secret check, idle and absolute expiry), the session's form token,
//! and signing out. Sign-in and sign-out are audited, refused or accepted (`console.sign_in`,
//! `console.sign_out`).
//!
//! Must not: read cookies or headers (the surface says what the browser said about where a form
//! came from), or open an operator session for anything but the admin token.

use handoff_core::ids::OperatorSessionId;
use handoff_core::model::OperatorSession;
use handoff_core::problem::ProblemKind;
use handoff_core::secret::{opaque_token, SecretDigest};

use super::sessions::TOUCH_INTERVAL;
use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::Purpose;

/// A new operator session and the value of its cookie (`{id}.{secret}`).
pub struct OperatorSignIn {
    pub session: OperatorSession,
    pub cookie_value: String,
}

impl Services {
    /// Opens an operator session for the admin `token`, if the form was sent `from_console` (the
    /// console's own page, or no browser at all). Refusals are audited as `console.sign_in`.
    pub async fn sign_in_operator(&self, ctx: &Ctx, token: &str, from_console: bool) -> ApiResult<OperatorSignIn> {
        let mut event = ctx.event("console.sign_in");
        let outcome = self.open_operator_session(ctx, token, from_console).await;
        let signed_in = self.conclude(&event, outcome).await?;
        event.detail = Some(format!("operator session {}", signed_in.session.id));
        self.audit(event.accepted(self.now(), "signed-in")).await?;
        Ok(signed_in)
    }

    async fn open_operator_session(&self, ctx: &Ctx, token: &str, from_console: bool) -> ApiResult<OperatorSignIn> {
        if !from_console {
            return Err(ApiError::forbidden("The sign-in form was sent from another site's page."));
        }
        self.authenticate_admin(ctx, token).await.map_err(|error| match error.problem.kind {
            ProblemKind::AuthenticationRequired => {
                ApiError::new(ProblemKind::AuthenticationRequired, "That is not the admin token.")
            }
            _ => error,
        })?;
        let now = self.now();
        let secret = opaque_token();
        let session = OperatorSession {
            id: OperatorSessionId::new_ordered(),
            secret_digest: SecretDigest::of(&secret),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.console_absolute_timeout,
        };
        self.store.fresh().create_operator_session(&session).await?;
        let cookie_value = format!("{}.{secret}", session.id.as_uuid().simple());
        Ok(OperatorSignIn { session, cookie_value })
    }

    /// The live operator session a console cookie value names; counts as activity. An expired
    /// one (idle or absolute) is deleted.
    pub async fn identify_operator(&self, value: &str) -> ApiResult<Option<OperatorSession>> {
        let Some((id, secret)) = value.split_once('.') else {
            return Ok(None);
        };
        let Ok(id) = id.parse::<OperatorSessionId>() else {
            return Ok(None);
        };
        let store = self.store.fresh();
        let Some(session) = store.operator_session(id).await? else {
            return Ok(None);
        };
        if !session.secret_digest.matches(&SecretDigest::of(secret)) {
            return Ok(None);
        }
        let now = self.now();
        if now >= session.expires_at || now >= session.last_seen_at + self.settings.console_idle_timeout {
            store.delete_operator_session(session.id).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL {
            store.touch_operator_session(session.id, now).await?;
            return Ok(Some(OperatorSession { last_seen_at: now, ..session }));
        }
        Ok(Some(session))
    }

    /// The token every console form of `session` carries (see `infra::sealer`).
    pub fn console_form_token(&self, session: &OperatorSession) -> String {
        self.sealer.form_token(session.id.as_uuid(), Purpose::Console, "")
    }

    /// Ends `session`, if the form was sent `from_console` with the session's `form_token`;
    /// audited as `console.sign_out` either way.
    pub async fn sign_out_operator(
        &self,
        ctx: &Ctx,
        session: &OperatorSession,
        from_console: bool,
        form_token: &str,
    ) -> ApiResult<()> {
        let mut event = ctx.event("console.sign_out");
        let genuine =
            from_console && self.sealer.form_token_matches(session.id.as_uuid(), Purpose::Console, "", form_token);
        if !genuine {
            let error = ApiError::forbidden("The sign-out form was not sent from the console's page for this session.");
            return Err(self.refuse(event, error).await);
        }
        self.store.fresh().delete_operator_session(session.id).await?;
        event.detail = Some(format!("operator session {}", session.id));
        self.audit(event.accepted(self.now(), "signed-out")).await
    }
}
