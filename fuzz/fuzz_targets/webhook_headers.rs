//! Webhook signature and timestamp headers: arbitrary header values never panic; an accepted
//! timestamp lies within the tolerance; a signature verifies only for the body (and id) it was
//! made for, under every profile.
#![no_main]

use handoff_webhook::{check_timestamp, parse_timestamp, Request, SignatureProfile, VerifyError};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_767_225_600;
const TOLERANCE: i64 = 15;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER: &str = "whsec_ZnV6ei1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";

fuzz_target!(|input: (&str, &str, &str, &[u8])| {
    let (id, timestamp, signature, body) = input;
    let parsed = parse_timestamp(timestamp);
    match check_timestamp(timestamp, NOW, TOLERANCE) {
        Ok(at) => {
            assert_eq!(Some(at), parsed);
            assert!((at - NOW).abs() <= TOLERANCE, "{timestamp:?} accepted at {at}");
        }
        Err(_) => assert!(parsed.is_none_or(|at| (at - NOW).abs() > TOLERANCE), "{timestamp:?} refused"),
    }
    for profile in SignatureProfile::ALL {
        let request =
            |signature| Request { id: Some(id), timestamp: Some(timestamp), signature: Some(signature), body };
        let Ok(good) = profile.sign(&[SECRET], id, timestamp, body) else {
            panic!("{profile}: the secret keys every profile");
        };
        let checked = profile.verify_signature(&[SECRET], &request(&good));
        let id_refused = matches!(checked, Err(VerifyError::IdMissing | VerifyError::IdInvalid));
        assert!(checked.is_ok() || id_refused, "{profile}: its own signature refused: {checked:?}");
        if id_refused {
            continue;
        }
        assert!(profile.verify_signature(&[OTHER, SECRET], &request(&good)).is_ok());
        assert!(profile.verify_signature(&[OTHER], &request(&good)).is_err(), "{profile}: another secret verifies");
        if signature.trim().trim_start_matches("sha256=") != good {
            // Any other header value fails, unless it carries the same MAC.
            let accepted = profile.verify_signature(&[SECRET], &request(signature)).is_ok();
            assert!(!accepted || carries(profile, signature, &good), "{profile}: {signature:?} accepted");
        }
        let mut other = body.to_vec();
        other.push(b' ');
        let changed = Request { body: &other, ..request(&good) };
        assert!(profile.verify_signature(&[SECRET], &changed).is_err(), "{profile}: a changed body verifies");
    }
});

/// Whether `signature` carries `good`: hex in another case or with `sha256=` (Vinst), or a
/// list with `good` among its entries (Standard Webhooks).
fn carries(profile: SignatureProfile, signature: &str, good: &str) -> bool {
    if profile == SignatureProfile::StandardWebhooks {
        return signature.split(' ').any(|entry| entry == good);
    }
    let value = signature.trim();
    let value = value.strip_prefix("sha256=").unwrap_or(value);
    value.eq_ignore_ascii_case(good)
}
