//! SSO webhooks (seed 002): the event, its signature profiles, and timestamp checks. The one
//! implementation behind inbound verification, the outbound sender and the `handoff webhook` CLI.
//!
//! A signature is HMAC-SHA256 keyed with the secret string's UTF-8 bytes. The profile fixes what
//! is signed and how the MAC is written:
//! - `timestamp-body-hex` (default): lowercase hex over `"{timestamp header value as sent}.{raw body}"`;
//! - `timestamp-body-base64`: the same MAC in standard base64;
//! - `body-hex` / `body-base64`: over the raw body alone.
//!
//! On verification a `sha256=` prefix on the signature header is accepted, hex is accepted in
//! either case, and the comparison is constant-time (`Mac::verify_slice`).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::names::{parse_name, Email};

type HmacSha256 = Hmac<Sha256>;

/// What is signed and how the MAC is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureProfile {
    #[default]
    TimestampBodyHex,
    TimestampBodyBase64,
    BodyHex,
    BodyBase64,
}

impl SignatureProfile {
    pub const ALL: [SignatureProfile; 4] = [
        SignatureProfile::TimestampBodyHex,
        SignatureProfile::TimestampBodyBase64,
        SignatureProfile::BodyHex,
        SignatureProfile::BodyBase64,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureProfile::TimestampBodyHex => "timestamp-body-hex",
            SignatureProfile::TimestampBodyBase64 => "timestamp-body-base64",
            SignatureProfile::BodyHex => "body-hex",
            SignatureProfile::BodyBase64 => "body-base64",
        }
    }

    /// Whether the timestamp header is part of what is signed. When it is not, only the signed
    /// body's `eventTimestamp` can prove freshness.
    pub fn covers_timestamp(self) -> bool {
        matches!(self, SignatureProfile::TimestampBodyHex | SignatureProfile::TimestampBodyBase64)
    }

    fn base64(self) -> bool {
        matches!(self, SignatureProfile::TimestampBodyBase64 | SignatureProfile::BodyBase64)
    }

    fn mac(self, secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_key());
        if self.covers_timestamp() {
            mac.update(timestamp.as_bytes());
            mac.update(b".");
        }
        mac.update(body);
        mac
    }

    /// The signature header value for `body` sent with the timestamp header value `timestamp`.
    pub fn sign(self, secret: &str, timestamp: &str, body: &[u8]) -> String {
        let tag = self.mac(secret, timestamp, body).finalize().into_bytes();
        if self.base64() {
            STANDARD.encode(tag)
        } else {
            hex::encode(tag)
        }
    }

    /// Whether `signature` (the header value) is a valid MAC by any of `secrets`.
    pub fn verify<'a>(
        self,
        secrets: impl IntoIterator<Item = &'a str>,
        timestamp: &str,
        body: &[u8],
        signature: &str,
    ) -> bool {
        let Some(tag) = self.decode(signature) else {
            return false;
        };
        // Every secret is tried, so timing does not say which one matched.
        secrets.into_iter().fold(false, |ok, secret| self.mac(secret, timestamp, body).verify_slice(&tag).is_ok() | ok)
    }

    fn decode(self, signature: &str) -> Option<Vec<u8>> {
        let value = signature.trim();
        let value = value.strip_prefix("sha256=").unwrap_or(value);
        let tag = if self.base64() { STANDARD.decode(value).ok()? } else { hex::decode(value).ok()? };
        (tag.len() == 32).then_some(tag)
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> HmacSha256 {
    panic!("HMAC accepts keys of every length")
}

impl fmt::Display for SignatureProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignatureProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            format!("unknown signature profile {s:?}; one of timestamp-body-hex, timestamp-body-base64, body-hex, body-base64")
        })
    }
}

/// Parses a timestamp header: Unix seconds, or RFC 3339.
pub fn parse_timestamp(value: &str) -> Option<i64> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok();
    }
    OffsetDateTime::parse(value, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp)
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("the timestamp is neither Unix seconds nor RFC 3339")]
    Unparseable,
    #[error("the timestamp is more than the tolerance in the past")]
    TooOld,
    #[error("the timestamp is more than the tolerance in the future")]
    TooNew,
}

/// Parses `value` and checks it lies within `tolerance` seconds of `now`, either way.
pub fn check_timestamp(value: &str, now: i64, tolerance: i64) -> Result<i64, TimestampError> {
    let at = parse_timestamp(value).ok_or(TimestampError::Unparseable)?;
    if at < now.saturating_sub(tolerance) {
        Err(TimestampError::TooOld)
    } else if at > now.saturating_add(tolerance) {
        Err(TimestampError::TooNew)
    } else {
        Ok(at)
    }
}

/// The SSO event of seed 002.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SsoEvent {
    pub event_id: String,
    pub event_type: String,
    pub event_timestamp: String,
    pub data: SsoEventData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SsoEventData {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub org_no: String,
}

/// An event whose fields passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    pub event_id: String,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub org_no: String,
}

impl SsoEvent {
    /// Checks every field; the error is a sentence for the sender.
    pub fn validate(&self, expected_type: &str) -> Result<ValidEvent, String> {
        let event_id = self.event_id.trim();
        if event_id.is_empty() || event_id.len() > 200 || event_id.chars().any(char::is_control) {
            return Err("eventId must be 1 to 200 printable characters.".into());
        }
        if self.event_type != expected_type {
            return Err(format!("eventType must be {expected_type:?}."));
        }
        if OffsetDateTime::parse(&self.event_timestamp, &Rfc3339).is_err() {
            return Err("eventTimestamp must be an RFC 3339 timestamp.".into());
        }
        let email = Email::parse(&self.data.email).map_err(|e| format!("data.email {e}."))?;
        let first_name = parse_name(&self.data.first_name).ok_or("data.firstName must be 1 to 200 characters.")?;
        let last_name = parse_name(&self.data.last_name).ok_or("data.lastName must be 1 to 200 characters.")?;
        let org_no = self.data.org_no.trim();
        if org_no.is_empty() || org_no.len() > 64 || org_no.chars().any(char::is_control) {
            return Err("data.orgNo must be 1 to 64 printable characters.".into());
        }
        Ok(ValidEvent { event_id: event_id.to_owned(), email, first_name, last_name, org_no: org_no.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &str = r#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"turid@jensen.com","firstName":"Turid","lastName":"Jensen","orgNo":"123456789"}}"#;

    /// Known answers computed independently (Python's `hmac` module), also in the integrator guide.
    #[test]
    fn known_answers() {
        let body = BODY.as_bytes();
        let cases = [
            (
                SignatureProfile::TimestampBodyHex,
                "1747144200",
                "0a24a7963047508d0dab94e6ca885871a16ecc4e7e49e4b9cefb8da5dd0a698f",
            ),
            (SignatureProfile::TimestampBodyBase64, "1747144200", "CiSnljBHUI0Nq5TmyohYcaFuzE5+SeS5zvuNpd0KaY8="),
            (SignatureProfile::BodyHex, "ignored", "0e550248693fce953d539d27f878e04521b77fd74e3307bb33a7c988b4d17319"),
            (SignatureProfile::BodyBase64, "ignored", "DlUCSGk/zpU9U50n+HjgRSG3f9dOMwe7M6fJiLTRcxk="),
            (
                SignatureProfile::TimestampBodyHex,
                "2025-05-12T10:00:00Z",
                "ee1964aa25699d2760e490bd71e962c2114cbced16bee184a37a0c47274c7605",
            ),
        ];
        for (profile, timestamp, expected) in cases {
            assert_eq!(profile.sign(SECRET, timestamp, body), expected, "{profile}");
            assert!(profile.verify([SECRET], timestamp, body, expected));
        }
    }

    #[test]
    fn verification_accepts_prefix_and_case_and_any_active_secret() {
        let body = BODY.as_bytes();
        let p = SignatureProfile::TimestampBodyHex;
        let sig = p.sign(SECRET, "1747144200", body);
        assert!(p.verify([SECRET], "1747144200", body, &format!("sha256={sig}")));
        assert!(p.verify([SECRET], "1747144200", body, &sig.to_uppercase()));
        assert!(p.verify(["whsec_other", SECRET], "1747144200", body, &sig));
        assert!(!p.verify(["whsec_other"], "1747144200", body, &sig));
        assert!(!p.verify([SECRET], "1747144201", body, &sig));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(!p.verify([SECRET], "1747144200", &tampered, &sig));
        for junk in ["", "sha256=", "zz", &sig[..62], "sha256=sha256=00"] {
            assert!(!p.verify([SECRET], "1747144200", body, junk), "{junk:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1747144200"), Some(1_747_144_200));
        assert_eq!(parse_timestamp("2025-05-12T10:00:00Z"), Some(1_747_044_000));
        assert_eq!(parse_timestamp("2025-05-12T12:00:00+02:00"), Some(1_747_044_000));
        for bad in ["", "-1", "1e9", "yesterday", "2025-05-12", "99999999999999999999"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(check_timestamp("1000", 1015, 15), Ok(1000));
        assert_eq!(check_timestamp("1000", 1016, 15), Err(TimestampError::TooOld));
        assert_eq!(check_timestamp("1016", 1000, 15), Err(TimestampError::TooNew));
    }

    #[test]
    fn event_validation() {
        let event: SsoEvent = serde_json::from_str(BODY).unwrap();
        let valid = event.validate("Vinst_SSO").unwrap();
        assert_eq!(valid.email.as_str(), "turid@jensen.com");
        assert!(event.validate("Other").is_err());
        let mut bad = event.clone();
        bad.data.email = "nope".into();
        assert!(bad.validate("Vinst_SSO").unwrap_err().contains("email"));
    }
}
