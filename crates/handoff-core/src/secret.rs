//! Secrets are generated here, shown once, and afterwards only their SHA-256 digest is kept.
//!
//! A credential may hold a previous digest during a rotation overlap. Verification is
//! constant-time and always compares against every slot, so timing says nothing about which
//! slot (if any) matched.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use handoff_webhook::SignatureProfile;
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// What a secret is for; the prefix makes a leaked secret recognisable by scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Partner,
    Organization,
    Admin,
}

impl SecretKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::Partner => "hps_",
            SecretKind::Organization => "hos_",
            SecretKind::Admin => "hat_",
        }
    }
}

/// A freshly generated plaintext secret. It is never logged: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// 256 random bits, URL-safe base64, with the kind's prefix.
    pub fn generate(kind: SecretKind) -> Self {
        Self(format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(random_bytes::<32>())))
    }

    /// A new webhook secret for `profile`: 256 random bits, `whsec_` prefixed, in the encoding
    /// the profile keys its MAC with (standard base64 for `standard-webhooks`).
    pub fn webhook(profile: SignatureProfile) -> Self {
        Self(profile.new_secret(&random_bytes::<32>()))
    }

    /// Wraps an operator-supplied secret (e.g. a configured admin token).
    pub fn from_plaintext(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of a secret. Secrets are 256-bit random values, so a fast hash is the right tool:
/// there is nothing to brute-force that a slow hash would protect.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub fn of(candidate: &str) -> Self {
        Self(Sha256::digest(candidate.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// The stored form of a rotatable credential: the current digest and, during an overlap, the
/// previous one with the Unix time at which it stops being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    pub current: SecretDigest,
    pub previous: Option<(SecretDigest, i64)>,
}

impl Credential {
    pub fn new(current: SecretDigest) -> Self {
        Self { current, previous: None }
    }

    /// Whether `candidate` is the current secret, or the previous one before its expiry.
    pub fn verify(&self, candidate: &str, now_unix: i64) -> bool {
        let digest = SecretDigest::of(candidate);
        let current = digest.matches(&self.current);
        let previous = match self.previous {
            Some((prev, expires_at)) => digest.matches(&prev) & (now_unix < expires_at),
            None => false,
        };
        current | previous
    }

    /// The credential after a rotation to `next`; the old secret stays valid until `overlap_until`.
    pub fn rotated(&self, next: SecretDigest, overlap_until: i64) -> Self {
        Self { current: next, previous: Some((self.current, overlap_until)) }
    }
}

/// Verifies `candidate` against `credential`, or does the same work against a dummy when there is
/// no credential, so that timing does not tell an unknown id from a wrong secret.
pub fn verify_or_dummy(credential: Option<&Credential>, candidate: &str, now_unix: i64) -> bool {
    match credential {
        Some(credential) => credential.verify(candidate, now_unix),
        None => {
            let dummy = Credential::new(SecretDigest([0; 32]));
            let _ = dummy.verify(candidate, now_unix);
            false
        }
    }
}

/// `N` bytes from the operating system's CSPRNG (through `rand`'s thread-local generator,
/// which is seeded from it).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A 256-bit opaque token (session cookies): URL-safe base64 without prefix.
pub fn opaque_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_prefixed_long_and_distinct() {
        let a = Secret::generate(SecretKind::Partner);
        let b = Secret::generate(SecretKind::Partner);
        assert!(a.expose().starts_with("hps_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn webhook_secrets_key_their_profile() {
        for profile in SignatureProfile::ALL {
            let secret = Secret::webhook(profile);
            assert!(secret.expose().starts_with("whsec_"));
            assert!(profile.key(secret.expose()).is_ok(), "{profile}");
            assert_ne!(secret, Secret::webhook(profile));
        }
        let standard = Secret::webhook(SignatureProfile::StandardWebhooks);
        assert_eq!(standard.expose().len(), 6 + 44, "32 bytes in padded standard base64");
    }

    #[test]
    fn credential_accepts_previous_only_until_expiry() {
        let old = Secret::generate(SecretKind::Organization);
        let new = Secret::generate(SecretKind::Organization);
        let cred = Credential::new(old.digest()).rotated(new.digest(), 100);
        assert!(cred.verify(new.expose(), 50));
        assert!(cred.verify(old.expose(), 99));
        assert!(!cred.verify(old.expose(), 100));
        assert!(!cred.verify("hos_wrong", 50));
    }
}
