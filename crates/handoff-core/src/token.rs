//! SSO tokens, identity tokens and registration prefills: claims, key sets, minting and
//! verification, as compact JWS (RFC 7515) written here on the RustCrypto primitives.
//!
//! SSO tokens are minted and verified only by handoff, so they are HS256 JWTs keyed with a server
//! key; identity tokens (`X-Handoff-Token`) and registration prefills are verified by others and
//! are Ed25519 (EdDSA) JWTs whose public keys are served as a JWKS. Each kind has its own keys and
//! its own `typ` (RFC 8725 §3.11–3.12), so a token of one kind never passes for another.
//! Verification is strict: exactly three segments; a header of exactly `alg`, `typ` and `kid`
//! (anything else, `crit` included, is refused); `alg` and `typ` pinned by the key set; a known
//! `kid`; the signature checked before the claims are parsed; then `iss` and `aud`. The caller
//! checks `exp`/`nbf` against its clock with [`check_time`].
//! Must not: accept a token whose header it does not fully understand.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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
/// page to pre-fill. Signed with a prefill key (Ed25519, not the identity key), verifiable with the
/// JWKS; short-lived.
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

/// What kind of key a stored key is; each signs exactly one kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// HS256 key for SSO tokens.
    SsoHmac,
    /// Ed25519 key pair for identity tokens (`X-Handoff-Token`).
    Identity,
    /// Ed25519 key pair for registration prefill tokens.
    Prefill,
}

/// The JWS algorithms handoff signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Hs256,
    EdDsa,
}

impl Algorithm {
    fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }
}

impl KeyKind {
    /// The stored name (also bound into the key's seal, so it never changes).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::SsoHmac => "sso-hs256",
            KeyKind::Identity => "ed25519",
            KeyKind::Prefill => "prefill-ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sso-hs256" => Some(KeyKind::SsoHmac),
            "ed25519" => Some(KeyKind::Identity),
            "prefill-ed25519" => Some(KeyKind::Prefill),
            _ => None,
        }
    }

    /// The `typ` header of the tokens this kind signs, required on verify.
    pub fn typ(self) -> &'static str {
        match self {
            KeyKind::SsoHmac => "handoff-sso+jwt",
            KeyKind::Identity => "handoff-id+jwt",
            KeyKind::Prefill => "handoff-prefill+jwt",
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            KeyKind::SsoHmac => Algorithm::Hs256,
            KeyKind::Identity | KeyKind::Prefill => Algorithm::EdDsa,
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

enum Key {
    Hmac(Vec<u8>),
    Ed25519(Box<SigningKey>),
}

impl Key {
    fn new(material: &KeyMaterial) -> Result<Self, TokenError> {
        match material.kind.algorithm() {
            Algorithm::Hs256 if !material.secret.is_empty() => Ok(Key::Hmac(material.secret.clone())),
            Algorithm::Hs256 => Err(TokenError::Key),
            Algorithm::EdDsa => {
                let signing = SigningKey::from_pkcs8_der(&material.secret).map_err(|_| TokenError::Key)?;
                // The stored public half is what the JWKS publishes: it must be this key's.
                if signing.verifying_key().as_bytes().as_slice() != material.public.as_slice() {
                    return Err(TokenError::Key);
                }
                Ok(Key::Ed25519(Box::new(signing)))
            }
        }
    }

    fn hmac(secret: &[u8]) -> Result<Hmac<Sha256>, TokenError> {
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| TokenError::Key)
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, TokenError> {
        match self {
            Key::Hmac(secret) => {
                let mut mac = Self::hmac(secret)?;
                mac.update(input);
                Ok(mac.finalize().into_bytes().to_vec())
            }
            Key::Ed25519(signing) => Ok(signing.sign(input).to_bytes().to_vec()),
        }
    }

    /// Constant-time for HMAC (`verify_slice`); strict Ed25519 verification (no malleable or
    /// small-order forms).
    fn verify(&self, input: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        match self {
            Key::Hmac(secret) => {
                let mut mac = Self::hmac(secret)?;
                mac.update(input);
                mac.verify_slice(signature).map_err(|_| TokenError::Invalid)
            }
            Key::Ed25519(signing) => {
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| TokenError::Invalid)?;
                signing.verifying_key().verify_strict(input, &signature).map_err(|_| TokenError::Invalid)
            }
        }
    }

    fn public(&self) -> Option<VerifyingKey> {
        match self {
            Key::Hmac(_) => None,
            Key::Ed25519(signing) => Some(signing.verifying_key()),
        }
    }
}

/// Room for the JSON of a token's claims (an SSO token's take about 330 bytes): serializing
/// them does not reallocate.
const CLAIMS_CAPACITY: usize = 512;

/// A dot and an Ed25519 signature in base64url (86 characters).
const SIGNATURE_ROOM: usize = 87;

/// The JOSE header handoff writes, in this order.
#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The only JOSE header handoff reads: every member required, none other allowed (so `crit`,
/// `jku`, `jwk`, `x5u`, `b64`, … are refused), no member twice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    alg: String,
    typ: String,
    kid: String,
}

/// The registered claims every handoff token carries, checked after the signature.
#[derive(Deserialize)]
struct Registered {
    iss: String,
    aud: String,
}

/// A set of keys of one kind: the newest signs, all verify (rotation overlap).
pub struct KeySet {
    kind: KeyKind,
    current: Option<String>,
    /// The current key's JOSE header, base64url-encoded: the same in every token it signs.
    header: String,
    keys: HashMap<String, Key>,
}

impl KeySet {
    /// Builds the set for `kind` from `material` (keys of other kinds are ignored). A key that
    /// cannot be used (a private key that does not parse, or whose public half is not the stored
    /// one) is an error, not a silent gap.
    pub fn new(kind: KeyKind, material: &[KeyMaterial]) -> Result<Self, TokenError> {
        let mut keys = HashMap::new();
        let mut current: Option<(&str, i64)> = None;
        for key in material.iter().filter(|k| k.kind == kind) {
            keys.insert(key.kid.clone(), Key::new(key)?);
            if current.is_none_or(|(_, at)| key.created_at >= at) {
                current = Some((&key.kid, key.created_at));
            }
        }
        let current = current.map(|(kid, _)| kid.to_owned());
        let header = match &current {
            Some(kid) => {
                let header = HeaderOut { alg: kind.algorithm().as_str(), typ: kind.typ(), kid };
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| TokenError::Key)?)
            }
            None => String::new(),
        };
        Ok(Self { kind, current, header, keys })
    }

    /// A set without keys (before the first load).
    pub fn empty(kind: KeyKind) -> Self {
        Self { kind, current: None, header: String::new(), keys: HashMap::new() }
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

    /// Signs `claims` with the newest key, naming it in the `kid` header and the set's kind in
    /// `typ`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let kid = self.current.as_deref().ok_or(TokenError::Key)?;
        let key = self.keys.get(kid).ok_or(TokenError::Key)?;
        let mut payload = Vec::with_capacity(CLAIMS_CAPACITY);
        serde_json::to_writer(&mut payload, claims).map_err(|_| TokenError::Key)?;
        // One allocation for the whole token: header, payload and signature appended in place.
        let mut token = String::with_capacity(self.header.len() + payload.len().div_ceil(3) * 4 + SIGNATURE_ROOM);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Verifies the header (`alg` and `typ` of this set, a known `kid`, nothing else), the
    /// signature, then `iss` and `aud`; the caller checks time with [`check_time`] against its
    /// clock.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<T, TokenError> {
        let (signed, signature_b64) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (header_b64, payload_b64) = signed.split_once('.').ok_or(TokenError::Invalid)?;
        if payload_b64.contains('.') {
            return Err(TokenError::Invalid);
        }
        let header = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| TokenError::Invalid)?;
        let header: HeaderIn = serde_json::from_slice(&header).map_err(|_| TokenError::Invalid)?;
        if header.alg != self.kind.algorithm().as_str() || header.typ != self.kind.typ() {
            return Err(TokenError::Invalid);
        }
        let key = self.keys.get(&header.kid).ok_or(TokenError::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| TokenError::Invalid)?;
        key.verify(signed.as_bytes(), &signature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| TokenError::Invalid)?;
        let registered: Registered = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if registered.iss != issuer || registered.aud != audience {
            return Err(TokenError::Invalid);
        }
        serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)
    }

    /// The public half of every key, as JWKs (Ed25519 sets only; none for HMAC sets).
    fn jwks(&self) -> Vec<Jwk> {
        self.keys
            .iter()
            .filter_map(|(kid, key)| key.public().map(|public| (kid, public)))
            .map(|(kid, public)| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                alg: "EdDSA".into(),
                r#use: "sig".into(),
                kid: kid.clone(),
                x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            })
            .collect()
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

impl Jwks {
    /// The public keys of `sets`, sorted by `kid`.
    pub fn of(sets: &[&KeySet]) -> Self {
        let mut keys: Vec<Jwk> = sets.iter().flat_map(|set| set.jwks()).collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Self { keys }
    }
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
    use serde_json::{json, Value};

    use super::*;
    use crate::crypto::generate_ed25519;

    const ISS: &str = "http://p";
    const AUD: &str = "http://p/auth/sso";

    fn hmac_key(kid: &str, secret: &[u8], created_at: i64) -> KeyMaterial {
        KeyMaterial { kid: kid.into(), kind: KeyKind::SsoHmac, secret: secret.to_vec(), public: vec![], created_at }
    }

    fn ed_key(kid: &str, kind: KeyKind) -> KeyMaterial {
        let (secret, public) = generate_ed25519().unwrap();
        KeyMaterial { kid: kid.into(), kind, secret, public, created_at: 1 }
    }

    fn set(material: &KeyMaterial) -> KeySet {
        KeySet::new(material.kind, std::slice::from_ref(material)).unwrap()
    }

    fn claims(exp: i64) -> SsoClaims {
        SsoClaims {
            iss: ISS.into(),
            aud: AUD.into(),
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

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn header_of(token: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
    }

    /// A token with this exact header text, signed by `material`'s key: what an attacker who
    /// holds (or tricks handoff into using) a key could present.
    fn forge(material: &KeyMaterial, header: &str, claims: &impl Serialize) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(&serde_json::to_vec(claims).unwrap()));
        let signature = Key::new(material).unwrap().sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&signature))
    }

    #[test]
    fn round_trip_and_rotation_overlap() {
        let old = KeySet::new(KeyKind::SsoHmac, &[hmac_key("k1", b"one", 1)]).unwrap();
        let both = KeySet::new(KeyKind::SsoHmac, &[hmac_key("k1", b"one", 1), hmac_key("k2", b"two", 2)]).unwrap();
        let original = claims(10);
        let token = old.sign(&original).unwrap();
        assert_eq!(header_of(&token), json!({"alg": "HS256", "typ": "handoff-sso+jwt", "kid": "k1"}));
        let back: SsoClaims = both.verify(&token, ISS, AUD).unwrap();
        assert_eq!(back, original);
        let newer = both.sign(&claims(10)).unwrap();
        assert_eq!(header_of(&newer)["kid"], "k2");
        assert_eq!(old.verify::<SsoClaims>(&newer, ISS, AUD), Err(TokenError::UnknownKey));
        assert_eq!(both.verify::<SsoClaims>(&token, "http://q", AUD), Err(TokenError::Invalid));
        assert_eq!(both.verify::<SsoClaims>(&token, ISS, "http://p/elsewhere"), Err(TokenError::Invalid));
    }

    #[test]
    fn each_kind_refuses_the_others_tokens() {
        let sso = hmac_key("s1", b"one", 1);
        let identity = ed_key("i1", KeyKind::Identity);
        let prefill = ed_key("p1", KeyKind::Prefill);
        let sets = [set(&sso), set(&identity), set(&prefill)];
        for (i, signer) in sets.iter().enumerate() {
            let token = signer.sign(&claims(10)).unwrap();
            assert_eq!(header_of(&token)["typ"], signer.kind.typ());
            for (j, verifier) in sets.iter().enumerate() {
                let verified = verifier.verify::<SsoClaims>(&token, ISS, AUD);
                assert_eq!(verified.is_ok(), i == j, "{:?} token at {:?} set", signer.kind, verifier.kind);
                if i != j {
                    assert_eq!(verified, Err(TokenError::Invalid));
                }
            }
        }
        // Even signed by the very key a prefill set holds, an identity token is refused there
        // (its `typ` differs), and the other way round.
        let same_key_as_prefill = KeyMaterial { kind: KeyKind::Identity, ..prefill.clone() };
        let identity_token = set(&same_key_as_prefill).sign(&claims(10)).unwrap();
        assert_eq!(sets[2].verify::<SsoClaims>(&identity_token, ISS, AUD), Err(TokenError::Invalid));
        let prefill_token = sets[2].sign(&claims(10)).unwrap();
        assert_eq!(set(&same_key_as_prefill).verify::<SsoClaims>(&prefill_token, ISS, AUD), Err(TokenError::Invalid));
        // Distinct kids in one JWKS.
        let jwks = Jwks::of(&[&sets[0], &sets[1], &sets[2]]);
        let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["i1", "p1"]);
    }

    #[test]
    fn the_header_is_exactly_alg_typ_and_kid() {
        let identity = ed_key("i1", KeyKind::Identity);
        let verifier = set(&identity);
        let good = forge(&identity, r#"{"alg":"EdDSA","typ":"handoff-id+jwt","kid":"i1"}"#, &claims(10));
        assert!(verifier.verify::<SsoClaims>(&good, ISS, AUD).is_ok());
        for header in [
            r#"{"alg":"EdDSA","typ":"JWT","kid":"i1"}"#,
            r#"{"alg":"EdDSA","typ":"handoff-prefill+jwt","kid":"i1"}"#,
            r#"{"alg":"EdDSA","typ":"HANDOFF-ID+JWT","kid":"i1"}"#,
            r#"{"alg":"EdDSA","kid":"i1"}"#,
            r#"{"alg":"EdDSA","typ":"handoff-id+jwt"}"#,
            r#"{"alg":"EdDSA","typ":"handoff-id+jwt","kid":"i1","crit":["exp"],"exp":1}"#,
            r#"{"alg":"EdDSA","typ":"handoff-id+jwt","kid":"i1","crit":[]}"#,
            r#"{"alg":"EdDSA","typ":"handoff-id+jwt","kid":"i1","jku":"https://evil.example/jwks"}"#,
            r#"{"alg":"EdDSA","typ":"handoff-id+jwt","kid":"i1","b64":false}"#,
            r#"{"alg":"none","typ":"handoff-id+jwt","kid":"i1"}"#,
            r#"{"alg":"EdDSA","alg":"none","typ":"handoff-id+jwt","kid":"i1"}"#,
            r#"{"alg":"EdDSA","typ":"handoff-id+jwt","kid":1}"#,
            r#"["EdDSA"]"#,
        ] {
            let token = forge(&identity, header, &claims(10));
            assert_eq!(verifier.verify::<SsoClaims>(&token, ISS, AUD), Err(TokenError::Invalid), "{header}");
        }
    }

    #[test]
    fn algorithm_confusion_is_refused() {
        // The classic: HS256 keyed with the published Ed25519 public key.
        let identity = ed_key("i1", KeyKind::Identity);
        let attacker = hmac_key("i1", &identity.public, 1);
        let token = forge(&attacker, r#"{"alg":"HS256","typ":"handoff-id+jwt","kid":"i1"}"#, &claims(10));
        assert_eq!(set(&identity).verify::<SsoClaims>(&token, ISS, AUD), Err(TokenError::Invalid));
        // And an EdDSA token naming an SSO kid.
        let sso = hmac_key("i1", b"one", 1);
        let token = forge(&identity, r#"{"alg":"EdDSA","typ":"handoff-sso+jwt","kid":"i1"}"#, &claims(10));
        assert_eq!(set(&sso).verify::<SsoClaims>(&token, ISS, AUD), Err(TokenError::Invalid));
    }

    #[test]
    fn only_three_canonical_segments_with_a_valid_signature_verify() {
        let sso = hmac_key("s1", b"one", 1);
        let verifier = set(&sso);
        let token = verifier.sign(&claims(10)).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut flipped = URL_SAFE_NO_PAD.decode(signature).unwrap();
        flipped[0] ^= 1;
        for candidate in [
            signed.to_owned(),
            format!("{token}."),
            format!("{token}.{signature}"),
            format!("{signed}."),
            format!("{signed}.{}", b64(&flipped)),
            format!("{signed}.{signature}="),
            format!("{signed}.{}", &signature[..signature.len() - 1]),
            format!(".{token}"),
            token.replace('.', ".."),
            String::new(),
        ] {
            assert_eq!(verifier.verify::<SsoClaims>(&candidate, ISS, AUD), Err(TokenError::Invalid), "{candidate}");
        }
        // Correctly signed claims that are not the expected ones are refused, not half-read.
        let odd = forge(&sso, r#"{"alg":"HS256","typ":"handoff-sso+jwt","kid":"s1"}"#, &json!({"iss": ISS}));
        assert_eq!(verifier.verify::<SsoClaims>(&odd, ISS, AUD), Err(TokenError::Invalid));
    }

    #[test]
    fn unusable_keys_are_an_error() {
        let mut identity = ed_key("i1", KeyKind::Identity);
        identity.public = ed_key("other", KeyKind::Identity).public;
        assert!(matches!(KeySet::new(KeyKind::Identity, &[identity]), Err(TokenError::Key)));
        let garbage = KeyMaterial { secret: b"not der".to_vec(), ..ed_key("i2", KeyKind::Prefill) };
        assert!(matches!(KeySet::new(KeyKind::Prefill, &[garbage]), Err(TokenError::Key)));
        assert!(matches!(KeySet::new(KeyKind::SsoHmac, &[hmac_key("s", b"", 1)]), Err(TokenError::Key)));
    }

    #[test]
    fn time_window_has_leeway() {
        assert_eq!(check_time(104, 0, 100), Ok(()));
        assert_eq!(check_time(105, 0, 100), Err(TokenError::Expired));
        assert_eq!(check_time(0, 6, 100), Err(TokenError::NotYetValid));
    }
}
