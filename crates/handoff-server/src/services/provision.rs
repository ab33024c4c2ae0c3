//! The inbound webhook's unknown users: provisioned on the spot, or sent to registration with a
//! signed, short-lived prefill of what the event said about them.

use handoff_core::model::{Organization, User, UserStatus};
use handoff_core::store::StoreError;
use handoff_core::token::PrefillClaims;
use handoff_core::webhook::ValidEvent;
use handoff_core::UserId;
use uuid::Uuid;

use super::Services;
use crate::error::{ApiError, ApiResult};

/// Lifetime of a registration prefill token.
const PREFILL_TTL_SECONDS: i64 = 300;

impl Services {
    /// Creates the user the event names; a concurrent creation of the same email wins and is used.
    pub(super) async fn provision(&self, organization: &Organization, event: &ValidEvent) -> ApiResult<User> {
        let user = User {
            id: UserId::new(),
            organization_id: organization.id,
            email: event.email.to_string(),
            given_name: event.first_name.clone(),
            family_name: event.last_name.clone(),
            status: UserStatus::Active,
            status_set_by: None,
            created_at: self.now(),
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => self
                .store
                .fresh()
                .user_by_email(organization.id, event.email.as_str())
                .await?
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(ApiError::user_disabled),
            Err(error) => Err(error.into()),
        }
    }

    /// The registration URL with a signed, short-lived `prefill` token appended.
    pub(super) fn register_url(&self, url: &str, organization: &Organization, event: &ValidEvent) -> ApiResult<String> {
        let now = self.now();
        let claims = PrefillClaims {
            iss: self.settings.public_url.base.clone(),
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
        let token = self.keys.prefill().sign(&claims).map_err(|_| ApiError::internal())?;
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(format!("{url}{separator}prefill={token}"))
    }
}
