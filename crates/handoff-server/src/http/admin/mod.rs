//! The admin API under `/admin/v1`, behind the admin bearer token: one file per resource, each
//! handler an extraction, one service call and a view. Every change is audited (by the
//! services); refusals are audited as `admin.request` by `http::respond`.

mod audit;
mod integrations;
mod keys;
mod links;
mod organizations;
mod partners;
mod stats;
mod streams;
mod suppliers;
mod users;

use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use handoff_core::model::Organization;
use handoff_core::wire::RotatedSecret;
use utoipa::OpenApi;

use crate::http::state::AppState;
use crate::http::views;
use crate::services::Rotated;

#[derive(OpenApi)]
#[openapi(paths(
    organizations::organizations_create,
    organizations::organizations_list,
    organizations::organizations_read,
    organizations::organizations_delete,
    organizations::organizations_rotate,
    users::users_create,
    users::users_list,
    partners::partners_create,
    partners::partners_list,
    partners::partners_read,
    partners::partners_delete,
    partners::partners_rotate,
    links::links_list,
    links::links_create,
    links::links_delete,
    users::users_read,
    users::users_update,
    users::users_delete,
    users::users_sessions_delete,
    integrations::integrations_create,
    integrations::integrations_list,
    integrations::integrations_read,
    integrations::integrations_delete,
    integrations::integrations_rotate,
    links::integration_links_list,
    links::integration_links_create,
    links::integration_links_delete,
    suppliers::suppliers_create,
    suppliers::suppliers_list,
    suppliers::suppliers_read,
    suppliers::suppliers_delete,
    suppliers::suppliers_rotate,
    streams::streams_create,
    streams::streams_list,
    streams::streams_read,
    streams::streams_delete,
    streams::streams_pause,
    streams::streams_resume,
    keys::keys_list,
    keys::keys_rotate,
    audit::audit_list,
    stats::stats_read
))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/organizations",
            post(organizations::organizations_create).get(organizations::organizations_list),
        )
        .route(
            "/admin/v1/organizations/{id}",
            get(organizations::organizations_read).delete(organizations::organizations_delete),
        )
        .route("/admin/v1/organizations/{id}/secrets", post(organizations::organizations_rotate))
        .route("/admin/v1/organizations/{id}/users", post(users::users_create).get(users::users_list))
        .route("/admin/v1/partners", post(partners::partners_create).get(partners::partners_list))
        .route("/admin/v1/partners/{id}", get(partners::partners_read).delete(partners::partners_delete))
        .route("/admin/v1/partners/{id}/secrets", post(partners::partners_rotate))
        .route("/admin/v1/partners/{id}/organizations", get(links::links_list))
        .route(
            "/admin/v1/partners/{partner_id}/organizations/{organization_id}",
            put(links::links_create).delete(links::links_delete),
        )
        .route("/admin/v1/users/{id}", get(users::users_read).patch(users::users_update).delete(users::users_delete))
        .route("/admin/v1/users/{id}/sessions", delete(users::users_sessions_delete))
        .route(
            "/admin/v1/inbound-integrations",
            post(integrations::integrations_create).get(integrations::integrations_list),
        )
        .route(
            "/admin/v1/inbound-integrations/{id}",
            get(integrations::integrations_read).delete(integrations::integrations_delete),
        )
        .route("/admin/v1/inbound-integrations/{id}/secrets", post(integrations::integrations_rotate))
        .route("/admin/v1/inbound-integrations/{id}/organizations", get(links::integration_links_list))
        .route(
            "/admin/v1/inbound-integrations/{id}/organizations/{organization_id}",
            put(links::integration_links_create).delete(links::integration_links_delete),
        )
        .route("/admin/v1/suppliers", post(suppliers::suppliers_create).get(suppliers::suppliers_list))
        .route("/admin/v1/suppliers/{id}", get(suppliers::suppliers_read).delete(suppliers::suppliers_delete))
        .route("/admin/v1/suppliers/{id}/secrets", post(suppliers::suppliers_rotate))
        .route("/admin/v1/streams", post(streams::streams_create).get(streams::streams_list))
        .route("/admin/v1/streams/{id}", get(streams::streams_read).delete(streams::streams_delete))
        .route("/admin/v1/streams/{id}/pause", post(streams::streams_pause))
        .route("/admin/v1/streams/{id}/resume", post(streams::streams_resume))
        .route("/admin/v1/keys", get(keys::keys_list))
        .route("/admin/v1/keys/rotate", post(keys::keys_rotate))
        .route("/admin/v1/audit", get(audit::audit_list))
        .route("/admin/v1/stats", get(stats::stats_read))
}

/// The answer to a rotation: the new secret (shown once) and when the old one stops working.
fn rotated(rotated: Rotated) -> (StatusCode, Json<RotatedSecret>) {
    let body = RotatedSecret {
        secret: rotated.secret.expose().to_owned(),
        previous_expires_at: views::rfc3339(rotated.until),
    };
    (StatusCode::CREATED, Json(body))
}

/// The organizations' ids as the API writes them.
fn ids(organizations: Vec<Organization>) -> Json<Vec<String>> {
    Json(organizations.iter().map(|organization| organization.id.to_string()).collect())
}
