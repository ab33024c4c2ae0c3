//! The partner API (seed 000): `POST /v1/sso` and the users API under
//! `/v1/organizations/{organizationId}/users`, authenticated by the partner and organization
//! headers. Every attempt, accepted or refused, leaves an audit record.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use handoff_core::wire::{CreateUser, Envelope, ErrorEnvelope, Page, SsoLink, SsoRequest, UpdateUser, UserView};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, OpenApi};

use crate::error::ApiResult;
use crate::http::extract::{json, optional_json, RawBody};
use crate::http::query::ListQuery;
use crate::http::refusals::{
    header_parameter, PartnerBodyRefusals, PartnerRefusals, PartnerUserBodyRefusals, PartnerUserRefusals,
};
use crate::http::respond::LinkJson;
use crate::http::state::AppState;
use crate::http::views;
use crate::services::{Ctx, PartnerCredentials};

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
        .map(|(name, description)| header_parameter(name, description))
        .collect()
    }
}

/// `x-user-id`: whom a link signs in.
pub struct UserHeader;

impl IntoParams for UserHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter("x-user-id", "The id of the user the link signs in.")]
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sso", post(sso_create))
        .route("/v1/organizations/{organization_id}/users", post(users_create).get(users_list))
        .route("/v1/organizations/{organization_id}/users/{user_id}", get(users_read).patch(users_update))
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
    credentials: PartnerCredentials,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<LinkJson<Envelope<SsoLink>>> {
    let caller = state.authenticate(&ctx, "sso.mint", credentials, true).await?;
    let link = state.mint(caller, optional_json::<SsoRequest>(&headers, body)).await?;
    Ok(LinkJson(Envelope { success: true, data: link }))
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
    credentials: PartnerCredentials,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Envelope<UserView>>)> {
    let caller = state.authenticate(&ctx, "partner.users.create", credentials, false).await?;
    let user = state.partner_create_user(caller, &organization_id, json::<CreateUser>(&headers, body)).await?;
    Ok((StatusCode::CREATED, Json(Envelope { success: true, data: views::user(&user) })))
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
    credentials: PartnerCredentials,
) -> ApiResult<Json<Envelope<Page<UserView>>>> {
    let caller = state.authenticate(&ctx, "partner.users.list", credentials, false).await?;
    let (page, limit) = match query.page() {
        Ok((page, limit)) => (Ok(page), limit),
        Err(error) => (Err(error), 0),
    };
    let users = state.partner_list_users(caller, &organization_id, query.email.as_deref(), page).await?;
    let page = views::page(users, limit, views::user, |u| u.id.to_string());
    Ok(Json(Envelope { success: true, data: page }))
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
    credentials: PartnerCredentials,
) -> ApiResult<Json<Envelope<UserView>>> {
    let caller = state.authenticate(&ctx, "partner.users.read", credentials, false).await?;
    let user = state.partner_read_user(caller, &organization_id, &user_id).await?;
    Ok(Json(Envelope { success: true, data: views::user(&user) }))
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
    credentials: PartnerCredentials,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Envelope<UserView>>> {
    let caller = state.authenticate(&ctx, "partner.users.update", credentials, false).await?;
    let body = json::<UpdateUser>(&headers, body);
    let user = state.partner_update_user(caller, &organization_id, &user_id, body).await?;
    Ok(Json(Envelope { success: true, data: views::user(&user) }))
}
