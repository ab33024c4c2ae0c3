//! The admin API under `/admin/v1`, behind the admin bearer token: organizations, partners and
//! their links, users, secret rotation and the audit log. Every change is audited.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use handoff_core::ids::{IntegrationId, OrganizationId, PartnerId, SupplierId, UserId};
use handoff_core::model::{
    AuditFilter, InboundIntegration, Organization, Outcome, PageRequest, Partner, SealedSecrets, StatusSetter,
    Supplier, UnknownUserPolicy,
};
use handoff_core::problem::ProblemKind;
use handoff_core::redirect::RedirectPath;
use handoff_core::secret::{Credential, Secret, SecretKind};
use handoff_core::store::StatusChange;
use handoff_core::webhook::SignatureProfile;
use handoff_core::wire::{
    AuditRecordView, CreateInboundIntegration, CreateOrganization, CreatePartner, CreateSupplier, CreateUser,
    EndedSessions, ErrorEnvelope, InboundIntegrationView, KeysView, OrganizationView, Page, PartnerView, RotateSecret,
    RotatedKeys, RotatedSecret, SupplierView, UpdateUser, UserView,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::error::{ApiError, ApiResult};
use crate::extract::{json, optional_json, AdminAuth, RawBody};
use crate::openapi::{
    AdminBodyRefusals, AdminByIdBodyRefusals, AdminByIdListRefusals, AdminByIdRefusals, AdminListRefusals,
    AdminRefusals, RotationRefusals,
};
use crate::partner_api::{new_user, parse_status, users_page, ListQuery};
use crate::state::{AppState, Ctx};
use crate::{inbound, outbound, views};

/// How long a rotated-out secret keeps working unless the request says otherwise.
const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// The longest overlap a rotation may ask for.
const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

#[derive(OpenApi)]
#[openapi(paths(
    organizations_create,
    organizations_list,
    organizations_read,
    organizations_delete,
    organizations_rotate,
    users_create,
    users_list,
    partners_create,
    partners_list,
    partners_read,
    partners_delete,
    partners_rotate,
    links_list,
    links_create,
    links_delete,
    users_read,
    users_update,
    users_delete,
    users_sessions_delete,
    integrations_create,
    integrations_list,
    integrations_read,
    integrations_delete,
    integrations_rotate,
    integration_links_list,
    integration_links_create,
    integration_links_delete,
    suppliers_create,
    suppliers_list,
    suppliers_read,
    suppliers_delete,
    suppliers_rotate,
    keys_list,
    keys_rotate,
    audit_list
))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/organizations", post(organizations_create).get(organizations_list))
        .route("/admin/v1/organizations/{id}", get(organizations_read).delete(organizations_delete))
        .route("/admin/v1/organizations/{id}/secrets", post(organizations_rotate))
        .route("/admin/v1/organizations/{id}/users", post(users_create).get(users_list))
        .route("/admin/v1/partners", post(partners_create).get(partners_list))
        .route("/admin/v1/partners/{id}", get(partners_read).delete(partners_delete))
        .route("/admin/v1/partners/{id}/secrets", post(partners_rotate))
        .route("/admin/v1/partners/{id}/organizations", get(links_list))
        .route(
            "/admin/v1/partners/{partner_id}/organizations/{organization_id}",
            put(links_create).delete(links_delete),
        )
        .route("/admin/v1/users/{id}", get(users_read).patch(users_update).delete(users_delete))
        .route("/admin/v1/users/{id}/sessions", delete(users_sessions_delete))
        .route("/admin/v1/inbound-integrations", post(integrations_create).get(integrations_list))
        .route("/admin/v1/inbound-integrations/{id}", get(integrations_read).delete(integrations_delete))
        .route("/admin/v1/inbound-integrations/{id}/secrets", post(integrations_rotate))
        .route("/admin/v1/inbound-integrations/{id}/organizations", get(integration_links_list))
        .route(
            "/admin/v1/inbound-integrations/{id}/organizations/{organization_id}",
            put(integration_links_create).delete(integration_links_delete),
        )
        .route("/admin/v1/suppliers", post(suppliers_create).get(suppliers_list))
        .route("/admin/v1/suppliers/{id}", get(suppliers_read).delete(suppliers_delete))
        .route("/admin/v1/suppliers/{id}/secrets", post(suppliers_rotate))
        .route("/admin/v1/keys", get(keys_list))
        .route("/admin/v1/keys/rotate", post(keys_rotate))
        .route("/admin/v1/audit", get(audit_list))
}

fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::not_found(format!("No {what} with this id.")))
}

/// Audits an accepted admin action.
async fn audited(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    fill: impl FnOnce(&mut handoff_core::model::AuditEvent),
) -> ApiResult<()> {
    let mut event = ctx.event(kind);
    event.at = state.now();
    event.outcome = Some(Outcome::Accepted);
    event.reason = "ok".into();
    fill(&mut event);
    state.audit(event).await
}

/// When a rotated-out secret stops working: now plus the overlap the (optional) body asks for.
fn overlap_until(state: &AppState, headers: &HeaderMap, body: RawBody) -> ApiResult<i64> {
    let request: RotateSecret = optional_json(headers, body)?.unwrap_or_default();
    let seconds = request.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid(format!("overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}.")));
    }
    Ok(state.now() + seconds)
}

/// A rotation's store write lost to another rotation of the same secret (or a delete): its
/// secret was never stored, so it is not shown.
fn raced(stored: bool) -> ApiResult<()> {
    if stored {
        Ok(())
    } else {
        Err(ApiError::new(
            ProblemKind::Conflict,
            "The secret was rotated or deleted by another request at the same time; read it and rotate again.",
        ))
    }
}

/// A secret rotation: the new secret (shown once), the credential to store, and when the old
/// secret stops working.
struct Rotation {
    secret: Secret,
    credential: Credential,
    until: i64,
}

impl Rotation {
    fn of(kind: SecretKind, current: &Credential, until: i64) -> Self {
        let secret = Secret::generate(kind);
        Self { credential: current.rotated(secret.digest(), until), secret, until }
    }

    fn answer(self) -> (StatusCode, Json<RotatedSecret>) {
        rotated(&self.secret, self.until)
    }
}

/// The answer to a rotation: the new secret (shown once) and when the old one stops working.
fn rotated(secret: &Secret, until: i64) -> (StatusCode, Json<RotatedSecret>) {
    let body = RotatedSecret { secret: secret.expose().to_owned(), previous_expires_at: views::rfc3339(until) };
    (StatusCode::CREATED, Json(body))
}

/// A new webhook secret sealed under `context`; `kept` (the secret in use until now) stays in
/// use until `until`, or ends at once when `until` is not in the future.
fn rotate_sealed(state: &AppState, kept: &[u8], context: &str, until: i64) -> ApiResult<(Secret, SealedSecrets)> {
    let secret = Secret::generate(SecretKind::Webhook);
    let previous = (until > state.now()).then(|| (kept.to_vec(), until));
    let current = state.seal(secret.expose(), context)?;
    Ok((secret, SealedSecrets { current, previous }))
}

fn clean_list(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}

/// Creates an organization; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/organizations", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateOrganization, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = OrganizationView),
        (status = 409, description = "An org number belongs to another organization (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"),
        AdminBodyRefusals))]
async fn organizations_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<OrganizationView>)> {
    let body: CreateOrganization = json(&headers, body)?;
    let name = handoff_core::model::parse_name(&body.name)
        .ok_or_else(|| ApiError::invalid("name must be 1 to 200 characters."))?;
    let org_numbers = clean_list(body.org_numbers);
    if org_numbers.iter().any(|n| n.len() > 64) {
        return Err(ApiError::invalid("org_numbers entries must be at most 64 characters."));
    }
    let secret = Secret::generate(SecretKind::Organization);
    let organization = Organization {
        id: OrganizationId::new(),
        name,
        org_numbers,
        credential: Credential::new(secret.digest()),
        created_at: state.now(),
    };
    state.store.create_organization(&organization).await?;
    state.forget_organization(organization.id);
    audited(&state, &ctx, "admin.organization.create", |e| e.organization_id = Some(organization.id.to_string()))
        .await?;
    let view = OrganizationView { secret: Some(secret.expose().to_owned()), ..views::organization(&organization) };
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page [default: 50].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> ApiResult<(PageRequest, u32)> {
        views::page_request(self.cursor.as_deref(), self.limit, 50, 200)
    }
}

/// Lists organizations, a page at a time.
#[utoipa::path(get, path = "/admin/v1/organizations", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of organizations.", body = Page<OrganizationView>), AdminListRefusals))]
async fn organizations_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<OrganizationView>>> {
    let (page, limit) = q.page()?;
    let items = state.store.organizations(&page).await?;
    Ok(Json(views::page(items, limit, views::organization, |o| o.id.to_string())))
}

async fn organization(state: &AppState, id: &str) -> ApiResult<Organization> {
    let id: OrganizationId = parse_id(id, "organization")?;
    state.store.organization(id).await?.ok_or_else(|| ApiError::not_found("No organization with this id."))
}

/// Reads an organization (never its secret).
#[utoipa::path(get, path = "/admin/v1/organizations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The organization.", body = OrganizationView), AdminByIdRefusals))]
async fn organizations_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<OrganizationView>> {
    Ok(Json(views::organization(&organization(&state, &id).await?)))
}

/// Deletes an organization with its users, links and sessions.
#[utoipa::path(delete, path = "/admin/v1/organizations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
async fn organizations_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: OrganizationId = parse_id(&id, "organization")?;
    let deleted = state.store.delete_organization(id).await?;
    state.forget_organization(id);
    state.caches.users.clear();
    state.caches.forget_sessions();
    if !deleted {
        return Err(ApiError::not_found("No organization with this id."));
    }
    audited(&state, &ctx, "admin.organization.delete", |e| e.organization_id = Some(id.to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new organization secret; the old one keeps working during the overlap.
#[utoipa::path(post, path = "/admin/v1/organizations/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when the old one stops working.", body = RotatedSecret), RotationRefusals))]
async fn organizations_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    let organization = organization(&state, &id).await?;
    let until = overlap_until(&state, &headers, body)?;
    let rotation = Rotation::of(SecretKind::Organization, &organization.credential, until);
    let stored = state.store.set_organization_credential(
        organization.id,
        &organization.credential.current,
        &rotation.credential,
    );
    raced(stored.await?)?;
    state.forget_organization(organization.id);
    audited(&state, &ctx, "admin.organization.rotate_secret", |e| {
        e.organization_id = Some(organization.id.to_string())
    })
    .await?;
    Ok(rotation.answer())
}

/// Origins are `scheme://host[:port]`, nothing more: they go into `frame-ancestors` verbatim.
fn parse_origin(origin: &str) -> ApiResult<String> {
    let origin = origin.trim_end_matches('/');
    let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
        && origin.split_once("://").is_some_and(|(_, rest)| {
            !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
    if valid {
        Ok(origin.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid(format!("embed_origins entry {origin:?} is not an origin like https://ehr.example.com")))
    }
}

/// Creates a partner; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/partners", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreatePartner, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = PartnerView), AdminBodyRefusals))]
async fn partners_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<PartnerView>)> {
    let body: CreatePartner = json(&headers, body)?;
    let name = handoff_core::model::parse_name(&body.name)
        .ok_or_else(|| ApiError::invalid("name must be 1 to 200 characters."))?;
    let embed_origins =
        clean_list(body.embed_origins).iter().map(|o| parse_origin(o)).collect::<ApiResult<Vec<_>>>()?;
    let allowed_path_prefixes = clean_list(body.allowed_path_prefixes);
    for prefix in &allowed_path_prefixes {
        handoff_core::RedirectPath::parse(prefix)
            .map_err(|e| ApiError::invalid(format!("allowed_path_prefixes entry {prefix:?}: {e}")))?;
    }
    let secret = Secret::generate(SecretKind::Partner);
    let partner = Partner {
        id: PartnerId::new(),
        name,
        embed_origins,
        allowed_path_prefixes,
        credential: Credential::new(secret.digest()),
        created_at: state.now(),
    };
    state.store.create_partner(&partner).await?;
    audited(&state, &ctx, "admin.partner.create", |e| e.partner_id = Some(partner.id.to_string())).await?;
    let view = PartnerView { secret: Some(secret.expose().to_owned()), ..views::partner(&partner) };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists partners, a page at a time.
#[utoipa::path(get, path = "/admin/v1/partners", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of partners.", body = Page<PartnerView>), AdminListRefusals))]
async fn partners_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<PartnerView>>> {
    let (page, limit) = q.page()?;
    let items = state.store.partners(&page).await?;
    Ok(Json(views::page(items, limit, views::partner, |p| p.id.to_string())))
}

async fn partner(state: &AppState, id: &str) -> ApiResult<Partner> {
    let id: PartnerId = parse_id(id, "partner")?;
    state.store.partner(id).await?.ok_or_else(|| ApiError::not_found("No partner with this id."))
}

/// Reads a partner (never its secret).
#[utoipa::path(get, path = "/admin/v1/partners/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The partner.", body = PartnerView), AdminByIdRefusals))]
async fn partners_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PartnerView>> {
    Ok(Json(views::partner(&partner(&state, &id).await?)))
}

/// Deletes a partner with its links and the sessions it started.
#[utoipa::path(delete, path = "/admin/v1/partners/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
async fn partners_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: PartnerId = parse_id(&id, "partner")?;
    let deleted = state.store.delete_partner(id).await?;
    state.caches.partners.remove(&id);
    state.caches.forget_sessions();
    if !deleted {
        return Err(ApiError::not_found("No partner with this id."));
    }
    audited(&state, &ctx, "admin.partner.delete", |e| e.partner_id = Some(id.to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new partner secret; the old one keeps working during the overlap.
#[utoipa::path(post, path = "/admin/v1/partners/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when the old one stops working.", body = RotatedSecret), RotationRefusals))]
async fn partners_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    let partner = partner(&state, &id).await?;
    let until = overlap_until(&state, &headers, body)?;
    let rotation = Rotation::of(SecretKind::Partner, &partner.credential, until);
    raced(state.store.set_partner_credential(partner.id, &partner.credential.current, &rotation.credential).await?)?;
    state.caches.partners.remove(&partner.id);
    audited(&state, &ctx, "admin.partner.rotate_secret", |e| e.partner_id = Some(partner.id.to_string())).await?;
    Ok(rotation.answer())
}

/// The ids of the organizations the partner may sign users into.
#[utoipa::path(get, path = "/admin/v1/partners/{id}/organizations", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "Organization ids.", body = Vec<String>), AdminByIdRefusals))]
async fn links_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let partner = partner(&state, &id).await?;
    let ids = state.store.linked_organizations(partner.id).await?;
    Ok(Json(ids.iter().map(ToString::to_string).collect()))
}

/// Lets the partner mint links for the organization's users (idempotent).
#[utoipa::path(put, path = "/admin/v1/partners/{partner_id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("partner_id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Linked."), AdminByIdRefusals))]
async fn links_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((partner_id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let partner = partner(&state, &partner_id).await?;
    let organization = organization(&state, &organization_id).await?;
    state.store.link(partner.id, organization.id, state.now()).await?;
    state.caches.links.remove(&(partner.id, organization.id));
    audited(&state, &ctx, "admin.link.create", |e| {
        e.partner_id = Some(partner.id.to_string());
        e.organization_id = Some(organization.id.to_string());
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the link and ends the sessions the partner opened in the organization.
#[utoipa::path(delete, path = "/admin/v1/partners/{partner_id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("partner_id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Unlinked; the partner's sessions in the organization have ended."), AdminByIdRefusals))]
async fn links_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((partner_id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let partner: PartnerId = parse_id(&partner_id, "partner")?;
    let organization: OrganizationId = parse_id(&organization_id, "organization")?;
    let unlinked = state.store.unlink(partner, organization).await?;
    state.caches.links.remove(&(partner, organization));
    state.caches.forget_sessions();
    if !unlinked {
        return Err(ApiError::not_found("No such link."));
    }
    audited(&state, &ctx, "admin.link.delete", |e| {
        e.partner_id = Some(partner.to_string());
        e.organization_id = Some(organization.to_string());
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a user in the organization.
#[utoipa::path(post, path = "/admin/v1/organizations/{id}/users", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = CreateUser, content_type = "application/json"),
    responses((status = 201, description = "The new user.", body = UserView), (status = 409, description = "A user with this email exists in the organization (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminByIdBodyRefusals))]
async fn users_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let organization = organization(&state, &id).await?;
    let body: CreateUser = json(&headers, body)?;
    let user = new_user(organization.id, &body, state.now())?;
    state.store.create_user(&user).await?;
    state.caches.users_by_email.clear();
    audited(&state, &ctx, "admin.user.create", |e| {
        e.organization_id = Some(organization.id.to_string());
        e.user_id = Some(user.id.to_string());
    })
    .await?;
    Ok((StatusCode::CREATED, Json(views::user(&user))))
}

/// Lists the organization's users.
#[utoipa::path(get, path = "/admin/v1/organizations/{id}/users", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ListQuery),
    responses((status = 200, description = "A page of users.", body = Page<UserView>), AdminByIdListRefusals))]
async fn users_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    let organization = organization(&state, &id).await?;
    let (page, limit) = q.page()?;
    let users = users_page(&state, organization.id, q.email.as_deref(), &page).await?;
    Ok(Json(views::page(users, limit, views::user, |u| u.id.to_string())))
}

async fn user(state: &AppState, id: &str) -> ApiResult<handoff_core::model::User> {
    let id: UserId = parse_id(id, "user")?;
    state.store.user(id).await?.ok_or_else(|| ApiError::not_found("No user with this id."))
}

/// Reads a user.
#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The user.", body = UserView), AdminByIdRefusals))]
async fn users_read(_: AdminAuth, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<UserView>> {
    Ok(Json(views::user(&user(&state, &id).await?)))
}

/// Disables or enables a user. The operator's disable stands against partners: only the operator
/// can enable the user again.
#[utoipa::path(patch, path = "/admin/v1/users/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = UpdateUser, content_type = "application/json"),
    responses((status = 200, description = "The user as updated.", body = UserView), AdminByIdBodyRefusals))]
async fn users_update(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<UserView>> {
    let status = parse_status(&json::<UpdateUser>(&headers, body)?)?;
    let mut user = user(&state, &id).await?;
    let change = state.store.set_user_status(user.id, status, StatusSetter::Operator).await?;
    state.forget_user(user.id);
    if change != StatusChange::Set {
        return Err(ApiError::not_found("No user with this id."));
    }
    user.status = status;
    user.status_set_by = Some(StatusSetter::Operator);
    audited(&state, &ctx, "admin.user.update", |e| {
        e.organization_id = Some(user.organization_id.to_string());
        e.user_id = Some(user.id.to_string());
        e.detail = Some(format!("status={}", status.as_str()));
    })
    .await?;
    Ok(Json(views::user(&user)))
}

/// Deletes a user and their sessions.
#[utoipa::path(delete, path = "/admin/v1/users/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
async fn users_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = user(&state, &id).await?;
    state.store.delete_user(user.id).await?;
    state.forget_user(user.id);
    audited(&state, &ctx, "admin.user.delete", |e| {
        e.organization_id = Some(user.organization_id.to_string());
        e.user_id = Some(user.id.to_string());
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the user at once (server-side revocation).
#[utoipa::path(delete, path = "/admin/v1/users/{id}/sessions", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "How many sessions ended.", body = EndedSessions), AdminByIdRefusals))]
async fn users_sessions_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<EndedSessions>> {
    let user = user(&state, &id).await?;
    let ended = state.store.delete_user_sessions(user.id).await?;
    state.forget_user(user.id);
    audited(&state, &ctx, "admin.user.end_sessions", |e| {
        e.organization_id = Some(user.organization_id.to_string());
        e.user_id = Some(user.id.to_string());
        e.detail = Some(format!("sessions={ended}"));
    })
    .await?;
    Ok(Json(EndedSessions { ended_sessions: ended }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Records of this kind, e.g. `sso.mint`.
    kind: Option<String>,
    /// `accepted` or `refused`.
    outcome: Option<String>,
    partner_id: Option<String>,
    organization_id: Option<String>,
    user_id: Option<String>,
    /// From this time on: RFC 3339 or Unix seconds.
    since: Option<String>,
    /// Before this time: RFC 3339 or Unix seconds.
    until: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page [default: 100].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

fn time_param(name: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|v| {
            views::parse_time(v).ok_or_else(|| ApiError::invalid(format!("{name} must be RFC 3339 or Unix seconds.")))
        })
        .transpose()
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin", security(("admin_token" = [])),
    params(AuditQuery),
    responses((status = 200, description = "A page of audit records.", body = Page<AuditRecordView>), AdminListRefusals))]
async fn audit_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditRecordView>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000."));
    }
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| Outcome::parse(o).ok_or_else(|| ApiError::invalid("outcome must be accepted or refused.")))
        .transpose()?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| ApiError::invalid("cursor is not valid.")))
        .transpose()?;
    let filter = AuditFilter {
        kind: q.kind,
        outcome,
        partner_id: q.partner_id,
        organization_id: q.organization_id,
        user_id: q.user_id,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        before,
        limit: limit + 1,
    };
    let records = state.store.audit(&filter).await?;
    Ok(Json(views::page(records, limit, views::audit_record, |r| r.id.to_string())))
}

/// An absolute URL on https, or http on a loopback host (development).
fn parse_browser_url(field: &str, value: &str) -> ApiResult<String> {
    match url::Url::parse(value) {
        Ok(url) if outbound::is_browser_safe(&url) => Ok(value.to_owned()),
        _ => Err(ApiError::invalid(format!("{field} must be an https URL (http only on loopback)."))),
    }
}

/// A supplier's endpoint: a browser-safe URL (https, http only on loopback) and, unless
/// `allow_private_endpoints`, not at a private or reserved address (SSRF).
async fn parse_supplier_endpoint(state: &AppState, value: &str) -> ApiResult<String> {
    let endpoint = parse_browser_url("endpoint", value)?;
    if !state.settings.allow_private_endpoints {
        let url = url::Url::parse(&endpoint).map_err(|_| ApiError::internal())?;
        outbound::check_endpoint(&url).await.map_err(|forbidden| {
            ApiError::invalid(format!(
                "endpoint is at a private or reserved address: {forbidden}. Suppliers on such addresses \
                 (on-premise, development) need the setting allow_private_endpoints."
            ))
        })?;
    }
    Ok(endpoint)
}

fn parse_slug(slug: &str) -> ApiResult<String> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && !slug.starts_with('-')
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(slug.to_owned())
    } else {
        Err(ApiError::invalid("slug must be 1 to 64 characters of a-z, 0-9 and '-'."))
    }
}

/// Validates a new integration's fields, applying the documented defaults.
fn new_integration(state: &AppState, body: CreateInboundIntegration, secret: &Secret) -> ApiResult<InboundIntegration> {
    let slug = parse_slug(&body.slug)?;
    let tolerance_seconds = body.tolerance_seconds.unwrap_or(15);
    if !(1..=300).contains(&tolerance_seconds) {
        return Err(ApiError::invalid("tolerance_seconds must be between 1 and 300."));
    }
    let unknown_user = UnknownUserPolicy::parse(body.unknown_user.as_deref().unwrap_or("reject"))
        .ok_or_else(|| ApiError::invalid("unknown_user must be provision, register or reject."))?;
    let register_url = body.register_url.map(|url| parse_browser_url("register_url", &url)).transpose()?;
    if unknown_user == UnknownUserPolicy::Register && register_url.is_none() {
        return Err(ApiError::invalid("unknown_user \"register\" needs a register_url."));
    }
    let landing_path = match body.landing_path {
        Some(path) => RedirectPath::parse(&path).map_err(|e| ApiError::invalid(format!("landing_path: {e}")))?,
        None => state.settings.default_redirect_path.clone(),
    };
    let event_type = body.event_type.unwrap_or_else(|| "Vinst_SSO".into());
    if event_type.is_empty() || event_type.chars().count() > 100 || event_type.chars().any(char::is_control) {
        return Err(ApiError::invalid("event_type must be 1 to 100 printable characters."));
    }
    let signature_profile = match body.signature_profile {
        Some(profile) => profile.parse().map_err(ApiError::invalid)?,
        None => SignatureProfile::default(),
    };
    let name = match body.name {
        Some(name) => handoff_core::model::parse_name(&name)
            .ok_or_else(|| ApiError::invalid("name must be 1 to 200 characters."))?,
        None => slug.clone(),
    };
    let mut integration = InboundIntegration {
        id: IntegrationId::new(),
        slug,
        name,
        secrets: SealedSecrets { current: Vec::new(), previous: None },
        signature_profile,
        tolerance_seconds,
        event_type,
        unknown_user,
        register_url,
        landing_path: landing_path.as_str().to_owned(),
        sandbox: body.sandbox.unwrap_or(false),
        created_at: state.now(),
    };
    integration.secrets.current = state.seal(secret.expose(), &inbound::seal_context(&integration))?;
    Ok(integration)
}

/// Creates an inbound webhook integration; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/inbound-integrations", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateInboundIntegration, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = InboundIntegrationView), (status = 409, description = "The slug is taken (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminBodyRefusals))]
async fn integrations_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<InboundIntegrationView>)> {
    let body: CreateInboundIntegration = json(&headers, body)?;
    let secret = Secret::generate(SecretKind::Webhook);
    let integration = new_integration(&state, body, &secret)?;
    state.store.create_integration(&integration).await?;
    state.caches.integrations.clear();
    audited(&state, &ctx, "admin.inbound.create", |e| e.detail = Some(format!("integration={}", integration.slug)))
        .await?;
    let view = InboundIntegrationView {
        secret: Some(secret.expose().to_owned()),
        ..views::integration(&integration, &state.settings.public_url)
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists inbound integrations.
#[utoipa::path(get, path = "/admin/v1/inbound-integrations", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of integrations.", body = Page<InboundIntegrationView>), AdminListRefusals))]
async fn integrations_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<InboundIntegrationView>>> {
    let (page, limit) = q.page()?;
    let items = state.store.integrations(&page).await?;
    let public_url = &state.settings.public_url;
    Ok(Json(views::page(items, limit, |i| views::integration(i, public_url), |i| i.id.to_string())))
}

async fn integration(state: &AppState, id: &str) -> ApiResult<InboundIntegration> {
    let id: IntegrationId = parse_id(id, "integration")?;
    state.store.integration(id).await?.ok_or_else(|| ApiError::not_found("No integration with this id."))
}

/// Reads an inbound integration (never its secret).
#[utoipa::path(get, path = "/admin/v1/inbound-integrations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The integration.", body = InboundIntegrationView), AdminByIdRefusals))]
async fn integrations_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InboundIntegrationView>> {
    Ok(Json(views::integration(&integration(&state, &id).await?, &state.settings.public_url)))
}

/// Deletes an inbound integration; its endpoint answers 404 from then on.
#[utoipa::path(delete, path = "/admin/v1/inbound-integrations/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
async fn integrations_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let integration = integration(&state, &id).await?;
    state.store.delete_integration(integration.id).await?;
    state.caches.integrations.clear();
    audited(&state, &ctx, "admin.inbound.delete", |e| e.detail = Some(format!("integration={}", integration.slug)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new current secret; the old one stays valid for the overlap (at most two are ever active).
#[utoipa::path(post, path = "/admin/v1/inbound-integrations/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when the old one stops being accepted.", body = RotatedSecret), RotationRefusals))]
async fn integrations_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    let integration = integration(&state, &id).await?;
    let until = overlap_until(&state, &headers, body)?;
    // The receiver accepts both: the current secret becomes the previous one.
    let (secret, secrets) =
        rotate_sealed(&state, &integration.secrets.current, &inbound::seal_context(&integration), until)?;
    raced(state.store.set_integration_secrets(integration.id, &integration.secrets.current, &secrets).await?)?;
    state.caches.integrations.clear();
    audited(&state, &ctx, "admin.inbound.rotate_secret", |e| {
        e.detail = Some(format!("integration={}", integration.slug))
    })
    .await?;
    Ok(rotated(&secret, until))
}

/// The ids of the organizations whose users the integration may sign in.
#[utoipa::path(get, path = "/admin/v1/inbound-integrations/{id}/organizations", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "Organization ids.", body = Vec<String>), AdminByIdRefusals))]
async fn integration_links_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let integration = integration(&state, &id).await?;
    let ids = state.store.integration_organizations(integration.id).await?;
    Ok(Json(ids.iter().map(ToString::to_string).collect()))
}

/// Lets the integration sign in (and provision) the organization's users (idempotent). An event
/// naming an organization the integration is not linked to is refused with 403.
#[utoipa::path(put, path = "/admin/v1/inbound-integrations/{id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Linked."), AdminByIdRefusals))]
async fn integration_links_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let integration = integration(&state, &id).await?;
    let organization = organization(&state, &organization_id).await?;
    state.store.link_integration(integration.id, organization.id, state.now()).await?;
    state.caches.integration_links.remove(&(integration.id, organization.id));
    audited(&state, &ctx, "admin.inbound.link", |e| {
        e.organization_id = Some(organization.id.to_string());
        e.detail = Some(format!("integration={}", integration.slug));
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the link: the integration's events for the organization are refused from now on.
#[utoipa::path(delete, path = "/admin/v1/inbound-integrations/{id}/organizations/{organization_id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Unlinked."), AdminByIdRefusals))]
async fn integration_links_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, organization_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let integration: IntegrationId = parse_id(&id, "integration")?;
    let organization: OrganizationId = parse_id(&organization_id, "organization")?;
    let unlinked = state.store.unlink_integration(integration, organization).await?;
    state.caches.integration_links.remove(&(integration, organization));
    if !unlinked {
        return Err(ApiError::not_found("No such link."));
    }
    audited(&state, &ctx, "admin.inbound.unlink", |e| {
        e.organization_id = Some(organization.to_string());
        e.detail = Some(format!("integration={integration}"));
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_host(host: &str) -> ApiResult<String> {
    let host = host.trim().to_ascii_lowercase();
    match url::Host::parse(&host) {
        Ok(_) if !host.is_empty() && !host.contains(['/', ':', '@']) || host.starts_with('[') => Ok(host),
        _ => Err(ApiError::invalid(format!("allowed_redirect_hosts entry {host:?} is not a host name."))),
    }
}

/// Registers a supplier to launch users into; the answer carries its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/suppliers", tag = "admin", security(("admin_token" = [])),
    request_body(content = CreateSupplier, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here.", body = SupplierView), (status = 409, description = "The slug is taken (`conflict`).", body = ErrorEnvelope, content_type = "application/problem+json"), AdminBodyRefusals))]
async fn suppliers_create(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<SupplierView>)> {
    let body: CreateSupplier = json(&headers, body)?;
    let slug = parse_slug(&body.slug)?;
    let name = handoff_core::model::parse_name(&body.name)
        .ok_or_else(|| ApiError::invalid("name must be 1 to 200 characters."))?;
    let endpoint = parse_supplier_endpoint(&state, &body.endpoint).await?;
    let allowed_redirect_hosts =
        clean_list(body.allowed_redirect_hosts).iter().map(|h| parse_host(h)).collect::<ApiResult<Vec<_>>>()?;
    if allowed_redirect_hosts.is_empty() {
        return Err(ApiError::invalid("allowed_redirect_hosts must name at least one host."));
    }
    let timeout_seconds = body.timeout_seconds.unwrap_or(5);
    if !(1..=25).contains(&timeout_seconds) {
        return Err(ApiError::invalid("timeout_seconds must be between 1 and 25."));
    }
    let signature_profile = match body.signature_profile {
        Some(profile) => profile.parse().map_err(ApiError::invalid)?,
        None => SignatureProfile::default(),
    };
    let event_type = body.event_type.unwrap_or_else(|| "Vinst_SSO".into());
    let secret = Secret::generate(SecretKind::Webhook);
    let mut supplier = Supplier {
        id: SupplierId::new(),
        slug,
        name,
        endpoint,
        secrets: SealedSecrets { current: Vec::new(), previous: None },
        signature_profile,
        allowed_redirect_hosts,
        timeout_seconds,
        event_type,
        created_at: state.now(),
    };
    supplier.secrets.current = state.seal(secret.expose(), &outbound::seal_context(&supplier))?;
    state.store.create_supplier(&supplier).await?;
    audited(&state, &ctx, "admin.supplier.create", |e| e.detail = Some(format!("supplier={}", supplier.slug))).await?;
    let view = SupplierView {
        secret: Some(secret.expose().to_owned()),
        ..views::supplier(&supplier, &state.settings.public_url)
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists suppliers.
#[utoipa::path(get, path = "/admin/v1/suppliers", tag = "admin", security(("admin_token" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of suppliers.", body = Page<SupplierView>), AdminListRefusals))]
async fn suppliers_list(
    _: AdminAuth,
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<SupplierView>>> {
    let (page, limit) = q.page()?;
    let items = state.store.suppliers(&page).await?;
    let public_url = &state.settings.public_url;
    Ok(Json(views::page(items, limit, |s| views::supplier(s, public_url), |s| s.id.to_string())))
}

async fn supplier(state: &AppState, id: &str) -> ApiResult<Supplier> {
    let id: SupplierId = parse_id(id, "supplier")?;
    state.store.supplier(id).await?.ok_or_else(|| ApiError::not_found("No supplier with this id."))
}

/// Reads a supplier (never its secret).
#[utoipa::path(get, path = "/admin/v1/suppliers/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The supplier.", body = SupplierView), AdminByIdRefusals))]
async fn suppliers_read(
    _: AdminAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SupplierView>> {
    Ok(Json(views::supplier(&supplier(&state, &id).await?, &state.settings.public_url)))
}

/// Deletes a supplier; its launch URL answers 404 from then on.
#[utoipa::path(delete, path = "/admin/v1/suppliers/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted."), AdminByIdRefusals))]
async fn suppliers_delete(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let supplier = supplier(&state, &id).await?;
    state.store.delete_supplier(supplier.id).await?;
    audited(&state, &ctx, "admin.supplier.delete", |e| e.detail = Some(format!("supplier={}", supplier.slug))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret signs from now on; give it to the supplier, who should accept both for a while.
#[utoipa::path(post, path = "/admin/v1/suppliers/{id}/secrets", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>, content_type = "application/json"),
    responses((status = 201, description = "The new secret, shown once, and when handoff starts signing with it.", body = RotatedSecret), RotationRefusals))]
async fn suppliers_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<RotatedSecret>)> {
    let supplier = supplier(&state, &id).await?;
    let until = overlap_until(&state, &headers, body)?;
    // handoff is the sender: the secret it signs with now keeps signing until `until`, which
    // gives the supplier until then to install the new one.
    let signing = supplier.secrets.signing(state.now());
    let (secret, secrets) = rotate_sealed(&state, signing, &outbound::seal_context(&supplier), until)?;
    raced(state.store.set_supplier_secrets(supplier.id, &supplier.secrets.current, &secrets).await?)?;
    audited(&state, &ctx, "admin.supplier.rotate_secret", |e| e.detail = Some(format!("supplier={}", supplier.slug)))
        .await?;
    Ok(rotated(&secret, until))
}

/// The signing keys by kind: which one signs on this node, and every one that verifies.
#[utoipa::path(get, path = "/admin/v1/keys", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "The keys of each kind.", body = KeysView), AdminRefusals))]
async fn keys_list(_: AdminAuth, State(state): State<AppState>) -> ApiResult<Json<KeysView>> {
    state.keys.reload().await?;
    Ok(Json(state.keys.describe()))
}

/// Creates a new SSO-token key, a new identity key and a new prefill key. They sign on this node at once and on the
/// others within the key refresh interval; every older key keeps verifying.
#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "admin", security(("admin_token" = [])),
    responses((status = 201, description = "The new keys' ids.", body = RotatedKeys), AdminRefusals))]
async fn keys_rotate(
    _: AdminAuth,
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<(StatusCode, Json<RotatedKeys>)> {
    let rotated = state.keys.rotate(state.now()).await?;
    let detail = format!("sso={} identity={} prefill={}", rotated.sso_kid, rotated.identity_kid, rotated.prefill_kid);
    audited(&state, &ctx, "admin.keys.rotate", |e| e.detail = Some(detail)).await?;
    Ok((StatusCode::CREATED, Json(rotated)))
}
