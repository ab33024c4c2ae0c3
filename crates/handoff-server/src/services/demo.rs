//! `handoff serve --demo`: a demo organization, partner and user, created once and found again on
//! later starts. Secrets are only ever stored as digests, so each start issues fresh demo secrets
//! (the old ones stop working) and prints a ready `curl` line with them.

use handoff_core::ids::{OrganizationId, PartnerId};
use handoff_core::model::{Organization, PageRequest, Partner, User, UserStatus};
use handoff_core::secret::{Credential, Secret, SecretKind};
use handoff_core::store::StoreError;
use handoff_core::UserId;

use super::Services;

const DEMO_ORG_NUMBER: &str = "DEMO-000000001";
const DEMO_PARTNER_NAME: &str = "Demo EHR";
const DEMO_EMAIL: &str = "turid.jensen@example.com";

/// Everything needed to call `POST /v1/sso` as the demo partner.
pub struct Demo {
    pub partner_id: PartnerId,
    pub partner_secret: Secret,
    pub organization_id: OrganizationId,
    pub organization_secret: Secret,
    pub user_id: UserId,
}

impl Demo {
    /// A copy-pasteable `curl` line for `POST /v1/sso` that lands on the patient's page.
    pub fn curl(&self, public_url: &str) -> String {
        format!(
            "curl -s -X POST {public_url}/v1/sso \\\n  -H 'x-partner-id: {}' \\\n  -H 'x-partner-secret: {}' \\\n  \
             -H 'x-organization-id: {}' \\\n  -H 'x-organization-secret: {}' \\\n  -H 'x-user-id: {}' \\\n  \
             -H 'Content-Type: application/json' \\\n  -d '{{\"redirect_path\": \"/dashboard/patients/1234-5678-3456-2345\"}}'",
            self.partner_id,
            self.partner_secret.expose(),
            self.organization_id,
            self.organization_secret.expose(),
            self.user_id,
        )
    }
}

/// Creates the demo data if missing and issues fresh demo secrets.
pub async fn ensure(services: &Services) -> Result<Demo, StoreError> {
    let organization_secret = Secret::generate(SecretKind::Organization);
    let partner_secret = Secret::generate(SecretKind::Partner);
    let organization = demo_organization(services, &organization_secret).await?;
    let partner = demo_partner(services, organization.id, &partner_secret).await?;
    let user = demo_user(services, organization.id).await?;
    Ok(Demo {
        partner_id: partner.id,
        partner_secret,
        organization_id: organization.id,
        organization_secret,
        user_id: user.id,
    })
}

/// The demo organization (by its org number), its secret set to `secret`.
async fn demo_organization(services: &Services, secret: &Secret) -> Result<Organization, StoreError> {
    let store = &services.store;
    let credential = Credential::new(secret.digest());
    if let Some(organization) = store.fresh().organization_by_number(DEMO_ORG_NUMBER).await? {
        store.set_organization_credential(organization.id, &organization.credential.current, &credential).await?;
        return Ok(organization);
    }
    let organization = Organization {
        id: OrganizationId::new(),
        name: "Demo Clinic".into(),
        org_numbers: vec![DEMO_ORG_NUMBER.into()],
        credential,
        created_at: services.now(),
    };
    store.create_organization(&organization).await?;
    Ok(organization)
}

/// The demo partner (by its name, linked to `organization`), its secret set to `secret`.
async fn demo_partner(
    services: &Services,
    organization: OrganizationId,
    secret: &Secret,
) -> Result<Partner, StoreError> {
    let store = &services.store;
    let credential = Credential::new(secret.digest());
    for partner in store.fresh().partners(&PageRequest { after: None, limit: 1000 }).await? {
        if partner.name == DEMO_PARTNER_NAME && store.linked(partner.id, organization).await? {
            store.set_partner_credential(partner.id, &partner.credential.current, &credential).await?;
            return Ok(partner);
        }
    }
    let partner = Partner {
        id: PartnerId::new(),
        name: DEMO_PARTNER_NAME.into(),
        embed_origins: vec![services.settings.public_url.base.clone()],
        allowed_path_prefixes: vec!["/dashboard".into(), "/embed".into()],
        credential,
        created_at: services.now(),
    };
    store.fresh().create_partner(&partner).await?;
    store.link(partner.id, organization, services.now()).await?;
    Ok(partner)
}

/// The demo user of `organization`.
async fn demo_user(services: &Services, organization: OrganizationId) -> Result<User, StoreError> {
    let store = &services.store;
    if let Some(user) = store.fresh().user_by_email(organization, DEMO_EMAIL).await? {
        return Ok(user);
    }
    let user = User {
        id: UserId::new(),
        organization_id: organization,
        email: DEMO_EMAIL.into(),
        given_name: "Turid".into(),
        family_name: "Jensen".into(),
        status: UserStatus::Active,
        status_set_by: None,
        created_at: services.now(),
    };
    store.create_user(&user).await?;
    Ok(user)
}
