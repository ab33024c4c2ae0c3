//! Model → wire conversions, and the time format every answer uses (RFC 3339, UTC).

use handoff_core::model::{AuditRecord, InboundIntegration, Organization, Partner, Supplier, User};
use handoff_core::wire::{
    AuditRecordView, InboundIntegrationView, OrganizationView, Page, PartnerView, SupplierView, UserView,
};

use crate::config::PublicUrl;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

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

pub fn audit_record(r: &AuditRecord) -> AuditRecordView {
    let e = &r.event;
    AuditRecordView {
        id: r.id,
        at: rfc3339(e.at),
        kind: e.kind.clone(),
        outcome: e.outcome.map(|o| o.as_str().to_owned()),
        reason: e.reason.clone(),
        partner_id: e.partner_id.clone(),
        organization_id: e.organization_id.clone(),
        user_id: e.user_id.clone(),
        client_addr: e.client_addr.clone(),
        request_id: e.request_id.clone(),
        detail: e.detail.clone(),
    }
}

/// A page of `items` (fetched with `limit + 1` rows) with the cursor taken from its last item.
pub fn page<M, V>(mut items: Vec<M>, limit: u32, view: impl Fn(&M) -> V, cursor: impl Fn(&M) -> String) -> Page<V> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(&cursor) } else { None };
    Page { items: items.iter().map(view).collect(), next_cursor }
}
