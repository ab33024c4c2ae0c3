//! Webhook signature and timestamp headers: arbitrary header values never panic; an accepted
//! timestamp lies within the tolerance; a signature verifies only for the body it was made for.
#![no_main]

use handoff_core::webhook::{check_timestamp, parse_timestamp, SignatureProfile};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_767_225_600;
const TOLERANCE: i64 = 15;
const SECRET: &str = "whsec_fuzz-secret-0123456789abcdef";

fuzz_target!(|input: (&str, &str, &[u8])| {
    let (timestamp, signature, body) = input;
    let parsed = parse_timestamp(timestamp);
    match check_timestamp(timestamp, NOW, TOLERANCE) {
        Ok(at) => {
            assert_eq!(Some(at), parsed);
            assert!((at - NOW).abs() <= TOLERANCE, "{timestamp:?} accepted at {at}");
        }
        Err(_) => assert!(parsed.is_none_or(|at| (at - NOW).abs() > TOLERANCE), "{timestamp:?} refused"),
    }
    for profile in SignatureProfile::ALL {
        let good = profile.sign(SECRET, timestamp, body);
        assert!(profile.verify([SECRET], timestamp, body, &good));
        assert!(profile.verify(["whsec_other", SECRET], timestamp, body, &format!("sha256={good}")));
        if signature.trim().trim_start_matches("sha256=") != good {
            // Any other header value fails, unless it spells the same MAC (hex case, padding).
            let accepted = profile.verify([SECRET], timestamp, body, signature);
            assert!(!accepted || spells_same(signature, &good), "{profile}: {signature:?} accepted");
        }
        let mut other = body.to_vec();
        other.push(b' ');
        assert!(!profile.verify([SECRET], timestamp, &other, &good), "{profile}: a changed body verifies");
    }
});

/// Whether `signature` is `good` written differently: hex in another case, surrounding space.
fn spells_same(signature: &str, good: &str) -> bool {
    let value = signature.trim();
    let value = value.strip_prefix("sha256=").unwrap_or(value);
    value.eq_ignore_ascii_case(good)
}
