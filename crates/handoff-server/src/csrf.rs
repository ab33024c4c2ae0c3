//! Cross-site request forgery defences of the portal's own forms (the launch confirmation, the
//! sign-in switch confirmation, sign-out): form tokens bound to a session, and what a browser
//! says about where a request came from (`Sec-Fetch-Site`, `Origin`, `Referer`: headers no page
//! script can set).
//!
//! Must not: accept a form token of another session or purpose, or let a page of another site
//! pass for the portal's own.

use axum::http::header::{self, HeaderMap};
use handoff_core::crypto::MasterKey;
use handoff_core::model::Session;

use crate::state::AppState;

/// What a form token is for: signed in with it, so a token of one form is refused by another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Launching into a supplier; the subject is the supplier's slug.
    Launch,
    /// Replacing the session by a sign-in link's; the subject is the link's `jti`.
    Switch,
}

impl Purpose {
    fn context(self) -> &'static str {
        match self {
            Self::Launch => "handoff:launch",
            Self::Switch => "handoff:switch",
        }
    }
}

/// The form token for `purpose` and `subject` in `session`: a MAC of the three under a key
/// derived from the master key (the same on every node, in no database; the session's stored
/// digest would not do, as whoever reads the database has it). It works for no other session,
/// purpose or subject, and the form is refused once its session ends.
pub fn form_token(master: &MasterKey, session: &Session, purpose: Purpose, subject: &str) -> String {
    let id = session.id.as_uuid();
    master.form_mac(&[purpose.context().as_bytes(), id.as_bytes(), subject.as_bytes()])
}

/// Whether `token` is `session`'s form token for `purpose` and `subject` (constant time).
pub fn form_token_matches(master: &MasterKey, session: &Session, purpose: Purpose, subject: &str, token: &str) -> bool {
    let id = session.id.as_uuid();
    master.form_mac_matches(&[purpose.context().as_bytes(), id.as_bytes(), subject.as_bytes()], token)
}

/// The portal's origin as browsers write it (`https://portal.example.com`).
pub fn portal_origin(state: &AppState) -> String {
    url::Url::parse(&state.settings.public_url.base)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| state.settings.public_url.base.clone())
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

    fn session(secret: &str) -> Session {
        Session {
            id: handoff_core::ids::SessionId::new(),
            secret_digest: handoff_core::secret::SecretDigest::of(secret),
            user_id: handoff_core::ids::UserId::new(),
            organization_id: handoff_core::ids::OrganizationId::new(),
            partner_id: None,
            embed: false,
            created_at: 0,
            last_seen_at: 0,
            expires_at: 1,
        }
    }

    #[test]
    fn a_form_token_is_bound_to_its_session_purpose_and_subject() {
        let (mine, other) = (session("a"), session("b"));
        let (master, another_master) = (MasterKey::generate().0, MasterKey::generate().0);
        let token = form_token(&master, &mine, Purpose::Launch, "lab");
        assert!(form_token_matches(&master, &mine, Purpose::Launch, "lab", &token));
        assert!(!form_token_matches(&master, &other, Purpose::Launch, "lab", &token));
        assert!(!form_token_matches(&master, &mine, Purpose::Launch, "lab2", &token));
        assert!(!form_token_matches(&master, &mine, Purpose::Switch, "lab", &token));
        assert!(!form_token_matches(&master, &mine, Purpose::Launch, "lab", ""));
        // The key is the server's, not anything the database holds.
        assert!(!form_token_matches(&another_master, &mine, Purpose::Launch, "lab", &token));
    }

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
