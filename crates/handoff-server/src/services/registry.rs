//! The registry the admin API and console manage: organizations, partners and their links,
//! inbound integrations and the organizations they serve, suppliers, and the audit log. The
//! field rules and documented defaults of each resource live here; every change is audited.

use std::str::FromStr;

use handoff_core::ids::{IntegrationId, OrganizationId, PartnerId, SupplierId};
use handoff_core::model::{
    parse_name, AuditEvent, AuditFilter, AuditRecord, InboundIntegration, Organization, PageRequest, Partner,
    SealedSecrets, Supplier, UnknownUserPolicy,
};
use handoff_core::redirect::{is_browser_safe, RedirectPath};
use handoff_core::secret::{Credential, Secret, SecretKind};
use handoff_core::wire::{CreateInboundIntegration, CreateOrganization, CreatePartner, CreateSupplier};
use handoff_webhook::{SignatureProfile, UnknownProfile};

use super::inbound::MAX_SLUG_LEN;
use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::{inbound_context, supplier_context};
use crate::infra::ssrf::check_endpoint;

/// A resource id from a path: one that does not parse names nothing, so it is a 404.
pub(super) fn parse_id<T: FromStr>(text: &str, what: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::not_found(format!("No {what} with this id.")))
}

fn name(text: &str) -> ApiResult<String> {
    parse_name(text).ok_or_else(|| ApiError::invalid("name must be 1 to 200 characters."))
}

fn clean_list(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}

impl Services {
    /// Audits an accepted admin action of `kind`, with what `fill` adds.
    pub(super) async fn admin_accepted(
        &self,
        ctx: &Ctx,
        kind: &str,
        fill: impl FnOnce(&mut AuditEvent),
    ) -> ApiResult<()> {
        let mut event = ctx.event(kind).accepted(self.now(), "ok");
        fill(&mut event);
        if let Some(channel) = ctx.via {
            let detail = event.detail.take().map_or_else(String::new, |detail| format!("{detail} "));
            event.detail = Some(format!("{detail}via={channel}"));
        }
        self.audit(event).await
    }

    /// Creates an organization; its secret is returned once.
    pub async fn create_organization(&self, ctx: &Ctx, body: CreateOrganization) -> ApiResult<(Organization, Secret)> {
        let name = name(&body.name)?;
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
            created_at: self.now(),
        };
        self.store.create_organization(&organization).await?;
        self.admin_accepted(ctx, "admin.organization.create", |e| {
            e.organization_id = Some(organization.id.to_string())
        })
        .await?;
        Ok((organization, secret))
    }

    pub async fn organizations(&self, page: &PageRequest) -> ApiResult<Vec<Organization>> {
        Ok(self.store.fresh().organizations(page).await?)
    }

    pub async fn admin_organization(&self, id: &str) -> ApiResult<Organization> {
        let id: OrganizationId = parse_id(id, "organization")?;
        self.store.fresh().organization(id).await?.ok_or_else(|| ApiError::not_found("No organization with this id."))
    }

    /// Deletes an organization with its users, links and sessions.
    pub async fn delete_organization(&self, ctx: &Ctx, id: &str) -> ApiResult<()> {
        let id: OrganizationId = parse_id(id, "organization")?;
        if !self.store.delete_organization(id).await? {
            return Err(ApiError::not_found("No organization with this id."));
        }
        self.admin_accepted(ctx, "admin.organization.delete", |e| e.organization_id = Some(id.to_string())).await
    }

    /// Creates a partner; its secret is returned once.
    pub async fn create_partner(&self, ctx: &Ctx, body: CreatePartner) -> ApiResult<(Partner, Secret)> {
        let name = name(&body.name)?;
        let embed_origins =
            clean_list(body.embed_origins).iter().map(|o| parse_origin(o)).collect::<ApiResult<Vec<_>>>()?;
        let allowed_path_prefixes = clean_list(body.allowed_path_prefixes);
        for prefix in &allowed_path_prefixes {
            RedirectPath::parse(prefix)
                .map_err(|e| ApiError::invalid(format!("allowed_path_prefixes entry {prefix:?}: {e}")))?;
        }
        let secret = Secret::generate(SecretKind::Partner);
        let partner = Partner {
            id: PartnerId::new(),
            name,
            embed_origins,
            allowed_path_prefixes,
            credential: Credential::new(secret.digest()),
            created_at: self.now(),
        };
        self.store.fresh().create_partner(&partner).await?;
        self.admin_accepted(ctx, "admin.partner.create", |e| e.partner_id = Some(partner.id.to_string())).await?;
        Ok((partner, secret))
    }

    pub async fn partners(&self, page: &PageRequest) -> ApiResult<Vec<Partner>> {
        Ok(self.store.fresh().partners(page).await?)
    }

    pub async fn admin_partner(&self, id: &str) -> ApiResult<Partner> {
        let id: PartnerId = parse_id(id, "partner")?;
        self.store.fresh().partner(id).await?.ok_or_else(|| ApiError::not_found("No partner with this id."))
    }

    /// Deletes a partner with its links and the sessions it started.
    pub async fn delete_partner(&self, ctx: &Ctx, id: &str) -> ApiResult<()> {
        let id: PartnerId = parse_id(id, "partner")?;
        if !self.store.delete_partner(id).await? {
            return Err(ApiError::not_found("No partner with this id."));
        }
        self.admin_accepted(ctx, "admin.partner.delete", |e| e.partner_id = Some(id.to_string())).await
    }

    /// The organizations the partner may sign users into.
    pub async fn partner_links(&self, id: &str) -> ApiResult<Vec<Organization>> {
        let partner = self.admin_partner(id).await?;
        Ok(self.store.fresh().linked_organizations(partner.id).await?)
    }

    /// The partners that may sign in the organization's users.
    pub async fn organization_partners(&self, id: &str) -> ApiResult<Vec<Partner>> {
        let organization = self.admin_organization(id).await?;
        Ok(self.store.fresh().partners_linked_to(organization.id).await?)
    }

    /// Lets the partner mint links for the organization's users (idempotent).
    pub async fn link_partner(&self, ctx: &Ctx, partner_id: &str, organization_id: &str) -> ApiResult<()> {
        let partner = self.admin_partner(partner_id).await?;
        let organization = self.admin_organization(organization_id).await?;
        self.store.link(partner.id, organization.id, self.now()).await?;
        self.admin_accepted(ctx, "admin.link.create", |e| {
            e.partner_id = Some(partner.id.to_string());
            e.organization_id = Some(organization.id.to_string());
        })
        .await
    }

    /// Removes the link and ends the sessions the partner opened in the organization.
    pub async fn unlink_partner(&self, ctx: &Ctx, partner_id: &str, organization_id: &str) -> ApiResult<()> {
        let partner: PartnerId = parse_id(partner_id, "partner")?;
        let organization: OrganizationId = parse_id(organization_id, "organization")?;
        if !self.store.unlink(partner, organization).await? {
            return Err(ApiError::not_found("No such link."));
        }
        self.admin_accepted(ctx, "admin.link.delete", |e| {
            e.partner_id = Some(partner.to_string());
            e.organization_id = Some(organization.to_string());
        })
        .await
    }

    /// Creates an inbound webhook integration; its secret is returned once.
    pub async fn create_integration(
        &self,
        ctx: &Ctx,
        body: CreateInboundIntegration,
    ) -> ApiResult<(InboundIntegration, Secret)> {
        let (integration, secret) = self.new_integration(body)?;
        self.store.create_integration(&integration).await?;
        self.admin_accepted(ctx, "admin.inbound.create", |e| {
            e.detail = Some(format!("integration={}", integration.slug))
        })
        .await?;
        Ok((integration, secret))
    }

    /// Validates a new integration's fields, applying the documented defaults.
    /// Answers the integration with its new secret (in its profile's form).
    fn new_integration(&self, body: CreateInboundIntegration) -> ApiResult<(InboundIntegration, Secret)> {
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
            None => self.settings.default_redirect_path.clone(),
        };
        let event_type = event_type(body.event_type)?;
        let signature_profile = signature_profile(body.signature_profile)?;
        let name = match body.name {
            Some(text) => name(&text)?,
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
            created_at: self.now(),
        };
        let secret = Secret::webhook(signature_profile);
        integration.secrets.current = self.sealer.seal(secret.expose(), &inbound_context(&integration))?;
        Ok((integration, secret))
    }

    pub async fn integrations(&self, page: &PageRequest) -> ApiResult<Vec<InboundIntegration>> {
        Ok(self.store.fresh().integrations(page).await?)
    }

    pub async fn admin_integration(&self, id: &str) -> ApiResult<InboundIntegration> {
        let id: IntegrationId = parse_id(id, "integration")?;
        self.store.fresh().integration(id).await?.ok_or_else(|| ApiError::not_found("No integration with this id."))
    }

    /// Deletes an inbound integration; its endpoint answers 404 from then on.
    pub async fn delete_integration(&self, ctx: &Ctx, id: &str) -> ApiResult<()> {
        let integration = self.admin_integration(id).await?;
        self.store.delete_integration(integration.id).await?;
        self.admin_accepted(ctx, "admin.inbound.delete", |e| {
            e.detail = Some(format!("integration={}", integration.slug))
        })
        .await
    }

    /// The organizations whose users the integration may sign in.
    pub async fn integration_links(&self, id: &str) -> ApiResult<Vec<Organization>> {
        let integration = self.admin_integration(id).await?;
        Ok(self.store.fresh().integration_organizations(integration.id).await?)
    }

    /// Lets the integration sign in (and provision) the organization's users (idempotent).
    pub async fn link_integration(&self, ctx: &Ctx, id: &str, organization_id: &str) -> ApiResult<()> {
        let integration = self.admin_integration(id).await?;
        let organization = self.admin_organization(organization_id).await?;
        self.store.link_integration(integration.id, organization.id, self.now()).await?;
        self.admin_accepted(ctx, "admin.inbound.link", |e| {
            e.organization_id = Some(organization.id.to_string());
            e.detail = Some(format!("integration={}", integration.slug));
        })
        .await
    }

    /// Removes the link: the integration's events for the organization are refused from now on.
    pub async fn unlink_integration(&self, ctx: &Ctx, id: &str, organization_id: &str) -> ApiResult<()> {
        let integration: IntegrationId = parse_id(id, "integration")?;
        let organization: OrganizationId = parse_id(organization_id, "organization")?;
        if !self.store.unlink_integration(integration, organization).await? {
            return Err(ApiError::not_found("No such link."));
        }
        self.admin_accepted(ctx, "admin.inbound.unlink", |e| {
            e.organization_id = Some(organization.to_string());
            e.detail = Some(format!("integration={integration}"));
        })
        .await
    }

    /// Registers a supplier to launch users into; its secret is returned once.
    pub async fn create_supplier(&self, ctx: &Ctx, body: CreateSupplier) -> ApiResult<(Supplier, Secret)> {
        let slug = parse_slug(&body.slug)?;
        let name = name(&body.name)?;
        let endpoint = self.supplier_endpoint(&body.endpoint).await?;
        let allowed_redirect_hosts =
            clean_list(body.allowed_redirect_hosts).iter().map(|h| parse_host(h)).collect::<ApiResult<Vec<_>>>()?;
        if allowed_redirect_hosts.is_empty() {
            return Err(ApiError::invalid("allowed_redirect_hosts must name at least one host."));
        }
        let timeout_seconds = body.timeout_seconds.unwrap_or(5);
        if !(1..=25).contains(&timeout_seconds) {
            return Err(ApiError::invalid("timeout_seconds must be between 1 and 25."));
        }
        let signature_profile = signature_profile(body.signature_profile)?;
        let event_type = body.event_type.unwrap_or_else(|| "Vinst_SSO".into());
        let secret = Secret::webhook(signature_profile);
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
            created_at: self.now(),
        };
        supplier.secrets.current = self.sealer.seal(secret.expose(), &supplier_context(&supplier))?;
        self.store.fresh().create_supplier(&supplier).await?;
        self.admin_accepted(ctx, "admin.supplier.create", |e| e.detail = Some(format!("supplier={}", supplier.slug)))
            .await?;
        Ok((supplier, secret))
    }

    /// A supplier's endpoint: a browser-safe URL (https, http only on loopback) and, unless
    /// `allow_private_endpoints`, not at a private or reserved address (SSRF).
    async fn supplier_endpoint(&self, value: &str) -> ApiResult<String> {
        self.outbound_endpoint("endpoint", "Suppliers", value).await
    }

    /// Where handoff sends requests (a supplier's endpoint, a stream's webhook, in `field`): a
    /// browser-safe URL (https, http only on loopback) and, unless `allow_private_endpoints`,
    /// not at a private or reserved address (SSRF). `who` names such receivers in the refusal.
    pub(super) async fn outbound_endpoint(&self, field: &str, who: &str, value: &str) -> ApiResult<String> {
        let endpoint = parse_browser_url(field, value)?;
        if !self.settings.allow_private_endpoints {
            let url = url::Url::parse(&endpoint).map_err(|_| ApiError::internal())?;
            check_endpoint(&url).await.map_err(|forbidden| {
                ApiError::invalid(format!(
                    "{field} is at a private or reserved address: {forbidden}. {who} on such addresses \
                     (on-premise, development) need the setting allow_private_endpoints."
                ))
            })?;
        }
        Ok(endpoint)
    }

    pub async fn suppliers(&self, page: &PageRequest) -> ApiResult<Vec<Supplier>> {
        Ok(self.store.fresh().suppliers(page).await?)
    }

    pub async fn admin_supplier(&self, id: &str) -> ApiResult<Supplier> {
        let id: SupplierId = parse_id(id, "supplier")?;
        self.store.fresh().supplier(id).await?.ok_or_else(|| ApiError::not_found("No supplier with this id."))
    }

    /// Deletes a supplier; its launch URL answers 404 from then on.
    pub async fn delete_supplier(&self, ctx: &Ctx, id: &str) -> ApiResult<()> {
        let supplier = self.admin_supplier(id).await?;
        self.store.fresh().delete_supplier(supplier.id).await?;
        self.admin_accepted(ctx, "admin.supplier.delete", |e| e.detail = Some(format!("supplier={}", supplier.slug)))
            .await
    }

    /// The audit records `filter` selects, newest first.
    pub async fn audit_records(&self, filter: &AuditFilter) -> ApiResult<Vec<AuditRecord>> {
        Ok(self.store.fresh().audit(filter).await?)
    }
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

fn parse_slug(slug: &str) -> ApiResult<String> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && !slug.starts_with('-')
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(slug.to_owned())
    } else {
        Err(ApiError::invalid("slug must be 1 to 64 characters of a-z, 0-9 and '-'."))
    }
}

fn parse_host(host: &str) -> ApiResult<String> {
    let host = host.trim().to_ascii_lowercase();
    match url::Host::parse(&host) {
        Ok(_) if !host.is_empty() && !host.contains(['/', ':', '@']) || host.starts_with('[') => Ok(host),
        _ => Err(ApiError::invalid(format!("allowed_redirect_hosts entry {host:?} is not a host name."))),
    }
}

/// An absolute URL on https, or http on a loopback host (development).
fn parse_browser_url(field: &str, value: &str) -> ApiResult<String> {
    match url::Url::parse(value) {
        Ok(url) if is_browser_safe(&url) => Ok(value.to_owned()),
        _ => Err(ApiError::invalid(format!("{field} must be an https URL (http only on loopback)."))),
    }
}

fn event_type(value: Option<String>) -> ApiResult<String> {
    let event_type = value.unwrap_or_else(|| "Vinst_SSO".into());
    if event_type.is_empty() || event_type.chars().count() > 100 || event_type.chars().any(char::is_control) {
        return Err(ApiError::invalid("event_type must be 1 to 100 printable characters."));
    }
    Ok(event_type)
}

fn signature_profile(value: Option<String>) -> ApiResult<SignatureProfile> {
    match value {
        Some(profile) => profile.parse().map_err(|e: UnknownProfile| ApiError::invalid(e.to_string())),
        None => Ok(SignatureProfile::default()),
    }
}
