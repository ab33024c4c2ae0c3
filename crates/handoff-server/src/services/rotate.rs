//! Secret rotation: organization and partner credentials (hashed; the old secret keeps working
//! for the overlap), webhook secrets (sealed; inbound integrations accept the previous one for
//! the overlap, suppliers are signed with the previous one until then), and the signing keys.
//! Every rotation is a compare-and-swap on the secret it replaces: of two racing, one wins and
//! the other gets 409, its secret never stored nor shown.

use handoff_core::model::SealedSecrets;
use handoff_core::problem::ProblemKind;
use handoff_core::secret::{Secret, SecretKind};
use handoff_core::wire::{KeysView, RotateSecret, RotatedKeys};
use handoff_webhook::SignatureProfile;

use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::{inbound_context, supplier_context};

/// How long a rotated-out secret keeps working unless the request says otherwise.
const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// The longest overlap a rotation may ask for.
const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

/// A rotated secret: the new one (shown once) and when the old one stops working.
pub struct Rotated {
    pub secret: Secret,
    pub until: i64,
}

/// A 409 unless the rotation's compare-and-swap stored its secret: another rotation of the same
/// secret (or a delete) won, so this one's secret was never stored and is not shown.
fn expect_stored(stored: bool) -> ApiResult<()> {
    if stored {
        Ok(())
    } else {
        Err(ApiError::new(
            ProblemKind::Conflict,
            "The secret was rotated or deleted by another request at the same time; read it and rotate again.",
        ))
    }
}

impl Services {
    /// When a rotated-out secret stops working: now plus the request's `overlap_seconds`
    /// (default a day, at most a week). The body is read after the lookup: an unknown id is a
    /// 404 whatever the body says.
    fn overlap_until(&self, request: Option<RotateSecret>) -> ApiResult<i64> {
        let seconds = request.unwrap_or_default().overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
        if !(0..=MAX_OVERLAP_SECONDS).contains(&seconds) {
            return Err(ApiError::invalid(format!("overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}.")));
        }
        Ok(self.now() + seconds)
    }

    /// A new webhook secret sealed under `context`; `kept` (the secret in use until now) stays in
    /// use until `until`, or ends at once when `until` is not in the future.
    fn rotate_sealed(
        &self,
        profile: SignatureProfile,
        kept: &[u8],
        context: &str,
        until: i64,
    ) -> ApiResult<(Secret, SealedSecrets)> {
        let secret = Secret::webhook(profile);
        let previous = (until > self.now()).then(|| (kept.to_vec(), until));
        let current = self.sealer.seal(secret.expose(), context)?;
        Ok((secret, SealedSecrets { current, previous }))
    }

    pub async fn rotate_organization_secret(
        &self,
        ctx: &Ctx,
        id: &str,
        request: ApiResult<Option<RotateSecret>>,
    ) -> ApiResult<Rotated> {
        let organization = self.admin_organization(id).await?;
        let until = self.overlap_until(request?)?;
        let secret = Secret::generate(SecretKind::Organization);
        let credential = organization.credential.rotated(secret.digest(), until);
        let current = &organization.credential.current;
        expect_stored(self.store.set_organization_credential(organization.id, current, &credential).await?)?;
        self.admin_accepted(ctx, "admin.organization.rotate_secret", |e| {
            e.organization_id = Some(organization.id.to_string())
        })
        .await?;
        Ok(Rotated { secret, until })
    }

    pub async fn rotate_partner_secret(
        &self,
        ctx: &Ctx,
        id: &str,
        request: ApiResult<Option<RotateSecret>>,
    ) -> ApiResult<Rotated> {
        let partner = self.admin_partner(id).await?;
        let until = self.overlap_until(request?)?;
        let secret = Secret::generate(SecretKind::Partner);
        let credential = partner.credential.rotated(secret.digest(), until);
        expect_stored(self.store.set_partner_credential(partner.id, &partner.credential.current, &credential).await?)?;
        self.admin_accepted(ctx, "admin.partner.rotate_secret", |e| e.partner_id = Some(partner.id.to_string()))
            .await?;
        Ok(Rotated { secret, until })
    }

    /// A new current secret; the receiver accepts both: the current one becomes the previous
    /// one for the overlap (at most two are ever active).
    pub async fn rotate_integration_secret(
        &self,
        ctx: &Ctx,
        id: &str,
        request: ApiResult<Option<RotateSecret>>,
    ) -> ApiResult<Rotated> {
        let integration = self.admin_integration(id).await?;
        let until = self.overlap_until(request?)?;
        let (secret, secrets) = self.rotate_sealed(
            integration.signature_profile,
            &integration.secrets.current,
            &inbound_context(&integration),
            until,
        )?;
        let current = &integration.secrets.current;
        expect_stored(self.store.set_integration_secrets(integration.id, current, &secrets).await?)?;
        self.admin_accepted(ctx, "admin.inbound.rotate_secret", |e| {
            e.detail = Some(format!("integration={}", integration.slug))
        })
        .await?;
        Ok(Rotated { secret, until })
    }

    /// handoff is the sender: the secret it signs with now keeps signing until the overlap ends,
    /// which gives the supplier until then to install the new one.
    pub async fn rotate_supplier_secret(
        &self,
        ctx: &Ctx,
        id: &str,
        request: ApiResult<Option<RotateSecret>>,
    ) -> ApiResult<Rotated> {
        let supplier = self.admin_supplier(id).await?;
        let until = self.overlap_until(request?)?;
        let signing = supplier.secrets.signing(self.now());
        let (secret, secrets) =
            self.rotate_sealed(supplier.signature_profile, signing, &supplier_context(&supplier), until)?;
        let current = &supplier.secrets.current;
        expect_stored(self.store.fresh().set_supplier_secrets(supplier.id, current, &secrets).await?)?;
        self.admin_accepted(ctx, "admin.supplier.rotate_secret", |e| {
            e.detail = Some(format!("supplier={}", supplier.slug))
        })
        .await?;
        Ok(Rotated { secret, until })
    }

    /// New signing keys of every kind: they sign on this node at once and on the others within
    /// the key refresh interval; every older key keeps verifying.
    pub async fn rotate_keys(&self, ctx: &Ctx) -> ApiResult<RotatedKeys> {
        let rotated = self.keys.rotate(self.now()).await?;
        let detail =
            format!("sso={} identity={} prefill={}", rotated.sso_kid, rotated.identity_kid, rotated.prefill_kid);
        self.admin_accepted(ctx, "admin.keys.rotate", |e| e.detail = Some(detail)).await?;
        Ok(rotated)
    }

    /// The signing keys by kind, reloaded from the store first.
    pub async fn keys(&self) -> ApiResult<KeysView> {
        self.keys.reload().await?;
        Ok(self.keys.describe())
    }

    /// Every stored signing key's age in seconds, by kid (the keys page shows them).
    pub async fn key_ages(&self) -> ApiResult<Vec<(String, i64)>> {
        let now = self.now();
        Ok(self.store.fresh().keys().await?.into_iter().map(|key| (key.kid, now - key.created_at)).collect())
    }
}
