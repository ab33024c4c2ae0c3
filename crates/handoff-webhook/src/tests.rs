use super::*;

const SECRET: &str = "whsec_test_secret";
const BODY: &str = r#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"turid@jensen.com","firstName":"Turid","lastName":"Jensen","orgNo":"123456789"}}"#;

/// The Standard Webhooks specification's published vector (also svix's), checked against the
/// PyPI `standardwebhooks` 1.1.0 reference library.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: &str = "1614265330";
const SW_BODY: &str = r#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const SW_NOW: i64 = 1_614_265_330;

fn vinst(timestamp: &str, signature: &str) -> Request<'static> {
    Request { id: None, timestamp: Some(leak(timestamp)), signature: Some(leak(signature)), body: BODY.as_bytes() }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn sw(signature: &str) -> Request<'static> {
    Request {
        id: Some(SW_ID),
        timestamp: Some(SW_TIMESTAMP),
        signature: Some(leak(signature)),
        body: SW_BODY.as_bytes(),
    }
}

fn sw_verify(request: &Request<'_>) -> Result<Verified, VerifyError> {
    SignatureProfile::StandardWebhooks.verify(&[SW_SECRET], request, SW_NOW, 15)
}

/// One vector per Vinst profile, computed independently (Python's `hmac` module; the
/// timestamp-body-hex one is the integrator guide's openssl example).
#[test]
fn vinst_known_answers() {
    let body = BODY.as_bytes();
    let cases = [
        (
            SignatureProfile::TimestampBodyHex,
            "1747144200",
            "0a24a7963047508d0dab94e6ca885871a16ecc4e7e49e4b9cefb8da5dd0a698f",
        ),
        (SignatureProfile::TimestampBodyBase64, "1747144200", "CiSnljBHUI0Nq5TmyohYcaFuzE5+SeS5zvuNpd0KaY8="),
        (SignatureProfile::BodyHex, "1747144200", "0e550248693fce953d539d27f878e04521b77fd74e3307bb33a7c988b4d17319"),
        (SignatureProfile::BodyBase64, "1747144200", "DlUCSGk/zpU9U50n+HjgRSG3f9dOMwe7M6fJiLTRcxk="),
        (
            SignatureProfile::TimestampBodyHex,
            "2025-05-12T10:00:00Z",
            "ee1964aa25699d2760e490bd71e962c2114cbced16bee184a37a0c47274c7605",
        ),
        (
            SignatureProfile::TimestampBodyHex,
            "2025-05-13T14:30:00Z",
            "1e002399f08f1d52ba3629da5d434602b886ea575bbecb04136d1e54b1f590d4",
        ),
    ];
    for (profile, timestamp, expected) in cases {
        assert_eq!(profile.sign(&[SECRET], "", timestamp, body).unwrap(), expected, "{profile}");
        let now = parse_timestamp(timestamp).unwrap();
        assert_eq!(profile.verify(&[SECRET], &vinst(timestamp, expected), now, 15).unwrap().timestamp, now);
    }
}

#[test]
fn vinst_accepts_prefix_case_and_any_secret_and_refuses_the_rest() {
    let p = SignatureProfile::TimestampBodyHex;
    let sig = p.sign(&[SECRET], "", "1747144200", BODY.as_bytes()).unwrap();
    let check = |secrets: &[&str], ts: &str, sig: &str| p.verify(secrets, &vinst(ts, sig), 1_747_144_200, 15);
    assert!(check(&[SECRET], "1747144200", &format!("sha256={sig}")).is_ok());
    assert!(check(&[SECRET], "1747144200", &sig.to_uppercase()).is_ok());
    assert!(check(&["whsec_other", SECRET], "1747144200", &sig).is_ok());
    assert_eq!(check(&["whsec_other"], "1747144200", &sig), Err(VerifyError::Mismatch));
    assert_eq!(check(&[SECRET], "1747144201", &sig), Err(VerifyError::Mismatch));
    for junk in ["", "sha256=", "zz", &sig[..62], "sha256=sha256=00"] {
        assert_eq!(check(&[SECRET], "1747144200", junk), Err(VerifyError::Mismatch), "{junk:?}");
    }
    let mut tampered = BODY.as_bytes().to_vec();
    tampered[10] ^= 1;
    let request = Request { body: &tampered, ..vinst("1747144200", &sig) };
    assert_eq!(p.verify(&[SECRET], &request, 1_747_144_200, 15), Err(VerifyError::Mismatch));
    let missing = Request { signature: None, ..vinst("1747144200", &sig) };
    assert_eq!(p.verify(&[SECRET], &missing, 1_747_144_200, 15), Err(VerifyError::SignatureMissing));
    let no_time = Request { timestamp: None, ..vinst("1747144200", &sig) };
    assert_eq!(p.verify(&[SECRET], &no_time, 1_747_144_200, 15), Err(VerifyError::TimestampMissing));
    assert_eq!(check(&[SECRET], "yesterday", &sig), Err(VerifyError::TimestampInvalid));
    assert_eq!(check(&[SECRET], "1747144184", &sig), Err(VerifyError::TimestampTooOld));
    assert_eq!(check(&[SECRET], "1747144216", &sig), Err(VerifyError::TimestampTooNew));
}

#[test]
fn standard_webhooks_published_vector() {
    let p = SignatureProfile::StandardWebhooks;
    assert_eq!(p.sign(&[SW_SECRET], SW_ID, SW_TIMESTAMP, SW_BODY.as_bytes()).unwrap(), SW_SIGNATURE);
    assert_eq!(sw_verify(&sw(SW_SIGNATURE)), Ok(Verified { timestamp: SW_NOW }));
    // Several entries, unknown versions among them: the valid one wins wherever it stands.
    assert!(sw_verify(&sw(&format!("v2,abc v1,AAAA {SW_SIGNATURE} v1a,xyz"))).is_ok());
}

#[test]
fn standard_webhooks_refusals_name_the_failed_check() {
    let tag = SW_SIGNATURE.strip_prefix("v1,").unwrap();
    let refused = [
        ("v1,", VerifyError::Mismatch),
        ("v1,  ", VerifyError::Mismatch),
        (&format!("v1,{}", &tag[..20]), VerifyError::Mismatch),
        (&format!("v1,{}", &tag[..43]), VerifyError::Mismatch),
        (&format!("v1,{tag}AAAA"), VerifyError::Mismatch),
        ("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", VerifyError::Mismatch),
        (&format!("v2,{tag}"), VerifyError::VersionUnsupported),
        (&format!("v1a,{tag} v0,{tag}"), VerifyError::VersionUnsupported),
        (tag, VerifyError::VersionUnsupported),
        ("", VerifyError::VersionUnsupported),
    ];
    for (signature, expected) in refused {
        assert_eq!(sw_verify(&sw(signature)), Err(expected), "{signature:?}");
    }
    let tampered = Request { body: br#"{"test": 2432232315}"#, ..sw(SW_SIGNATURE) };
    assert_eq!(sw_verify(&tampered), Err(VerifyError::Mismatch));
    let other_id = Request { id: Some("msg_other"), ..sw(SW_SIGNATURE) };
    assert_eq!(sw_verify(&other_id), Err(VerifyError::Mismatch));
    for (id, expected) in
        [(None, VerifyError::IdMissing), (Some(""), VerifyError::IdInvalid), (Some("a b"), VerifyError::IdInvalid)]
    {
        assert_eq!(sw_verify(&Request { id, ..sw(SW_SIGNATURE) }), Err(expected));
    }
    assert_eq!(
        sw_verify(&Request { id: Some(leak(&"m".repeat(201))), ..sw(SW_SIGNATURE) }),
        Err(VerifyError::IdInvalid)
    );
    let p = SignatureProfile::StandardWebhooks;
    let at = |now: i64| p.verify(&[SW_SECRET], &sw(SW_SIGNATURE), now, 15);
    assert!(at(SW_NOW + 15).is_ok() && at(SW_NOW - 15).is_ok());
    assert_eq!(at(SW_NOW + 16), Err(VerifyError::TimestampTooOld));
    assert_eq!(at(SW_NOW - 16), Err(VerifyError::TimestampTooNew));
    // Standard Webhooks timestamps are Unix seconds only.
    let rfc = Request { timestamp: Some("2021-02-21T03:02:10Z"), ..sw(SW_SIGNATURE) };
    assert_eq!(sw_verify(&rfc), Err(VerifyError::TimestampInvalid));
    assert_eq!(sw_verify(&Request { timestamp: None, ..sw(SW_SIGNATURE) }), Err(VerifyError::TimestampMissing));
    assert_eq!(sw_verify(&Request { signature: None, ..sw(SW_SIGNATURE) }), Err(VerifyError::SignatureMissing));
    assert_eq!(VerifyError::Mismatch.reason(), "signature-mismatch");
    assert_eq!(VerifyError::TimestampTooNew.reason(), "timestamp-outside-tolerance");
}

#[test]
fn standard_webhooks_secrets() {
    let p = SignatureProfile::StandardWebhooks;
    assert_eq!(p.key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::MissingPrefix));
    assert_eq!(p.key("whsec_not*base64"), Err(SecretError::NotBase64));
    assert_eq!(p.key("whsec_AAAA"), Err(SecretError::Length(3)));
    assert_eq!(p.key(&format!("whsec_{}", STANDARD.encode([7u8; 65]))), Err(SecretError::Length(65)));
    assert!(p.key(&format!("whsec_{}", STANDARD.encode([7u8; 64]))).is_ok());
    // Generated secrets are standard base64 of the random bytes, and verify as keys.
    let generated = p.new_secret(&[0xfb; 32]);
    assert_eq!(generated, format!("whsec_{}", STANDARD.encode([0xfb; 32])));
    assert!(generated.contains('+') || generated.contains('/'));
    assert!(p.key(&generated).is_ok());
    let unprefixed = Request { id: Some(SW_ID), ..sw(SW_SIGNATURE) };
    assert_eq!(
        p.verify(&["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], &unprefixed, SW_NOW, 15),
        Err(VerifyError::Secret(SecretError::MissingPrefix))
    );
    assert_eq!(p.sign(&[], SW_ID, SW_TIMESTAMP, b""), Err(SecretError::None));
    // Vinst secrets are any string.
    assert!(SignatureProfile::TimestampBodyHex.key("anything").is_ok());
}

/// A rotation's overlap: one header, one `v1` per secret; each secret alone verifies it.
#[test]
fn standard_webhooks_signs_with_every_secret() {
    let p = SignatureProfile::StandardWebhooks;
    let other = p.new_secret(&[1; 32]);
    let header = p.sign(&[SW_SECRET, &other], SW_ID, SW_TIMESTAMP, SW_BODY.as_bytes()).unwrap();
    let entries: Vec<&str> = header.split(' ').collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0], SW_SIGNATURE);
    for secret in [SW_SECRET, other.as_str()] {
        assert!(p.verify(&[secret], &sw(&header), SW_NOW, 15).is_ok());
    }
    let third = p.new_secret(&[2; 32]);
    assert_eq!(p.verify(&[&third], &sw(&header), SW_NOW, 15), Err(VerifyError::Mismatch));
}

#[test]
fn headers_by_profile() {
    let headers = |name: &str| match name {
        "x-vinst-timestamp" => Some("1"),
        "vinst-signature" => Some("s"),
        "webhook-id" => Some("i"),
        "webhook-timestamp" => Some("2"),
        "webhook-signature" => Some("v1,x"),
        _ => None,
    };
    let vinst = Request::from_headers(SignatureProfile::BodyHex, headers, b"");
    assert_eq!((vinst.id, vinst.timestamp, vinst.signature), (None, Some("1"), Some("s")));
    let standard = Request::from_headers(SignatureProfile::StandardWebhooks, headers, b"");
    assert_eq!((standard.id, standard.timestamp, standard.signature), (Some("i"), Some("2"), Some("v1,x")));
    for profile in SignatureProfile::ALL {
        assert_eq!(profile.as_str().parse::<SignatureProfile>(), Ok(profile));
        let names = profile.headers();
        assert!(names
            .timestamp
            .iter()
            .chain(names.signature)
            .chain(names.id.iter())
            .all(|n| ALL_HEADER_NAMES.contains(n)));
    }
    assert!("v1".parse::<SignatureProfile>().unwrap_err().to_string().contains("standard-webhooks"));
}

#[test]
fn timestamps() {
    assert_eq!(parse_timestamp("1747144200"), Some(1_747_144_200));
    assert_eq!(parse_timestamp("2025-05-12T10:00:00Z"), Some(1_747_044_000));
    assert_eq!(parse_timestamp("2025-05-12T12:00:00+02:00"), Some(1_747_044_000));
    assert_eq!(parse_timestamp("2025-05-12T09:30:00.123456-00:30"), Some(1_747_044_000));
    assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Some(951_782_400));
    assert_eq!(parse_timestamp("2024-12-31T23:59:59z"), Some(1_735_689_599));
    for bad in [
        "",
        "-1",
        "1e9",
        "yesterday",
        "2025-05-12",
        "99999999999999999999",
        "2025-02-29T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-05-12T24:00:00Z",
        "2025-05-12T10:00:00",
        "2025-05-12T10:00:00.Z",
        "2025-05-12T10:00:00+0200",
        "2025-05-12T10:00:00+02:00x",
        "2025-05-12 10:00:00Z",
        "२०२५-05-12T10:00:00Z",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
    assert_eq!(check_timestamp("1000", 1015, 15), Ok(1000));
    assert_eq!(check_timestamp("1000", 1016, 15), Err(VerifyError::TimestampTooOld));
    assert_eq!(check_timestamp("1016", 1000, 15), Err(VerifyError::TimestampTooNew));
}
