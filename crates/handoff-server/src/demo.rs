//! `handoff serve --demo`: a demo organization, partner and user, created once and found again on
//! later starts. Secrets are only ever stored as digests, so each start issues fresh demo secrets
//! (the old ones stop working) and prints a ready `curl` line with them.

use handoff_core::ids::{OrganizationId, PartnerId};
use handoff_core::model::{Organization, PageRequest, Partner, User, UserStatus};
use handoff_core::secret::{Credential, Secret, SecretKind};
use handoff_core::store::StoreError;
use handoff_core::UserId;

use crate::state::AppState;

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
pub async fn ensure(state: &AppState) -> Result<Demo, StoreError> {
    let store = &state.store;
    let now = state.now();
    let organization_secret = Secret::generate(SecretKind::Organization);
    let partner_secret = Secret::generate(SecretKind::Partner);

    let organization = match store.organization_by_number(DEMO_ORG_NUMBER).await? {
        Some(organization) => {
            let fresh = Credential::new(organization_secret.digest());
            store.set_organization_credential(organization.id, &organization.credential.current, &fresh).await?;
            organization
        }
        None => {
            let organization = Organization {
                id: OrganizationId::new(),
                name: "Demo Clinic".into(),
                org_numbers: vec![DEMO_ORG_NUMBER.into()],
                credential: Credential::new(organization_secret.digest()),
                created_at: now,
            };
            store.create_organization(&organization).await?;
            organization
        }
    };

    let mut existing = None;
    for partner in store.partners(&PageRequest { after: None, limit: 1000 }).await? {
        if partner.name == DEMO_PARTNER_NAME && store.is_linked(partner.id, organization.id).await? {
            existing = Some(partner);
            break;
        }
    }
    let partner = match existing {
        Some(partner) => {
            let fresh = Credential::new(partner_secret.digest());
            store.set_partner_credential(partner.id, &partner.credential.current, &fresh).await?;
            partner
        }
        None => {
            let partner = Partner {
                id: PartnerId::new(),
                name: DEMO_PARTNER_NAME.into(),
                embed_origins: vec![state.settings.public_url.base.clone()],
                allowed_path_prefixes: vec!["/dashboard".into(), "/embed".into()],
                credential: Credential::new(partner_secret.digest()),
                created_at: now,
            };
            store.create_partner(&partner).await?;
            store.link(partner.id, organization.id, now).await?;
            partner
        }
    };

    let user = match store.user_by_email(organization.id, DEMO_EMAIL).await? {
        Some(user) => user,
        None => {
            let user = User {
                id: UserId::new(),
                organization_id: organization.id,
                email: DEMO_EMAIL.into(),
                given_name: "Turid".into(),
                family_name: "Jensen".into(),
                status: UserStatus::Active,
                status_set_by: None,
                created_at: now,
            };
            store.create_user(&user).await?;
            user
        }
    };
    Ok(Demo {
        partner_id: partner.id,
        partner_secret,
        organization_id: organization.id,
        organization_secret,
        user_id: user.id,
    })
}
