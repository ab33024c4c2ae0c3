//! The redirect-path policy: the one function that decides where a signed-in browser may land,
//! and whether a path is an embed path.
//!
//! A redirect path is always relative to the portal. The policy is deliberately narrow, because
//! every ambiguity here is an open redirect somewhere (a browser, a proxy or the app behind
//! handoff may each normalise differently):
//! - it begins with exactly one `/`, is at most 2 KiB, and the path's first segment does not
//!   begin with `@` (raw or `%40`), so no concatenation with the portal's origin reads it as
//!   `user@host`;
//! - it contains only the characters RFC 3986 allows raw in a path and a query (unreserved,
//!   sub-delims, `:`, `@`, `/`, `?` in the query, and percent escapes): no space, no controls, no
//!   `<` `>` `"` `{` `}` `|` `^` `` ` `` `[` `]`, no raw non-ASCII;
//! - no `\` anywhere, and no `//` in the path part;
//! - percent escapes are well-formed, the path part never encodes `/`, `\`, `%`, `.`, `;` or a
//!   control character (`%2F`, `%5C`, `%25`, `%2E`, `%3B`, `%00`–`%1F`, `%7F`), so decoding once
//!   or twice cannot change where it points;
//! - the path and the query decode to valid UTF-8 (no overlong forms such as `%C0%AF`), with no
//!   C1 control in the path, no look-alike of `/`, `\`, `.` or `@` (every character whose UTS #39
//!   confusable skeleton contains one, e.g. U+2215, U+FF0F, U+FF0E, U+FF20) and no bidirectional
//!   control (U+061C, U+200E/F, U+202A–202E, U+2066–2069);
//! - no `;` in the path part: path parameters (`/a/..;/b`, `;jsessionid=…`) are cut by Tomcat,
//!   Jetty and Spring before they resolve dot segments, so a segment can be `..` for the app and
//!   not for handoff. Refusing `;` is stricter than cutting parameters and checking what is left,
//!   and does not depend on any one server's idea of a parameter;
//! - no `.` or `..` segments;
//! - the query string is kept (embed pages take pre-fill parameters); the fragment is dropped.
//!
//! Whether a path gets embed treatment (embed session, `SameSite=None` cookie, partner framing)
//! is decided only by [`RedirectPath::is_embed`], on a path that passed this policy; raw request
//! paths go through [`is_embed_path`], which applies the policy first.

use std::fmt;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

/// Longest accepted redirect path, in bytes, before the fragment is dropped.
pub const MAX_LEN: usize = 2048;

/// A redirect path that passed the policy. Once parsed, it is safe to put in a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RedirectPath(String);

/// Why a redirect path was refused; the message is safe to show to the integrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedirectPathError {
    #[error("redirect_path must not be empty")]
    Empty,
    #[error("redirect_path is longer than 2048 bytes")]
    TooLong,
    #[error("redirect_path must be a relative path beginning with a single '/'")]
    NotRelative,
    #[error(
        "redirect_path may contain only the characters RFC 3986 allows in a path and query; percent-encode others"
    )]
    BadCharacter,
    #[error("redirect_path must not contain a backslash")]
    Backslash,
    #[error("redirect_path must not contain '//' in its path")]
    DoubleSlash,
    #[error("redirect_path has a malformed percent escape")]
    BadEscape,
    #[error("redirect_path must not percent-encode '/', '\\', '%', '.', ';' or control characters")]
    EncodedSeparator,
    #[error("redirect_path must percent-encode valid UTF-8 only")]
    NotUtf8,
    #[error("redirect_path must not encode look-alikes of '/', '\\', '.' or '@', nor bidirectional controls")]
    LookAlike,
    #[error("redirect_path must not contain ';' (path parameters) in its path")]
    PathParameter,
    #[error("redirect_path must not begin with '/@'")]
    LeadingAt,
    #[error("redirect_path must not contain '.' or '..' segments, nor segments of dots and spaces only")]
    DotSegment,
}

impl RedirectPath {
    /// Applies the policy. The fragment, if any, is dropped; the query string is kept.
    pub fn parse(input: &str) -> Result<Self, RedirectPathError> {
        use RedirectPathError as E;
        if input.is_empty() {
            return Err(E::Empty);
        }
        if input.len() > MAX_LEN {
            return Err(E::TooLong);
        }
        if input.contains('\\') {
            return Err(E::Backslash);
        }
        let (without_fragment, fragment) = input.split_once('#').unwrap_or((input, ""));
        let (path, query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
        let rfc_3986 = path.bytes().all(is_path_byte) && query.bytes().chain(fragment.bytes()).all(is_query_byte);
        if !rfc_3986 {
            return Err(E::BadCharacter);
        }
        if !path.starts_with('/') {
            return Err(E::NotRelative);
        }
        if path.contains("//") {
            return Err(E::DoubleSlash);
        }
        check_escapes(without_fragment)?;
        check_path_escapes(path)?;
        let decoded_path = decode(path)?;
        if decoded_path.chars().any(char::is_control) {
            return Err(E::EncodedSeparator);
        }
        if decoded_path.chars().any(is_look_alike)
            || decoded_path.chars().chain(decode(query)?.chars()).any(is_bidi_control)
        {
            return Err(E::LookAlike);
        }
        if path.contains(';') {
            return Err(E::PathParameter);
        }
        if decoded_path.starts_with("/@") {
            return Err(E::LeadingAt);
        }
        // `.` and `..`, and segments of dots and spaces only (`...`, `..%20`), which Windows
        // servers (IIS) trim to `..`.
        if decoded_path.split('/').any(|segment| !segment.is_empty() && segment.trim_matches(['.', ' ']).is_empty()) {
            return Err(E::DotSegment);
        }
        Ok(Self(without_fragment.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the query string.
    pub fn path(&self) -> &str {
        self.0.split('?').next().unwrap_or_default()
    }

    /// Whether this path leads into the embeddable part of the portal (`/embed` or below). The
    /// one embed decision: every other place calls this, through [`is_embed_path`] for raw paths.
    pub fn is_embed(&self) -> bool {
        path_is_under(self.path(), "/embed")
    }

    /// Whether the path lies under one of `prefixes`, segment-wise: `/dashboard` allows
    /// `/dashboard` and `/dashboard/x`, never `/dashboardx`. An empty list allows everything.
    pub fn is_within(&self, prefixes: &[String]) -> bool {
        prefixes.is_empty() || prefixes.iter().any(|prefix| path_is_under(self.path(), prefix))
    }
}

/// Whether a raw request path (e.g. `Uri::path()` of a proxied request, or of forward-auth's
/// `X-Original-URI`) gets embed treatment: only if it passes the policy and the parsed path
/// [`is_embed`](RedirectPath::is_embed). `/embed/..;/dashboard` or `/embed/..%2fdashboard` fail
/// the policy, so they are not embed paths.
pub fn is_embed_path(path: &str) -> bool {
    RedirectPath::parse(path).is_ok_and(|p| p.is_embed())
}

/// Whether a browser may be sent to the absolute `url`: https, or http on a loopback host (development).
pub fn is_browser_safe(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

fn path_is_under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl fmt::Display for RedirectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RedirectPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// RFC 3986 `pchar` and `/`: unreserved, sub-delims, `:`, `@`, and `%` of an escape.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

/// RFC 3986 `query` (and `fragment`): `pchar`, `/` and `?`.
fn is_query_byte(b: u8) -> bool {
    is_path_byte(b) || b == b'?'
}

/// Every `%` starts a two-hex-digit escape.
fn check_escapes(s: &str) -> Result<(), RedirectPathError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(RedirectPathError::BadEscape)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(RedirectPathError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The path part never encodes a separator, a percent sign, a dot, a `;` or a control character.
fn check_path_escapes(path: &str) -> Result<(), RedirectPathError> {
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let decoded = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or(RedirectPathError::BadEscape)?;
        if matches!(decoded, b'/' | b'\\' | b'%' | b'.' | b';') || decoded < 0x20 || decoded == 0x7f {
            return Err(RedirectPathError::EncodedSeparator);
        }
    }
    Ok(())
}

/// Percent-decodes well-formed escapes; the bytes must be UTF-8 (Rust's decoder refuses
/// overlong forms, surrogates and truncated sequences).
fn decode(s: &str) -> Result<String, RedirectPathError> {
    percent_decode_str(s).decode_utf8().map(|d| d.into_owned()).map_err(|_| RedirectPathError::NotUtf8)
}

/// A character that is neither ASCII nor a letter or digit, and that Unicode's confusables table
/// (UTS #39, through `unicode-security`) maps to something containing `/`, `\`, `.` or `@`:
/// U+2215, U+2044, U+FF0F, U+29F8, U+FF3C, U+FE68, U+2024, U+2025, U+FF0E, U+FF20, U+2100 (℀), …
/// Letters and digits the table also lists (katakana ノ, CJK 丿, Arabic-Indic zero) are words
/// and numbers in their scripts, and stay accepted.
fn is_look_alike(c: char) -> bool {
    !c.is_ascii()
        && !c.is_alphanumeric()
        && unicode_security::skeleton(c.encode_utf8(&mut [0; 4])).any(|p| matches!(p, '/' | '\\' | '.' | '@'))
}

/// Bidirectional formatting characters (UAX #9): marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_query_and_drops_fragment() {
        let p = RedirectPath::parse("/embed/patients/1?tab=rx&q=a%20b#section").unwrap();
        assert_eq!(p.as_str(), "/embed/patients/1?tab=rx&q=a%20b");
        assert_eq!(p.path(), "/embed/patients/1");
        assert!(p.is_embed());
    }

    #[test]
    fn prefixes_are_segment_wise() {
        let p = RedirectPath::parse("/dashboardx").unwrap();
        assert!(!p.is_within(&["/dashboard".into()]));
        let p = RedirectPath::parse("/dashboard/a?x=1").unwrap();
        assert!(p.is_within(&["/dashboard".into()]));
        assert!(p.is_within(&[]));
        assert!(!RedirectPath::parse("/embedded").unwrap().is_embed());
        assert!(RedirectPath::parse("/embed").unwrap().is_embed());
    }

    #[test]
    fn refuses_authority_tricks() {
        for bad in [
            "",
            "dashboard",
            "//evil.com",
            "/\\evil.com",
            "https://evil.com",
            "/%2F%2Fevil.com",
            "/%5Cevil.com",
            "/a/../..",
            "/a/%2e%2e/b",
            "/a\u{0}b",
            "/a b",
            "/\u{2215}evil.com",
            "/%",
            "/%zz",
            "/a/%252F",
        ] {
            assert!(RedirectPath::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    fn refused(input: &str) -> RedirectPathError {
        match RedirectPath::parse(input) {
            Ok(path) => unreachable!("accepted {input:?} as {path}"),
            Err(error) => error,
        }
    }

    #[test]
    fn refuses_path_parameters_raw_and_encoded() {
        use RedirectPathError::*;
        for bad in ["/dashboard/patients/..;/..;/admin", "/a/.;/b", "/a/..;x=1/b", "/a;b=c", "/dashboard;jsessionid=1"]
        {
            assert_eq!(refused(bad), PathParameter, "{bad:?}");
        }
        for bad in ["/dashboard/..%3B/admin", "/dashboard/..%3b/admin", "/dashboard/%2e%2e;/admin", "/a/%3B"] {
            assert_eq!(refused(bad), EncodedSeparator, "{bad:?}");
        }
        // In the query, ';' is an ordinary separator.
        assert!(RedirectPath::parse("/dashboard?a=1;b=2").is_ok());
    }

    #[test]
    fn refuses_characters_outside_rfc_3986() {
        for c in ['<', '>', '"', '{', '}', '|', '^', '`', ' ', '[', ']', '\u{1}', '\u{7f}', '\u{e9}'] {
            for bad in [format!("/a{c}b"), format!("/a?q={c}"), format!("/a#{c}")] {
                assert_eq!(refused(&bad), RedirectPathError::BadCharacter, "{bad:?}");
            }
        }
        assert_eq!(refused("/a#b#c"), RedirectPathError::BadCharacter);
        for good in ["/a-b._~!$&'()*+,=:@/x", "/a?q=/?:@!$&'()*+,;=", "/a#/?x"] {
            assert!(RedirectPath::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn refuses_escapes_that_are_not_utf8() {
        for bad in
            ["/%c0%af", "/%C0%AE%C0%AE/admin", "/a%e0%80%afb", "/%ed%a0%80", "/%ff", "/%c3", "/a?q=%c0%af", "/a?q=%ff"]
        {
            assert_eq!(refused(bad), RedirectPathError::NotUtf8, "{bad:?}");
        }
        assert_eq!(refused("/%c2%85"), RedirectPathError::EncodedSeparator, "C1 control NEL");
    }

    #[test]
    fn refuses_encoded_look_alikes_and_bidi_controls() {
        let look_alikes = [
            '\u{2215}', '\u{2044}', '\u{ff0f}', '\u{29f8}', '\u{2571}', '\u{ff3c}', '\u{fe68}', '\u{2216}', '\u{29f5}',
            '\u{2024}', '\u{2025}', '\u{2026}', '\u{fe52}', '\u{ff0e}', '\u{ff20}', '\u{fe6b}', '\u{2100}',
        ];
        let bidi = [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200e}', '\u{200f}', '\u{061c}',
        ];
        for c in look_alikes.into_iter().chain(bidi) {
            let encoded: String = c.encode_utf8(&mut [0; 4]).bytes().map(|b| format!("%{b:02X}")).collect();
            assert_eq!(refused(&format!("/{encoded}evil.com")), RedirectPathError::LookAlike, "{c:?}");
            assert_eq!(refused(&format!("/a/{}/b", encoded.to_lowercase())), RedirectPathError::LookAlike, "{c:?}");
        }
        for c in bidi {
            let encoded: String = c.encode_utf8(&mut [0; 4]).bytes().map(|b| format!("%{b:02X}")).collect();
            assert_eq!(refused(&format!("/a?q={encoded}")), RedirectPathError::LookAlike, "{c:?}");
        }
        // The query may hold a real '/', so it may hold a look-alike of one.
        assert!(RedirectPath::parse("/a?q=%EF%BC%8F").is_ok());
    }

    #[test]
    fn encoded_letters_stay_accepted() {
        for good in [
            "/%C3%98stby",
            "/dashboard/patients/%C3%A6%C3%B8%C3%A5",
            "/journal/r%C3%A9sum%C3%A9",
            "/wiki/%E3%83%8E%E3%83%BC%E3%83%88", // ノート: katakana NO is in the confusables table
            "/%D9%A0%D9%A1",                     // Arabic-Indic digits
            "/a/%F0%9F%98%80",                   // an emoji
            "/dashboard/users/@me",
            "/dashboard/users/%40me",
        ] {
            assert!(RedirectPath::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn refuses_a_leading_at() {
        for bad in ["/@evil.com", "/%40evil.com", "/@", "/@/dashboard"] {
            assert_eq!(refused(bad), RedirectPathError::LeadingAt, "{bad:?}");
        }
    }

    #[test]
    fn embed_is_decided_on_the_policy_checked_path() {
        for raw in ["/embed", "/embed/", "/embed/patients/1"] {
            assert!(is_embed_path(raw), "{raw:?}");
        }
        for raw in [
            "/embed/..;/dashboard",
            "/embed/.;/dashboard",
            "/embed/..%3B/dashboard",
            "/embed/%2e%2e;/dashboard",
            "/embed/..%2fdashboard",
            "/embed/..%2Fdashboard",
            "/embed/../dashboard",
            "/embed/%2e%2e/dashboard",
            "/embed;x/dashboard",
            "/embed//evil.com",
            "/embed/%EF%BC%8F%EF%BC%8Fdashboard",
            "/embedded",
            "embed/x",
            "/dashboard/embed",
        ] {
            assert!(!is_embed_path(raw), "{raw:?}");
        }
    }
}
