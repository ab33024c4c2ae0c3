//! SSO tokens and identity tokens: claims, key sets, minting and verification.
//!
//! SSO tokens are minted and verified only by handoff, so they are HS256 JWTs keyed with a server
//! key; identity tokens (`X-Handoff-Token`) are verified by others and are Ed25519 (EdDSA) JWTs
//! whose public keys are served as a JWKS. Verification pins the algorithm, requires a known
//! `kid`, checks `iss` and `aud`, and checks `exp`/`nbf` against the injected clock.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::{OrganizationId, PartnerId, UserId};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 5;

/// The claims of a one-time SSO token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub org: OrganizationId,
    /// The partner that minted the link; absent for links minted by an inbound integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptn: Option<PartnerId>,
    /// The signed redirect path.
    pub rp: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// The claims of the short-lived identity token handed to the protected application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub org: OrganizationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptn: Option<PartnerId>,
    pub email: String,
    pub emb: bool,
    pub iat: i64,
    pub exp: i64,
}

/// The claims of a registration prefill token: who an inbound event named, for a registration
/// page to pre-fill. Signed with the identity key (Ed25519), verifiable with the JWKS; short-lived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefillClaims {
    pub iss: String,
    /// The registration URL it was issued for.
    pub aud: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub org: OrganizationId,
    pub org_no: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed or its signature does not verify")]
    Invalid,
    #[error("the token was signed with a key this node does not know yet")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the key could not be used")]
    Key,
}

/// What kind of key a stored key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// HS256 key for SSO tokens.
    SsoHmac,
    /// Ed25519 key pair for identity tokens.
    Ed25519,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::SsoHmac => "sso-hs256",
            KeyKind::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sso-hs256" => Some(KeyKind::SsoHmac),
            "ed25519" => Some(KeyKind::Ed25519),
            _ => None,
        }
    }
}

/// One key, unsealed. `secret` is the HMAC key or the PKCS#8 DER private key; `public` is the raw
/// Ed25519 public key (empty for HMAC keys).
#[derive(Clone)]
pub struct KeyMaterial {
    pub kid: String,
    pub kind: KeyKind,
    pub secret: Vec<u8>,
    pub public: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial").field("kid", &self.kid).field("kind", &self.kind).finish()
    }
}

struct KeyPair {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Vec<u8>,
}

/// A set of keys of one kind: the newest signs, all verify (rotation overlap).
pub struct KeySet {
    algorithm: Algorithm,
    current: Option<String>,
    keys: HashMap<String, KeyPair>,
}

impl KeySet {
    /// Builds the set for `kind` from `material` (keys of other kinds are ignored).
    pub fn new(kind: KeyKind, material: &[KeyMaterial]) -> Self {
        let algorithm = match kind {
            KeyKind::SsoHmac => Algorithm::HS256,
            KeyKind::Ed25519 => Algorithm::EdDSA,
        };
        let mut keys = HashMap::new();
        let mut current: Option<(&str, i64)> = None;
        for key in material.iter().filter(|k| k.kind == kind) {
            let pair = match kind {
                KeyKind::SsoHmac => KeyPair {
                    encoding: EncodingKey::from_secret(&key.secret),
                    decoding: DecodingKey::from_secret(&key.secret),
                    public: Vec::new(),
                },
                KeyKind::Ed25519 => KeyPair {
                    encoding: EncodingKey::from_ed_der(&key.secret),
                    decoding: DecodingKey::from_ed_der(&key.public),
                    public: key.public.clone(),
                },
            };
            keys.insert(key.kid.clone(), pair);
            if current.is_none_or(|(_, at)| key.created_at >= at) {
                current = Some((&key.kid, key.created_at));
            }
        }
        Self { algorithm, current: current.map(|(kid, _)| kid.to_owned()), keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The kid that signs.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Every kid that verifies, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// Signs `claims` with the newest key, naming it in the `kid` header.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let kid = self.current.as_ref().ok_or(TokenError::Key)?;
        let pair = self.keys.get(kid).ok_or(TokenError::Key)?;
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, &pair.encoding).map_err(|_| TokenError::Key)
    }

    /// Verifies signature, algorithm, `kid`, `iss` and `aud`; the caller checks time with
    /// [`check_time`] against its clock.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != self.algorithm {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let pair = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(self.algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        jsonwebtoken::decode::<T>(token, &pair.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }

    /// The public half of every key, as a JWKS document (Ed25519 sets only).
    pub fn jwks(&self) -> Jwks {
        let mut keys: Vec<Jwk> = self
            .keys
            .iter()
            .filter(|(_, pair)| !pair.public.is_empty())
            .map(|(kid, pair)| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                alg: "EdDSA".into(),
                r#use: "sig".into(),
                kid: kid.clone(),
                x: URL_SAFE_NO_PAD.encode(&pair.public),
            })
            .collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Jwks { keys }
    }
}

/// Checks `exp` and `nbf` against `now`, with [`LEEWAY_SECONDS`].
pub fn check_time(now: i64, nbf: i64, exp: i64) -> Result<(), TokenError> {
    if now >= exp + LEEWAY_SECONDS {
        return Err(TokenError::Expired);
    }
    if now + LEEWAY_SECONDS < nbf {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// A JSON Web Key Set of Ed25519 public keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub alg: String,
    pub r#use: String,
    pub kid: String,
    pub x: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::generate_ed25519;

    fn hmac_set(kid: &str, secret: &[u8], created_at: i64) -> KeyMaterial {
        KeyMaterial { kid: kid.into(), kind: KeyKind::SsoHmac, secret: secret.to_vec(), public: vec![], created_at }
    }

    fn claims(exp: i64) -> SsoClaims {
        SsoClaims {
            iss: "http://p".into(),
            aud: "http://p/auth/sso".into(),
            sub: UserId::new(),
            org: OrganizationId::new(),
            ptn: Some(PartnerId::new()),
            rp: "/dashboard".into(),
            jti: "j1".into(),
            iat: 0,
            nbf: 0,
            exp,
        }
    }

    #[test]
    fn round_trip_and_rotation_overlap() {
        let old = KeySet::new(KeyKind::SsoHmac, &[hmac_set("k1", b"one", 1)]);
        let both = KeySet::new(KeyKind::SsoHmac, &[hmac_set("k1", b"one", 1), hmac_set("k2", b"two", 2)]);
        let original = claims(10);
        let token = old.sign(&original).unwrap();
        let back: SsoClaims = both.verify(&token, "http://p", "http://p/auth/sso").unwrap();
        assert_eq!(back, original);
        let newer = both.sign(&claims(10)).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&newer).unwrap().kid.as_deref(), Some("k2"));
        assert_eq!(old.verify::<SsoClaims>(&newer, "http://p", "http://p/auth/sso"), Err(TokenError::UnknownKey));
        assert_eq!(both.verify::<SsoClaims>(&token, "http://q", "http://p/auth/sso"), Err(TokenError::Invalid));
    }

    #[test]
    fn ed25519_tokens_are_not_accepted_as_sso_tokens() {
        let (der, public) = generate_ed25519().unwrap();
        let ed = KeySet::new(
            KeyKind::Ed25519,
            &[KeyMaterial { kid: "k1".into(), kind: KeyKind::Ed25519, secret: der, public, created_at: 1 }],
        );
        let hs = KeySet::new(KeyKind::SsoHmac, &[hmac_set("k1", b"one", 1)]);
        let token = ed.sign(&claims(10)).unwrap();
        assert!(ed.verify::<SsoClaims>(&token, "http://p", "http://p/auth/sso").is_ok());
        assert_eq!(hs.verify::<SsoClaims>(&token, "http://p", "http://p/auth/sso"), Err(TokenError::Invalid));
        assert_eq!(ed.jwks().keys.len(), 1);
    }

    #[test]
    fn time_window_has_leeway() {
        assert_eq!(check_time(104, 0, 100), Ok(()));
        assert_eq!(check_time(105, 0, 100), Err(TokenError::Expired));
        assert_eq!(check_time(0, 6, 100), Err(TokenError::NotYetValid));
    }
}
