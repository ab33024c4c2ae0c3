//! The console's page shell: the document around every page (title, the stylesheet and the
//! script, the navigation, who is signed in with the sign-out button), and the two static files
//! it links, served by handoff with a long cache life under a versioned URL and an `ETag`.
//!
//! Must not: link a page that does not exist, or emit inline script or style (the console's CSP,
//! set through [`ConsolePage`], forbids both).

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::{Operator, FORM_TOKEN};
use crate::http::respond::ConsolePage;

pub const STYLESHEET: &str = "/admin/static/console.css";
pub const SCRIPT: &str = "/admin/static/console.js";

const CSS: Asset = Asset::new(include_str!("static/console.css"), "text/css; charset=utf-8");
const JS: Asset = Asset::new(include_str!("static/console.js"), "text/javascript; charset=utf-8");

/// The console's pages in navigation order: (label, path). Only pages that exist: each new page
/// adds its entry here.
const NAVIGATION: [(&str, &str); 8] = [
    ("Overview", "/admin"),
    ("Audit log", "/admin/audit"),
    ("Organizations", "/admin/organizations"),
    ("Partners", "/admin/partners"),
    ("Inbound", "/admin/integrations"),
    ("Suppliers", "/admin/suppliers"),
    ("Streams", "/admin/streams"),
    ("Signing keys", "/admin/keys"),
];

/// A console page: `main` inside the shell, with the navigation and the sign-out button when an
/// `operator` is signed in. `path` is the page's own path (the navigation marks it current).
pub fn page(status: StatusCode, title: &str, path: &str, operator: Option<&Operator>, main: Markup) -> Response {
    let document = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · handoff console" }
                link rel="stylesheet" href=(CSS.url(STYLESHEET));
                script src=(JS.url(SCRIPT)) defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="bar" {
                    a class="brand" href="/admin" { "handoff console" }
                    @if let Some(operator) = operator {
                        nav aria-label="Console" {
                            ul {
                                @for (label, target) in NAVIGATION {
                                    li { a href=(target) aria-current=[(target == path).then_some("page")] { (label) } }
                                }
                            }
                        }
                        div class="who" {
                            span { "Signed in as the operator (admin token)" }
                            form method="post" action="/admin/sign-out" {
                                input type="hidden" name=(FORM_TOKEN) value=(operator.form_token);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" { (main) }
            }
        }
    };
    let mut response = (status, Html(document.into_string())).into_response();
    response.extensions_mut().insert(ConsolePage);
    response
}

/// `GET /admin/static/console.css`
pub async fn stylesheet(headers: HeaderMap) -> Response {
    CSS.serve(&headers)
}

/// `GET /admin/static/console.js`
pub async fn script(headers: HeaderMap) -> Response {
    JS.serve(&headers)
}

/// A static file compiled into handoff, with a version (a hash of its bytes) for its URL and its
/// `ETag`: a changed file gets a new URL, so browsers may keep one for a year.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    version: u64,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        Self { body, content_type, version: fnv1a(body.as_bytes()) }
    }

    /// The versioned URL pages link.
    fn url(&self, path: &str) -> String {
        format!("{path}?v={:016x}", self.version)
    }

    fn serve(&self, headers: &HeaderMap) -> Response {
        let etag = format!("\"{:016x}\"", self.version);
        let cached = headers.get(header::IF_NONE_MATCH).is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
        let mut response = if cached {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
        if let Ok(etag) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, etag);
        }
        response
    }
}

/// FNV-1a (64 bits): a cache key for a file's bytes, computed at compile time (no secrecy needed).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}
