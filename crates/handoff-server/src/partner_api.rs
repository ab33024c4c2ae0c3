//! The partner API (seed 000): `POST /v1/sso` and the users API under
//! `/v1/organizations/{organizationId}/users`, authenticated by the partner and organization
//! headers. Every attempt, accepted or refused, leaves an audit record.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use handoff_core::ids::{OrganizationId, PartnerId, UserId};
use handoff_core::model::{
    parse_name, AuditEvent, Email, Organization, Outcome, PageRequest, Partner, StatusSetter, User, UserStatus,
};
use handoff_core::problem::ProblemKind;
use handoff_core::secret::verify_or_dummy;
use handoff_core::store::StatusChange;
use handoff_core::wire::{CreateUser, Envelope, ErrorEnvelope, Page, SsoLink, SsoRequest, UpdateUser, UserView};
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, OpenApi};

use crate::error::{ApiError, ApiResult};
use crate::extract::{json, optional_json, required_headers, unrepeated_headers, RawBody};
use crate::openapi::{PartnerBodyRefusals, PartnerRefusals, PartnerUserBodyRefusals, PartnerUserRefusals};
use crate::state::{AppState, Ctx};
use crate::{openapi, ratelimit, sso, views};

#[derive(OpenApi)]
#[openapi(paths(sso_create, users_create, users_list, users_read, users_update))]
pub struct Api;

/// The four credential headers of every partner call.
pub struct PartnerHeaders;

impl IntoParams for PartnerHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        [
            ("x-partner-id", "The partner's id."),
            ("x-partner-secret", "The partner's secret (`hps_…`)."),
            ("x-organization-id", "The organization's id."),
            ("x-organization-secret", "The organization's secret (`hos_…`)."),
        ]
        .into_iter()
        .map(|(name, description)| openapi::header_parameter(name, description))
        .collect()
    }
}

/// `x-user-id`: whom a link signs in.
pub struct UserHeader;

impl IntoParams for UserHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![openapi::header_parameter("x-user-id", "The id of the user the link signs in.")]
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sso", post(sso_create))
        .route("/v1/organizations/{organization_id}/users", post(users_create).get(users_list))
        .route("/v1/organizations/{organization_id}/users/{user_id}", get(users_read).patch(users_update))
}

/// A partner and organization whose credentials checked out and which are linked.
pub struct PartnerCaller {
    pub partner: Arc<Partner>,
    pub organization: Arc<Organization>,
    /// The audit event template, carrying the caller's ids.
    pub event: AuditEvent,
}

/// Authenticates the partner and organization headers. With `needs_user`, a missing `x-user-id`
/// is reported in the same sentence as the other missing headers.
async fn authenticate(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    headers: &HeaderMap,
    needs_user: bool,
) -> ApiResult<PartnerCaller> {
    let event = ctx.event(kind);
    let now = state.now();
    if let Some(wait) = state.throttled(ctx).await? {
        return Err(state.refuse(event, AppState::rate_limited(wait)).await);
    }
    let names = ["x-partner-id", "x-partner-secret", "x-organization-id", "x-organization-secret", "x-user-id"];
    let values = match unrepeated_headers(headers, &names)
        .and_then(|()| required_headers(headers, if needs_user { &names } else { &names[..4] }))
    {
        Ok(values) => values,
        // A request naming no partner, organization or user says nothing about anyone.
        Err(error) if names.iter().all(|name| !headers.contains_key(*name)) => return Err(error.unaudited()),
        Err(error) => return Err(state.refuse(event, error).await),
    };
    let [partner_id, partner_secret, organization_id, organization_secret, ..] = values.as_slice() else {
        return Err(ApiError::internal());
    };

    let mut event = event;
    event.partner_id = Some(partner_id.clone());
    event.organization_id = Some(organization_id.clone());

    let parsed: Option<PartnerId> = partner_id.parse().ok();
    let partner = match parsed {
        Some(id) => state.partner(id).await?,
        None => None,
    };
    // Failures naming a partner count for it too, from whichever address they come: a guesser
    // spread over many addresses still meets a limit. Any well-formed id is counted, known or
    // not, so that the work done does not tell which ids exist.
    let partner_key = parsed.map(ratelimit::partner_key);
    if let Some(key) = &partner_key {
        if let Some(wait) = state.throttled_key(key, state.settings.failed_auth_limit_per_partner).await? {
            return Err(state.refuse(event, AppState::rate_limited(wait)).await);
        }
    }
    let failed = |what: &'static str| async move {
        state.failed_authentication(ctx).await;
        if let Some(key) = &partner_key {
            state.count_failure(key).await;
        }
        ApiError::new(ProblemKind::AuthenticationRequired, what)
    };
    let partner_ok = verify_or_dummy(partner.as_ref().map(|p| &p.credential), partner_secret, now);
    let Some(partner) = partner.filter(|_| partner_ok) else {
        let error = failed("Invalid partner credentials").await;
        return Err(state.refuse(event, error).await);
    };
    let organization = match organization_id.parse() {
        Ok(id) => state.organization(id).await?,
        Err(_) => None,
    };
    let organization_ok = verify_or_dummy(organization.as_ref().map(|o| &o.credential), organization_secret, now);
    let Some(organization) = organization.filter(|_| organization_ok) else {
        let error = failed("Invalid organization credentials").await;
        return Err(state.refuse(event, error).await);
    };
    if !state.admit_partner(partner.id) {
        return Err(state.refuse(event, AppState::over_budget()).await);
    }
    if !state.linked(partner.id, organization.id).await? {
        let error = ApiError::new(ProblemKind::Forbidden, "The partner is not linked to this organization.");
        return Err(state.refuse(event, error).await);
    }
    Ok(PartnerCaller { partner, organization, event })
}

/// Mints a single-use sign-in link for one of the organization's users.
#[utoipa::path(post, path = "/v1/sso", tag = "partner",
    params(PartnerHeaders, UserHeader),
    request_body(content = Option<SsoRequest>, content_type = "application/json",
        description = "Optional; without it the user lands on the default path."),
    responses(
        (status = 200, description = "The link: open `redirect_url` in the user's browser within `expires_in` seconds, once.",
            body = Envelope<SsoLink>),
        PartnerUserBodyRefusals,
    ))]
async fn sso_create(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Envelope<SsoLink>>> {
    let caller = authenticate(&state, &ctx, "sso.mint", &headers, true).await?;
    let request = match optional_json::<SsoRequest>(&headers, body) {
        Ok(request) => request.unwrap_or_default(),
        Err(error) => return Err(state.refuse(caller.event, error).await),
    };
    let user_id = headers.get("x-user-id").and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_owned();
    let link = sso::mint(&state, caller, &user_id, request.redirect_path.as_deref()).await?;
    Ok(Json(Envelope { success: true, data: link }))
}

/// Resolves `{organization_id}` against the authenticated organization.
fn same_organization(caller: &PartnerCaller, path_id: &str) -> bool {
    path_id.parse::<OrganizationId>().is_ok_and(|id| id == caller.organization.id)
}

async fn users_caller(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    headers: &HeaderMap,
    path_org: &str,
) -> ApiResult<PartnerCaller> {
    let caller = authenticate(state, ctx, kind, headers, false).await?;
    if !same_organization(&caller, path_org) {
        let error =
            ApiError::new(ProblemKind::Forbidden, "The path names another organization than x-organization-id.");
        return Err(state.refuse(caller.event, error).await);
    }
    Ok(caller)
}

/// Validates a new user's fields.
pub fn new_user(organization: OrganizationId, body: &CreateUser, now: i64) -> ApiResult<User> {
    let email = parse_email(&body.email, "email")?;
    let given_name =
        parse_name(&body.given_name).ok_or_else(|| ApiError::invalid("given_name must be 1 to 200 characters."))?;
    let family_name =
        parse_name(&body.family_name).ok_or_else(|| ApiError::invalid("family_name must be 1 to 200 characters."))?;
    Ok(User {
        id: UserId::new(),
        organization_id: organization,
        email: email.into(),
        given_name,
        family_name,
        status: UserStatus::Active,
        status_set_by: None,
        created_at: now,
    })
}

/// Parses the email address in `field`, refusing it with the rule it breaks.
fn parse_email(input: &str, field: &str) -> ApiResult<Email> {
    Email::parse(input).map_err(|e| ApiError::invalid(format!("{field} {e}.")))
}

/// Parses `{"status": "active" | "disabled"}`.
pub fn parse_status(body: &UpdateUser) -> ApiResult<UserStatus> {
    UserStatus::parse(&body.status).ok_or_else(|| ApiError::invalid("status must be \"active\" or \"disabled\"."))
}

/// The audit reason of a partner's refused attempt to enable a user the operator disabled.
const OPERATOR_DISABLED: &str = "operator-disabled";

/// Audits an accepted action of `caller` on `user`.
async fn accepted(state: &AppState, mut event: AuditEvent, reason: &str, user: Option<UserId>) -> ApiResult<()> {
    event.at = state.now();
    event.outcome = Some(Outcome::Accepted);
    event.reason = reason.to_owned();
    event.user_id = user.map(|u| u.to_string());
    state.audit(event).await
}

/// Creates a user in the organization.
#[utoipa::path(post, path = "/v1/organizations/{organization_id}/users", tag = "partner",
    params(("organization_id" = String, Path, description = "Must be the `x-organization-id` organization."), PartnerHeaders),
    request_body(content = CreateUser, content_type = "application/json"),
    responses(
        (status = 201, description = "The new user.", body = Envelope<UserView>),
        (status = 409, description = "A user with this email exists in the organization (`conflict`).", body = ErrorEnvelope,
            content_type = "application/problem+json"),
        PartnerBodyRefusals,
    ))]
async fn users_create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(organization_id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Envelope<UserView>>)> {
    let caller = users_caller(&state, &ctx, "partner.users.create", &headers, &organization_id).await?;
    let user = match json::<CreateUser>(&headers, body).and_then(|b| new_user(caller.organization.id, &b, state.now()))
    {
        Ok(user) => user,
        Err(error) => return Err(state.refuse(caller.event, error).await),
    };
    if let Err(error) = state.store.create_user(&user).await {
        return Err(state.refuse(caller.event, error.into()).await);
    }
    state.caches.users_by_email.clear();
    accepted(&state, caller.event, "created", Some(user.id)).await?;
    Ok((StatusCode::CREATED, Json(Envelope { success: true, data: views::user(&user) })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the user with this email address.
    pub email: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page [default: 50].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl ListQuery {
    pub fn page(&self) -> ApiResult<(PageRequest, u32)> {
        views::page_request(self.cursor.as_deref(), self.limit, 50, 200)
    }
}

/// A page of the organization's users, only the one with the `email` filter's address when
/// there is one. An address [`Email::parse`] refuses (such as a look-alike of another) matches
/// nobody: no user can have it.
pub async fn users_page(
    state: &AppState,
    organization: OrganizationId,
    email: Option<&str>,
    page: &PageRequest,
) -> ApiResult<Vec<User>> {
    let email = match email.map(Email::parse) {
        Some(Err(_)) => return Ok(Vec::new()),
        filter => filter.and_then(Result::ok),
    };
    Ok(state.store.users(organization, email.as_ref().map(Email::as_str), page).await?)
}

/// Lists the organization's users, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/organizations/{organization_id}/users", tag = "partner",
    params(("organization_id" = String, Path, description = "Must be the `x-organization-id` organization."), PartnerHeaders, ListQuery),
    responses((status = 200, description = "A page of users.", body = Envelope<Page<UserView>>), PartnerRefusals))]
async fn users_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(organization_id): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Envelope<Page<UserView>>>> {
    let caller = users_caller(&state, &ctx, "partner.users.list", &headers, &organization_id).await?;
    let (page, limit) = match query.page() {
        Ok(page) => page,
        Err(error) => return Err(state.refuse(caller.event, error).await),
    };
    let users = users_page(&state, caller.organization.id, query.email.as_deref(), &page).await?;
    let page = views::page(users, limit, views::user, |u| u.id.to_string());
    Ok(Json(Envelope { success: true, data: page }))
}

/// The user `user_id` if it belongs to the caller's organization.
async fn scoped_user(state: &AppState, caller: &PartnerCaller, user_id: &str) -> ApiResult<User> {
    let user = match user_id.parse::<UserId>() {
        Ok(id) => state.user(id).await?.map(|u| (*u).clone()),
        Err(_) => None,
    };
    user.filter(|u| u.organization_id == caller.organization.id)
        .ok_or_else(|| ApiError::not_found("No user with this id in the organization."))
}

/// Reads one of the organization's users.
#[utoipa::path(get, path = "/v1/organizations/{organization_id}/users/{user_id}", tag = "partner",
    params(("organization_id" = String, Path, description = "Must be the `x-organization-id` organization."),
        ("user_id" = String, Path), PartnerHeaders),
    responses(
        (status = 200, description = "The user.", body = Envelope<UserView>),
        PartnerUserRefusals,
    ))]
async fn users_read(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((organization_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Envelope<UserView>>> {
    let caller = users_caller(&state, &ctx, "partner.users.read", &headers, &organization_id).await?;
    match scoped_user(&state, &caller, &user_id).await {
        Ok(user) => Ok(Json(Envelope { success: true, data: views::user(&user) })),
        Err(error) => Err(state.refuse(caller.event, error).await),
    }
}

/// Disables or enables a user; a disabled user's links and sessions stop working. A user the
/// operator disabled stays disabled: enabling them is `403 forbidden`, only the operator can.
#[utoipa::path(patch, path = "/v1/organizations/{organization_id}/users/{user_id}", tag = "partner",
    params(("organization_id" = String, Path, description = "Must be the `x-organization-id` organization."),
        ("user_id" = String, Path), PartnerHeaders),
    request_body(content = UpdateUser, content_type = "application/json"),
    responses(
        (status = 200, description = "The user as updated.", body = Envelope<UserView>),
        PartnerUserBodyRefusals,
    ))]
async fn users_update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((organization_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Envelope<UserView>>> {
    let caller = users_caller(&state, &ctx, "partner.users.update", &headers, &organization_id).await?;
    let status = match json::<UpdateUser>(&headers, body).and_then(|b| parse_status(&b)) {
        Ok(status) => status,
        Err(error) => return Err(state.refuse(caller.event, error).await),
    };
    let mut user = match scoped_user(&state, &caller, &user_id).await {
        Ok(user) => user,
        Err(error) => return Err(state.refuse(caller.event, error).await),
    };
    let change = state.store.set_user_status(user.id, status, StatusSetter::Partner).await?;
    state.forget_user(user.id);
    match (change, status) {
        (StatusChange::Set, _) => user.status_set_by = Some(StatusSetter::Partner),
        // Disabled already, and it stays the operator's disable.
        (StatusChange::OperatorDisabled, UserStatus::Disabled) => user.status_set_by = Some(StatusSetter::Operator),
        (StatusChange::OperatorDisabled, UserStatus::Active) => {
            let mut event = caller.event;
            event.user_id = Some(user.id.to_string());
            let error = ApiError::new(
                ProblemKind::Forbidden,
                "The operator disabled this user; only the operator can enable them again.",
            );
            return Err(state.refuse_because(event, error, OPERATOR_DISABLED).await);
        }
        (StatusChange::NotFound, _) => {
            let error = ApiError::not_found("No user with this id in the organization.");
            return Err(state.refuse(caller.event, error).await);
        }
    }
    user.status = status;
    accepted(&state, caller.event, status.as_str(), Some(user.id)).await?;
    Ok(Json(Envelope { success: true, data: views::user(&user) }))
}
