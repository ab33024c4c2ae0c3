//! The console's signing key page: the keys of each kind (SSO links, identity tokens, prefill
//! tokens) with the one that signs and their ages, and the rotation of all of them behind a
//! confirmation step.
//!
//! Must not: hold a rule of its own: the rotation, and its audit record (`via=console`), are the
//! same service the admin API calls. No key material is ever shown, only key ids.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use handoff_core::wire::{KeySetView, RotatedKeys};
use maud::{html, Markup};

use super::layout::page;
use super::{age, console_ctx, token_field, Operator, Posted};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::services::Ctx;

/// The navigation entry these pages belong to.
pub(super) const PATH: &str = "/admin/keys";

/// `GET /admin/keys`
pub(super) async fn list(State(state): State<AppState>, operator: Operator) -> ApiResult<Response> {
    list_page(&state, &operator, None).await
}

async fn list_page(state: &AppState, operator: &Operator, rotated: Option<&RotatedKeys>) -> ApiResult<Response> {
    let keys = state.keys().await?;
    let ages = state.key_ages().await?;
    let kinds = [
        ("SSO link keys", "sso", &keys.sso),
        ("Identity keys", "identity", &keys.identity),
        ("Prefill keys", "prefill", &keys.prefill),
    ];
    let main = html! {
        @if let Some(rotated) = rotated {
            section class="card" aria-labelledby="rotated" role="status" {
                h2 id="rotated" { "New signing keys" }
                p {
                    "They sign on this node now and on the others within the key refresh interval; "
                    "the older keys keep verifying."
                }
                dl class="facts" {
                    dt { "SSO link key" } dd { code { (rotated.sso_kid) } }
                    dt { "Identity key" } dd { code { (rotated.identity_kid) } }
                    dt { "Prefill key" } dd { code { (rotated.prefill_kid) } }
                }
            }
        }
        h1 { "Signing keys" }
        @for (label, id, set) in kinds {
            (kind_table(label, id, set, &ages))
        }
        section class="card" aria-labelledby="rotate" {
            h2 id="rotate" { "Rotate" }
            p class="hint" { "Makes a new key of every kind; the older keys keep verifying what they signed." }
            p { a href=(format!("{PATH}/rotate")) class="danger-link" { "Rotate all signing keys…" } }
        }
    };
    Ok(page(StatusCode::OK, "Signing keys", PATH, Some(operator), main))
}

/// One kind's keys: which signs, and how old each is.
fn kind_table(label: &str, id: &str, set: &KeySetView, ages: &[(String, i64)]) -> Markup {
    let age_of = |kid: &str| ages.iter().find(|(known, _)| known == kid).map(|(_, seconds)| age(*seconds));
    html! {
        section class="card" aria-labelledby=(id) {
            h2 id=(id) { (label) }
            @if set.kids.is_empty() {
                p { "None yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Key id" } th scope="col" { "Age" } th scope="col" { "Use" } } }
                    tbody {
                        @for kid in &set.kids {
                            tr {
                                td { code { (kid) } }
                                td { (age_of(kid).unwrap_or_else(|| "unknown".to_owned())) }
                                td { @if set.current.as_deref() == Some(kid.as_str()) { strong { "signs" } } @else { "verifies" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /admin/keys/rotate`: the confirmation step.
pub(super) async fn confirm(operator: Operator) -> Response {
    let main = html! {
        div class="card narrow" {
            h1 { "Rotate all signing keys?" }
            p {
                "A new key of every kind signs from now on. Links and tokens signed with the older keys "
                "keep verifying; partners that pinned a key id must fetch the new one."
            }
            form method="post" action=(format!("{PATH}/rotate")) class="actions" {
                (token_field(&operator))
                button type="submit" class="danger" { "Rotate" }
                a href=(PATH) { "Cancel" }
            }
        }
    };
    page(StatusCode::OK, "Rotate the signing keys", PATH, Some(&operator), main)
}

/// `POST /admin/keys/rotate`: the keys page with the new key ids.
pub(super) async fn rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { operator, .. }: Posted,
) -> ApiResult<Response> {
    let rotated = state.rotate_keys(&console_ctx(ctx)).await?;
    list_page(&state, &operator, Some(&rotated)).await
}
