//! Cross-site request forgery defences of the portal's own forms (the launch confirmation, the
//! sign-in switch confirmation, sign-out): what a browser says about where a request came from
//! (`Sec-Fetch-Site`, `Origin`, `Referer`: headers no page script can set). The form tokens are
//! the sealer's (`infra::sealer`).
//!
//! Must not: let a page of another site pass for the portal's own.

use axum::http::header::{self, HeaderMap};

use crate::config::Settings;

/// The portal's origin as browsers write it (`https://portal.example.com`).
pub fn portal_origin(settings: &Settings) -> String {
    url::Url::parse(&settings.public_url.base)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| settings.public_url.base.clone())
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).map(|value| value.to_str().unwrap_or("\u{0}"))
}

/// Whether a GET comes from the portal's own pages: `Sec-Fetch-Site: same-origin`; from browsers
/// that send no `Sec-Fetch-Site`, an `Origin`, or else a `Referer`, on the portal's origin.
/// `none` (typed, bookmarked), `same-site` and `cross-site` do not.
pub fn from_portal(headers: &HeaderMap, portal: &str) -> bool {
    if let Some(site) = header_str(headers, "sec-fetch-site") {
        return site == "same-origin";
    }
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        return origin == portal;
    }
    header_str(headers, header::REFERER)
        .and_then(|referer| url::Url::parse(referer).ok())
        .is_some_and(|referer| referer.origin().ascii_serialization() == portal)
}

/// Whether a confirmation POST may come from the portal's page: what the browser says about its
/// origin (`Sec-Fetch-Site`, `Origin`), when it says it, is the portal's. The page must not be
/// served with `Referrer-Policy: no-referrer`, which makes browsers send `Origin: null`.
pub fn posted_from_portal(headers: &HeaderMap, portal: &str) -> bool {
    header_str(headers, "sec-fetch-site").is_none_or(|site| site == "same-origin")
        && header_str(headers, header::ORIGIN).is_none_or(|origin| origin == portal)
}

/// Whether a POST may come from the portal's pages or from one of `others` (a partner's embed
/// origins): `Sec-Fetch-Site: same-origin` (also when a `no-referrer` page made its `Origin`
/// `null`), else an `Origin` that is the portal's or one of `others`. A request with neither
/// header is no browser's (browsers send `Origin` with every POST): a page cannot forge it.
pub fn posted_from(headers: &HeaderMap, portal: &str, others: &[String]) -> bool {
    let site = header_str(headers, "sec-fetch-site");
    if site == Some("same-origin") {
        return true;
    }
    match header_str(headers, header::ORIGIN) {
        Some(origin) => origin == portal || others.iter().any(|other| other == origin),
        None => site.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn posts_come_from_the_portal_its_partners_or_no_browser() {
        let portal = "https://portal.example";
        let partners = ["https://ehr.example".to_owned()];
        let allowed = |pairs| posted_from(&headers(pairs), portal, &partners);
        assert!(allowed(&[]), "curl");
        assert!(allowed(&[("origin", "https://portal.example")]));
        assert!(allowed(&[("origin", "https://ehr.example"), ("sec-fetch-site", "cross-site")]));
        assert!(allowed(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), "a no-referrer page");
        assert!(!allowed(&[("origin", "null")]));
        assert!(!allowed(&[("origin", "null"), ("sec-fetch-site", "cross-site")]));
        assert!(!allowed(&[("origin", "https://evil.example")]));
        assert!(!allowed(&[("origin", "https://portal.example.evil")]));
        assert!(!allowed(&[("sec-fetch-site", "cross-site")]));
    }
}
