//! SSO token parsing: an arbitrary string never verifies (nor panics), and claims made from
//! arbitrary data survive a sign-and-verify round trip exactly.
#![no_main]

use handoff_core::ids::{OrganizationId, PartnerId, UserId};
use handoff_core::token::{KeyKind, KeyMaterial, KeySet, SsoClaims};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

const ISS: &str = "https://portal.example";
const AUD: &str = "https://portal.example/auth/sso";

fuzz_target!(|input: (&str, &str, &str, [u8; 16], i64)| {
    let (token, rp, jti, id, at) = input;
    let keys = KeySet::new(
        KeyKind::SsoHmac,
        &[KeyMaterial {
            kid: "k1".into(),
            kind: KeyKind::SsoHmac,
            secret: b"fuzz-key-0123456789abcdef0123456789abcdef".to_vec(),
            public: Vec::new(),
            created_at: 0,
        }],
    )
    .unwrap();
    assert!(keys.verify::<SsoClaims>(token, ISS, AUD).is_err(), "an arbitrary string verified: {token:?}");

    let uuid = Uuid::from_bytes(id);
    let claims = SsoClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: UserId::from(uuid),
        org: OrganizationId::from(uuid),
        ptn: (id[0] % 2 == 0).then(|| PartnerId::from(uuid)),
        rp: rp.into(),
        jti: jti.into(),
        iat: at,
        nbf: at,
        exp: at.saturating_add(300),
    };
    let signed = keys.sign(&claims).unwrap();
    assert_eq!(keys.verify::<SsoClaims>(&signed, ISS, AUD), Ok(claims));
    assert!(keys.verify::<SsoClaims>(&signed, ISS, "https://elsewhere.example/auth/sso").is_err());
    // One changed character anywhere in the token breaks it.
    let mut bytes = signed.into_bytes();
    let i = usize::from(id[1]) * bytes.len() / 256;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    if let Ok(tampered) = String::from_utf8(bytes) {
        assert!(keys.verify::<SsoClaims>(&tampered, ISS, AUD).is_err(), "a tampered token verified");
    }
});
