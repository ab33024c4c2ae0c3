//! Webhook signatures, the one implementation behind handoff's inbound verification, its
//! outbound launches, the `handoff webhook` CLI and the SDK's verifier.
//!
//! Owns: the signature profiles — what is signed, how the MAC is written, which headers carry
//! it, how secrets look — and every check of a signed request, each failing with its own
//! [`VerifyError`]. Must not: read the clock (the caller passes `now`), perform I/O, or know
//! about the event inside the body.
//!
//! Every profile is HMAC-SHA256. The four Vinst-style profiles (seed 002's `Vinst-Timestamp`
//! and `Vinst-Signature` headers) key the MAC with the secret string's UTF-8 bytes:
//! - `timestamp-body-hex` (default): lowercase hex over `"{timestamp header value as sent}.{raw body}"`;
//! - `timestamp-body-base64`: the same MAC in standard base64;
//! - `body-hex` / `body-base64`: over the raw body alone.
//!
//! A `sha256=` prefix on a Vinst signature is accepted, hex in either case.
//!
//! `standard-webhooks` is Standard Webhooks 1.0: headers `webhook-id`, `webhook-timestamp`
//! (Unix seconds) and `webhook-signature`, a space-separated list of `v1,<base64>`; the MAC is
//! keyed with the base64-decoded part of a `whsec_<base64>` secret of 24 to 64 bytes and covers
//! `"{id}.{timestamp}.{raw body}"`. Every listed signature is tried and one valid `v1` is
//! enough; a list of only unknown versions is refused as such.
//!
//! Comparisons are constant-time over the whole 32-byte MAC; a signature of any other length
//! (empty, truncated) never matches.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, Engine as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Standard base64 that takes its padding or leaves it out, as the reference libraries do for
/// secrets. Signatures are decoded strictly: a `v1` without its padding is a truncated one.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The fewest and most key bytes a Standard Webhooks secret may hold.
pub const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// The longest `webhook-id` accepted: it is stored as a replay key.
pub const MAX_ID_LEN: usize = 200;
/// The most entries of a `webhook-signature` list that are looked at.
pub const MAX_SIGNATURES: usize = 16;

/// What is signed, how the MAC is encoded, and which headers carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureProfile {
    #[default]
    TimestampBodyHex,
    TimestampBodyBase64,
    BodyHex,
    BodyBase64,
    StandardWebhooks,
}

/// The header names of a profile, in lower case; the first name of each list is the one sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderNames {
    pub id: Option<&'static str>,
    pub timestamp: &'static [&'static str],
    pub signature: &'static [&'static str],
}

const VINST_HEADERS: HeaderNames = HeaderNames {
    id: None,
    timestamp: &["vinst-timestamp", "x-vinst-timestamp"],
    signature: &["vinst-signature", "x-vinst-signature"],
};
const STANDARD_HEADERS: HeaderNames =
    HeaderNames { id: Some("webhook-id"), timestamp: &["webhook-timestamp"], signature: &["webhook-signature"] };

/// Every header name any profile reads: what a server copies from a request before it knows
/// the profile.
pub const ALL_HEADER_NAMES: [&str; 7] = [
    "vinst-timestamp",
    "x-vinst-timestamp",
    "vinst-signature",
    "x-vinst-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

impl SignatureProfile {
    pub const ALL: [SignatureProfile; 5] = [
        SignatureProfile::TimestampBodyHex,
        SignatureProfile::TimestampBodyBase64,
        SignatureProfile::BodyHex,
        SignatureProfile::BodyBase64,
        SignatureProfile::StandardWebhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureProfile::TimestampBodyHex => "timestamp-body-hex",
            SignatureProfile::TimestampBodyBase64 => "timestamp-body-base64",
            SignatureProfile::BodyHex => "body-hex",
            SignatureProfile::BodyBase64 => "body-base64",
            SignatureProfile::StandardWebhooks => "standard-webhooks",
        }
    }

    /// Whether the timestamp header is part of what is signed. When it is not, only a signed
    /// timestamp inside the body can prove freshness.
    pub fn covers_timestamp(self) -> bool {
        !matches!(self, SignatureProfile::BodyHex | SignatureProfile::BodyBase64)
    }

    /// The headers this profile reads and writes.
    pub fn headers(self) -> HeaderNames {
        match self {
            SignatureProfile::StandardWebhooks => STANDARD_HEADERS,
            _ => VINST_HEADERS,
        }
    }

    /// Whether secrets of this profile are `whsec_<base64>` keys (else any string, keyed by its
    /// UTF-8 bytes).
    pub fn base64_secrets(self) -> bool {
        self == SignatureProfile::StandardWebhooks
    }

    /// A new secret for this profile from `random` bytes (24 to 64 of them for
    /// `standard-webhooks`): `whsec_` and standard base64 (the form Standard Webhooks libraries
    /// decode) for `standard-webhooks`, `whsec_` and URL-safe base64 for the Vinst profiles.
    pub fn new_secret(self, random: &[u8]) -> String {
        let encoded = if self.base64_secrets() {
            STANDARD.encode(random)
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        };
        format!("{SECRET_PREFIX}{encoded}")
    }

    /// The MAC key of `secret` under this profile.
    pub fn key(self, secret: &str) -> Result<Key, SecretError> {
        if !self.base64_secrets() {
            return Ok(Key(secret.as_bytes().to_vec()));
        }
        let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SecretError::MissingPrefix)?;
        let bytes = STANDARD_LENIENT.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if SECRET_BYTES.contains(&bytes.len()) {
            Ok(Key(bytes))
        } else {
            Err(SecretError::Length(bytes.len()))
        }
    }

    fn mac(self, key: &Key, id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match <HmacSha256 as Mac>::new_from_slice(&key.0) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        if self == SignatureProfile::StandardWebhooks {
            mac.update(id.as_bytes());
            mac.update(b".");
        }
        if self.covers_timestamp() {
            mac.update(timestamp.as_bytes());
            mac.update(b".");
        }
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The signature header value for `body` sent with the header values `id` (ignored by the
    /// Vinst profiles) and `timestamp`. A Vinst header carries one signature, by the first of
    /// `secrets`; a `standard-webhooks` header lists one `v1,…` per secret (a rotation's overlap
    /// sends both). `secrets` must not be empty.
    pub fn sign(self, secrets: &[&str], id: &str, timestamp: &str, body: &[u8]) -> Result<String, SecretError> {
        let keys = secrets.iter().map(|s| self.key(s)).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = keys.first() else {
            return Err(SecretError::None);
        };
        Ok(match self {
            SignatureProfile::StandardWebhooks => keys
                .iter()
                .map(|key| format!("v1,{}", STANDARD.encode(self.mac(key, id, timestamp, body))))
                .collect::<Vec<_>>()
                .join(" "),
            SignatureProfile::TimestampBodyBase64 | SignatureProfile::BodyBase64 => {
                STANDARD.encode(self.mac(first, id, timestamp, body))
            }
            SignatureProfile::TimestampBodyHex | SignatureProfile::BodyHex => {
                hex::encode(self.mac(first, id, timestamp, body))
            }
        })
    }

    /// Checks `request` in a fixed order — the id (`standard-webhooks`), the timestamp's form
    /// and its distance from `now` (at most `tolerance` seconds either way), the signature — and
    /// answers the timestamp. A signature valid by any of `secrets` passes.
    pub fn verify(
        self,
        secrets: &[&str],
        request: &Request<'_>,
        now: i64,
        tolerance: i64,
    ) -> Result<Verified, VerifyError> {
        self.id(request)?;
        let timestamp = self.fresh(request, now, tolerance)?;
        self.verify_signature(secrets, request)?;
        Ok(Verified { timestamp })
    }

    /// The timestamp check alone: present, well-formed, within `tolerance` seconds of `now`.
    pub fn fresh(self, request: &Request<'_>, now: i64, tolerance: i64) -> Result<i64, VerifyError> {
        self.check_timestamp(request.timestamp.ok_or(VerifyError::TimestampMissing)?, now, tolerance)
    }

    /// Every check but the timestamp's distance from now: the id, the signature header, its
    /// versions, and whether one signature is the MAC by one of `secrets`.
    pub fn verify_signature(self, secrets: &[&str], request: &Request<'_>) -> Result<(), VerifyError> {
        let id = self.id(request)?;
        let timestamp = request.timestamp.unwrap_or_default();
        let signature = request.signature.ok_or(VerifyError::SignatureMissing)?;
        let candidates = self.candidates(signature)?;
        let keys = secrets.iter().map(|s| self.key(s)).collect::<Result<Vec<_>, _>>().map_err(VerifyError::Secret)?;
        let expected: Vec<[u8; 32]> = keys.iter().map(|key| self.mac(key, id, timestamp, request.body)).collect();
        let matches = |tag: &[u8]| expected.iter().any(|mac| tag.len() == mac.len() && bool::from(tag.ct_eq(mac)));
        if candidates.iter().any(|tag| matches(tag)) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// The `webhook-id`, checked (`standard-webhooks`); empty for the Vinst profiles.
    fn id<'a>(self, request: &Request<'a>) -> Result<&'a str, VerifyError> {
        match self.headers().id {
            Some(_) => check_id(request.id),
            None => Ok(""),
        }
    }

    /// Parses a timestamp header value for this profile (Unix seconds; the Vinst profiles also
    /// take RFC 3339) and checks it lies within `tolerance` seconds of `now`.
    pub fn check_timestamp(self, value: &str, now: i64, tolerance: i64) -> Result<i64, VerifyError> {
        let at = match self {
            SignatureProfile::StandardWebhooks => parse_unix(value),
            _ => parse_timestamp(value),
        }
        .ok_or(VerifyError::TimestampInvalid)?;
        within(at, now, tolerance)
    }

    /// The MACs a signature header offers, decoded; an entry that does not decode is kept as
    /// an empty MAC, which matches nothing.
    fn candidates(self, signature: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
        match self {
            SignatureProfile::StandardWebhooks => {
                let v1: Vec<Vec<u8>> = signature
                    .split(' ')
                    .filter(|entry| !entry.is_empty())
                    .take(MAX_SIGNATURES)
                    .filter_map(|entry| entry.strip_prefix("v1,"))
                    .map(|encoded| STANDARD.decode(encoded).unwrap_or_default())
                    .collect();
                if v1.is_empty() {
                    Err(VerifyError::VersionUnsupported)
                } else {
                    Ok(v1)
                }
            }
            _ => {
                let value = signature.trim();
                let value = value.strip_prefix("sha256=").unwrap_or(value);
                let decoded = match self {
                    SignatureProfile::TimestampBodyBase64 | SignatureProfile::BodyBase64 => STANDARD.decode(value).ok(),
                    _ => hex::decode(value).ok(),
                };
                Ok(vec![decoded.unwrap_or_default()])
            }
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> ! {
    panic!("HMAC accepts keys of every length")
}

impl fmt::Display for SignatureProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name that is none of [`SignatureProfile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfile(pub String);

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = SignatureProfile::ALL.iter().map(|p| p.as_str()).collect();
        write!(f, "unknown signature profile {:?}; one of {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownProfile {}

impl FromStr for SignatureProfile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// A MAC key, from [`SignatureProfile::key`]. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(…)")
    }
}

/// The parts of a signed request that the signature covers or carries, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// `webhook-id` (`standard-webhooks` only).
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    /// The raw body bytes as received.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The request's parts for `profile`, reading headers through `header` (given a lower-case
    /// name; the first present name of each [`HeaderNames`] list counts).
    pub fn from_headers(profile: SignatureProfile, header: impl Fn(&str) -> Option<&'a str>, body: &'a [u8]) -> Self {
        let names = profile.headers();
        let first = |list: &[&str]| list.iter().find_map(|name| header(name));
        Request {
            id: names.id.and_then(&header),
            timestamp: first(names.timestamp),
            signature: first(names.signature),
            body,
        }
    }
}

/// A request that passed [`SignatureProfile::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The timestamp header's value, in Unix seconds.
    pub timestamp: i64,
}

/// Why a secret cannot key a profile's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretError {
    /// A `standard-webhooks` secret must start with `whsec_`.
    MissingPrefix,
    /// The part after `whsec_` is not standard base64.
    NotBase64,
    /// The decoded key has this many bytes, not 24 to 64.
    Length(usize),
    /// No secret was given.
    None,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::MissingPrefix => f.write_str("a standard-webhooks secret starts with whsec_"),
            SecretError::NotBase64 => f.write_str("the part of the secret after whsec_ is not standard base64"),
            SecretError::Length(n) => write!(f, "the secret's key is {n} bytes; standard-webhooks wants 24 to 64"),
            SecretError::None => f.write_str("no secret was given"),
        }
    }
}

impl std::error::Error for SecretError {}

/// Which check of a signed request failed. [`VerifyError::reason`] is the stable name (handoff's
/// audit reason); `Display` is a sentence for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// No `webhook-id` header.
    IdMissing,
    /// A `webhook-id` that is empty, longer than [`MAX_ID_LEN`] or not printable ASCII.
    IdInvalid,
    /// No timestamp header.
    TimestampMissing,
    /// A timestamp that is not Unix seconds (or, for the Vinst profiles, RFC 3339).
    TimestampInvalid,
    /// More than the tolerance in the past.
    TimestampTooOld,
    /// More than the tolerance in the future.
    TimestampTooNew,
    /// No signature header.
    SignatureMissing,
    /// A `webhook-signature` list without a single `v1` entry.
    VersionUnsupported,
    /// No signature is the MAC by any of the secrets.
    Mismatch,
    /// A secret the verifier holds cannot key the profile's MAC.
    Secret(SecretError),
}

impl VerifyError {
    /// The stable name of the failed check.
    pub fn reason(self) -> &'static str {
        match self {
            VerifyError::IdMissing => "webhook-id-missing",
            VerifyError::IdInvalid => "webhook-id-invalid",
            VerifyError::TimestampMissing => "timestamp-missing",
            VerifyError::TimestampInvalid => "timestamp-invalid",
            VerifyError::TimestampTooOld | VerifyError::TimestampTooNew => "timestamp-outside-tolerance",
            VerifyError::SignatureMissing => "signature-header-missing",
            VerifyError::VersionUnsupported => "signature-version-unsupported",
            VerifyError::Mismatch => "signature-mismatch",
            VerifyError::Secret(_) => "secret-invalid",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::IdMissing => f.write_str("Missing webhook-id header."),
            VerifyError::IdInvalid => {
                write!(f, "Invalid webhook-id: 1 to {MAX_ID_LEN} printable ASCII characters without spaces.")
            }
            VerifyError::TimestampMissing => f.write_str("Missing timestamp header."),
            VerifyError::TimestampInvalid => f.write_str("Invalid timestamp: use Unix seconds or RFC 3339."),
            VerifyError::TimestampTooOld => f.write_str("Timestamp is too old."),
            VerifyError::TimestampTooNew => f.write_str("Timestamp is in the future."),
            VerifyError::SignatureMissing => f.write_str("Missing signature header."),
            VerifyError::VersionUnsupported => f.write_str("No signature of a supported version (v1)."),
            VerifyError::Mismatch => f.write_str("Invalid signature."),
            VerifyError::Secret(e) => write!(f, "The verifier's secret is not usable: {e}."),
        }
    }
}

impl std::error::Error for VerifyError {}

fn check_id(id: Option<&str>) -> Result<&str, VerifyError> {
    let id = id.ok_or(VerifyError::IdMissing)?;
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_ID_LEN || !printable {
        return Err(VerifyError::IdInvalid);
    }
    Ok(id)
}

/// `at` if it lies within `tolerance` seconds of `now`, either way.
fn within(at: i64, now: i64, tolerance: i64) -> Result<i64, VerifyError> {
    if at < now.saturating_sub(tolerance) {
        Err(VerifyError::TimestampTooOld)
    } else if at > now.saturating_add(tolerance) {
        Err(VerifyError::TimestampTooNew)
    } else {
        Ok(at)
    }
}

/// Parses `value` (Unix seconds or RFC 3339) and checks it lies within `tolerance` seconds of
/// `now`, either way: the Vinst timestamp rule, also for a timestamp inside a body.
pub fn check_timestamp(value: &str, now: i64, tolerance: i64) -> Result<i64, VerifyError> {
    within(parse_timestamp(value).ok_or(VerifyError::TimestampInvalid)?, now, tolerance)
}

/// Unix seconds: 1 to 12 ASCII digits.
fn parse_unix(value: &str) -> Option<i64> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        None
    }
}

/// Parses a Vinst timestamp header: Unix seconds, or RFC 3339 (`2025-05-12T10:00:00Z`,
/// fractions and offsets allowed), in Unix seconds.
pub fn parse_timestamp(value: &str) -> Option<i64> {
    parse_unix(value).or_else(|| parse_rfc3339(value.trim()))
}

/// RFC 3339's `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, fractions truncated.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let o = rest.as_bytes();
            let sign = match o.first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let two = |i: usize| -> Option<i64> {
                let part = o.get(i..i + 2)?;
                part.iter().all(u8::is_ascii_digit).then(|| i64::from(part[0] - b'0') * 10 + i64::from(part[1] - b'0'))
            };
            if o.len() != 6 || o[3] != b':' {
                return None;
            }
            let (h, m) = (two(1)?, two(4)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
