//! The users of an organization, for partners (scoped to the caller's organization, audited
//! like every partner call) and for the operator: create, read, list, disable or enable (the
//! operator's disable stands against partners), delete, end sessions.

use handoff_core::ids::{OrganizationId, UserId};
use handoff_core::model::{AuditEvent, PageRequest, StatusSetter, User, UserStatus};
use handoff_core::store::StatusChange;
use handoff_core::wire::{CreateUser, UpdateUser};

use super::registry::parse_id;
use super::{Ctx, PartnerCaller, Services};
use crate::error::{ApiError, ApiResult};

/// The audit reason of a partner's refused attempt to enable a user the operator disabled.
const OPERATOR_DISABLED: &str = "operator-disabled";

/// Validates a new user's fields.
fn new_user(organization: OrganizationId, body: &CreateUser, now: i64) -> ApiResult<User> {
    let email = handoff_core::model::Email::parse(&body.email).map_err(|e| ApiError::invalid(format!("email {e}.")))?;
    let name = |text: &str, field: &str| {
        handoff_core::model::parse_name(text)
            .ok_or_else(|| ApiError::invalid(format!("{field} must be 1 to 200 characters.")))
    };
    Ok(User {
        id: UserId::new(),
        organization_id: organization,
        email: email.into(),
        given_name: name(&body.given_name, "given_name")?,
        family_name: name(&body.family_name, "family_name")?,
        status: UserStatus::Active,
        status_set_by: None,
        created_at: now,
    })
}

/// Parses `{"status": "active" | "disabled"}`.
fn parse_status(body: &UpdateUser) -> ApiResult<UserStatus> {
    UserStatus::parse(&body.status).ok_or_else(|| ApiError::invalid("status must be \"active\" or \"disabled\"."))
}

impl Services {
    /// A page of the organization's users, only the one with the `email` filter's address when
    /// there is one. An address `Email::parse` refuses (such as a look-alike of another) matches
    /// nobody: no user can have it.
    async fn users_page(
        &self,
        organization: OrganizationId,
        email: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<User>> {
        let email = match email.map(handoff_core::model::Email::parse) {
            Some(Err(_)) => return Ok(Vec::new()),
            filter => filter.and_then(Result::ok),
        };
        Ok(self.store.fresh().users(organization, email.as_ref().map(|e| e.as_str()), page).await?)
    }

    /// A partner call on the users of the organization the path names: refused (audited) unless
    /// it is the caller's own.
    pub async fn partner_users<T>(
        &self,
        caller: PartnerCaller,
        path_organization: &str,
        work: impl AsyncFnOnce(&Self, &PartnerCaller, &mut AuditEvent) -> ApiResult<(T, &'static str, Option<UserId>)>,
    ) -> ApiResult<T> {
        let mut event = caller.event.clone();
        let outcome = async {
            if !path_organization.parse::<OrganizationId>().is_ok_and(|id| id == caller.organization.id) {
                return Err(ApiError::forbidden("The path names another organization than x-organization-id."));
            }
            work(self, &caller, &mut event).await
        }
        .await;
        let (value, reason, user) = self.conclude(&event, outcome).await?;
        if !reason.is_empty() {
            let mut accepted = event.accepted(self.now(), reason);
            accepted.user_id = user.map(|u| u.to_string());
            self.audit(accepted).await?;
        }
        Ok(value)
    }

    /// Creates a user in the caller's organization.
    pub async fn partner_create_user(
        &self,
        caller: PartnerCaller,
        path: &str,
        body: ApiResult<CreateUser>,
    ) -> ApiResult<User> {
        self.partner_users(caller, path, async |services, caller, _| {
            let user = new_user(caller.organization.id, &body?, services.now())?;
            services.store.create_user(&user).await?;
            Ok((user.clone(), "created", Some(user.id)))
        })
        .await
    }

    /// A page of the caller's organization's users (not audited when accepted: a read).
    pub async fn partner_list_users(
        &self,
        caller: PartnerCaller,
        path: &str,
        email: Option<&str>,
        page: ApiResult<PageRequest>,
    ) -> ApiResult<Vec<User>> {
        self.partner_users(caller, path, async |services, caller, _| {
            let users = services.users_page(caller.organization.id, email, &page?).await?;
            Ok((users, "", None))
        })
        .await
    }

    /// The user `user_id` if it belongs to the caller's organization.
    async fn scoped_user(&self, caller: &PartnerCaller, user_id: &str) -> ApiResult<User> {
        let user = match user_id.parse::<UserId>() {
            Ok(id) => self.store.user(id).await?.map(|u| (*u).clone()),
            Err(_) => None,
        };
        user.filter(|u| u.organization_id == caller.organization.id)
            .ok_or_else(|| ApiError::not_found("No user with this id in the organization."))
    }

    /// One of the caller's organization's users (not audited when accepted: a read).
    pub async fn partner_read_user(&self, caller: PartnerCaller, path: &str, user_id: &str) -> ApiResult<User> {
        self.partner_users(caller, path, async |services, caller, _| {
            Ok((services.scoped_user(caller, user_id).await?, "", None))
        })
        .await
    }

    /// Disables or enables one of the caller's organization's users; a user the operator
    /// disabled stays disabled (403 `operator-disabled`).
    pub async fn partner_update_user(
        &self,
        caller: PartnerCaller,
        path: &str,
        user_id: &str,
        body: ApiResult<UpdateUser>,
    ) -> ApiResult<User> {
        self.partner_users(caller, path, async |services, caller, event| {
            let status = parse_status(&body?)?;
            let mut user = services.scoped_user(caller, user_id).await?;
            match services.store.set_user_status(user.id, status, StatusSetter::Partner).await? {
                StatusChange::Set => user.status_set_by = Some(StatusSetter::Partner),
                // Disabled already, and it stays the operator's disable.
                StatusChange::OperatorDisabled if status == UserStatus::Disabled => {
                    user.status_set_by = Some(StatusSetter::Operator)
                }
                StatusChange::OperatorDisabled => {
                    event.user_id = Some(user.id.to_string());
                    return Err(ApiError::forbidden(
                        "The operator disabled this user; only the operator can enable them again.",
                    )
                    .because(OPERATOR_DISABLED));
                }
                StatusChange::NotFound => return Err(ApiError::not_found("No user with this id in the organization.")),
            }
            user.status = status;
            Ok((user.clone(), status.as_str(), Some(user.id)))
        })
        .await
    }

    pub async fn admin_user(&self, id: &str) -> ApiResult<User> {
        let id: UserId = parse_id(id, "user")?;
        self.store.fresh().user(id).await?.ok_or_else(|| ApiError::not_found("No user with this id."))
    }

    /// Creates a user in organization `id`; the body is read after the lookup.
    pub async fn create_user(&self, ctx: &Ctx, id: &str, body: ApiResult<CreateUser>) -> ApiResult<User> {
        let organization = self.admin_organization(id).await?;
        let user = new_user(organization.id, &body?, self.now())?;
        self.store.create_user(&user).await?;
        self.admin_accepted(ctx, "admin.user.create", |e| {
            e.organization_id = Some(organization.id.to_string());
            e.user_id = Some(user.id.to_string());
        })
        .await?;
        Ok(user)
    }

    /// A page of organization `id`'s users, filtered by `email`.
    pub async fn users(&self, id: &str, email: Option<&str>, page: ApiResult<PageRequest>) -> ApiResult<Vec<User>> {
        let organization = self.admin_organization(id).await?;
        self.users_page(organization.id, email, &page?).await
    }

    /// Disables or enables a user as the operator: a partner cannot enable them again.
    pub async fn set_user_status(&self, ctx: &Ctx, body: UpdateUser, id: &str) -> ApiResult<User> {
        let status = parse_status(&body)?;
        let mut user = self.admin_user(id).await?;
        if self.store.set_user_status(user.id, status, StatusSetter::Operator).await? != StatusChange::Set {
            return Err(ApiError::not_found("No user with this id."));
        }
        user.status = status;
        user.status_set_by = Some(StatusSetter::Operator);
        self.admin_accepted(ctx, "admin.user.update", |e| {
            e.organization_id = Some(user.organization_id.to_string());
            e.user_id = Some(user.id.to_string());
            e.detail = Some(format!("status={}", status.as_str()));
        })
        .await?;
        Ok(user)
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(&self, ctx: &Ctx, id: &str) -> ApiResult<()> {
        let user = self.admin_user(id).await?;
        self.store.delete_user(user.id).await?;
        self.admin_accepted(ctx, "admin.user.delete", |e| {
            e.organization_id = Some(user.organization_id.to_string());
            e.user_id = Some(user.id.to_string());
        })
        .await
    }

    /// Ends every session of the user at once (server-side revocation); how many ended.
    pub async fn end_user_sessions(&self, ctx: &Ctx, id: &str) -> ApiResult<u64> {
        let user = self.admin_user(id).await?;
        let ended = self.store.delete_user_sessions(user.id).await?;
        self.admin_accepted(ctx, "admin.user.end_sessions", |e| {
            e.organization_id = Some(user.organization_id.to_string());
            e.user_id = Some(user.id.to_string());
            e.detail = Some(format!("sessions={ended}"));
        })
        .await?;
        Ok(ended)
    }
}
