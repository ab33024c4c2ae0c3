//! The redirect-path policy: the one function that decides where a signed-in browser may land.
//!
//! A redirect path is always relative to the portal. The policy is deliberately narrow, because
//! every ambiguity here is an open redirect somewhere (a browser, a proxy or the app behind
//! handoff may each normalise differently):
//! - it begins with exactly one `/`, and is at most 2 KiB;
//! - it contains only printable ASCII (non-ASCII must be percent-encoded), so no control
//!   characters, no whitespace and no Unicode look-alikes of `/`, `\`, `.` or `:`;
//! - no `\` anywhere, and no `//` in the path part;
//! - percent escapes are well-formed, and the path part never encodes `/`, `\`, `%`, `.` or a
//!   control character (`%2F`, `%5C`, `%25`, `%2E`, `%00`–`%1F`, `%7F`), so decoding once or twice
//!   cannot change where it points;
//! - no `.` or `..` segments;
//! - the query string is kept (embed pages take pre-fill parameters); the fragment is dropped.

use std::fmt;

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
    #[error("redirect_path may contain only printable ASCII; percent-encode other characters")]
    BadCharacter,
    #[error("redirect_path must not contain a backslash")]
    Backslash,
    #[error("redirect_path must not contain '//' in its path")]
    DoubleSlash,
    #[error("redirect_path has a malformed percent escape")]
    BadEscape,
    #[error("redirect_path must not percent-encode '/', '\\', '%', '.' or control characters")]
    EncodedSeparator,
    #[error("redirect_path must not contain '.' or '..' segments")]
    DotSegment,
}

impl RedirectPath {
    /// Applies the policy. The fragment, if any, is dropped; the query string is kept.
    pub fn parse(input: &str) -> Result<Self, RedirectPathError> {
        if input.is_empty() {
            return Err(RedirectPathError::Empty);
        }
        if input.len() > MAX_LEN {
            return Err(RedirectPathError::TooLong);
        }
        if let Some(bad) = input.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
            return Err(if bad == b'\\' { RedirectPathError::Backslash } else { RedirectPathError::BadCharacter });
        }
        if input.contains('\\') {
            return Err(RedirectPathError::Backslash);
        }
        let without_fragment = input.split('#').next().unwrap_or_default();
        let (path, _query) = match without_fragment.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (without_fragment, None),
        };
        if !path.starts_with('/') {
            return Err(RedirectPathError::NotRelative);
        }
        if path.contains("//") {
            return Err(RedirectPathError::DoubleSlash);
        }
        check_escapes(without_fragment)?;
        check_path_escapes(path)?;
        if path.split('/').any(|segment| segment == "." || segment == "..") {
            return Err(RedirectPathError::DotSegment);
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

    /// Whether this path leads into the embeddable part of the portal (`/embed` or below).
    pub fn is_embed(&self) -> bool {
        is_embed_path(self.path())
    }

    /// Whether the path lies under one of `prefixes`, segment-wise: `/dashboard` allows
    /// `/dashboard` and `/dashboard/x`, never `/dashboardx`. An empty list allows everything.
    pub fn is_within(&self, prefixes: &[String]) -> bool {
        prefixes.is_empty() || prefixes.iter().any(|prefix| path_is_under(self.path(), prefix))
    }
}

/// Whether `path` (no query) is `/embed` or below it.
pub fn is_embed_path(path: &str) -> bool {
    path_is_under(path, "/embed")
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

/// The path part never encodes a separator, a percent sign, a dot or a control character.
fn check_path_escapes(path: &str) -> Result<(), RedirectPathError> {
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let decoded = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or(RedirectPathError::BadEscape)?;
        if matches!(decoded, b'/' | b'\\' | b'%' | b'.') || decoded < 0x20 || decoded == 0x7f {
            return Err(RedirectPathError::EncodedSeparator);
        }
    }
    Ok(())
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
}
