//! Model → wire conversions, and the time format every answer uses (RFC 3339, UTC).

use handoff_core::model::{AuditRecord, InboundIntegration, Organization, Partner, Supplier, User};
use handoff_core::wire::{
    AuditRecordView, InboundIntegrationView, OrganizationView, Page, PartnerView, StreamView, SupplierView, UserView,
};

use crate::config::PublicUrl;
use crate::services::StreamStatus;

pub use handoff_core::export::rfc3339;

pub fn organization(o: &Organization) -> OrganizationView {
    OrganizationView {
        id: o.id.to_string(),
        name: o.name.clone(),
        org_numbers: o.org_numbers.clone(),
        created_at: rfc3339(o.created_at),
        secret: None,
    }
}

pub fn partner(p: &Partner) -> PartnerView {
    PartnerView {
        id: p.id.to_string(),
        name: p.name.clone(),
        embed_origins: p.embed_origins.clone(),
        allowed_path_prefixes: p.allowed_path_prefixes.clone(),
        created_at: rfc3339(p.created_at),
        secret: None,
    }
}

pub fn user(u: &User) -> UserView {
    UserView {
        id: u.id.to_string(),
        organization_id: u.organization_id.to_string(),
        email: u.email.clone(),
        given_name: u.given_name.clone(),
        family_name: u.family_name.clone(),
        status: u.status.as_str().to_owned(),
        status_set_by: u.status_set_by.map(|by| by.as_str().to_owned()),
        created_at: rfc3339(u.created_at),
    }
}

pub fn integration(i: &InboundIntegration, public_url: &PublicUrl) -> InboundIntegrationView {
    InboundIntegrationView {
        id: i.id.to_string(),
        slug: i.slug.clone(),
        name: i.name.clone(),
        endpoint: public_url.join(&format!("/v1/inbound/{}/sso", i.slug)),
        signature_profile: i.signature_profile.as_str().to_owned(),
        tolerance_seconds: i.tolerance_seconds,
        event_type: i.event_type.clone(),
        unknown_user: i.unknown_user.as_str().to_owned(),
        register_url: i.register_url.clone(),
        landing_path: i.landing_path.clone(),
        sandbox: i.sandbox,
        created_at: rfc3339(i.created_at),
        previous_secret_expires_at: i.secrets.previous.as_ref().map(|(_, until)| rfc3339(*until)),
        secret: None,
    }
}

pub fn supplier(s: &Supplier, public_url: &PublicUrl) -> SupplierView {
    SupplierView {
        id: s.id.to_string(),
        slug: s.slug.clone(),
        name: s.name.clone(),
        endpoint: s.endpoint.clone(),
        launch_url: public_url.join(&format!("/launch/{}", s.slug)),
        allowed_redirect_hosts: s.allowed_redirect_hosts.clone(),
        signature_profile: s.signature_profile.as_str().to_owned(),
        timeout_seconds: s.timeout_seconds,
        event_type: s.event_type.clone(),
        created_at: rfc3339(s.created_at),
        previous_secret_expires_at: s.secrets.previous.as_ref().map(|(_, until)| rfc3339(*until)),
        secret: None,
    }
}

/// A stream and its status at `now` (Unix seconds).
pub fn stream(s: &StreamStatus, now: i64) -> StreamView {
    let st = &s.stream;
    StreamView {
        id: st.id.to_string(),
        name: st.name.clone(),
        kind: st.kind.as_str().to_owned(),
        url: st.url.clone(),
        path: st.path.clone(),
        kinds: st.filter.kinds.clone(),
        outcomes: st.filter.outcomes.iter().map(|o| o.as_str().to_owned()).collect(),
        state: s.state.as_str().to_owned(),
        lag_records: s.lag.records,
        lag_seconds: s.lag.oldest_at.map_or(0, |at| (now - at).max(0)),
        last_delivered_at: st.last_delivered_at.map(rfc3339),
        failures: st.failures,
        last_error: st.last_error.clone(),
        next_attempt_at: (st.failures > 0 && st.next_attempt_at > 0).then(|| rfc3339(st.next_attempt_at / 1000)),
        created_at: rfc3339(st.created_at),
        secret: None,
    }
}

/// The record's one shape (`handoff_core::export`, which the exports render too).
pub fn audit_record(r: &AuditRecord) -> AuditRecordView {
    handoff_core::export::view(r)
}

/// A page of `items` (fetched with `limit + 1` rows) with the cursor taken from its last item.
pub fn page<M, V>(mut items: Vec<M>, limit: u32, view: impl Fn(&M) -> V, cursor: impl Fn(&M) -> String) -> Page<V> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(&cursor) } else { None };
    Page { items: items.iter().map(view).collect(), next_cursor }
}
