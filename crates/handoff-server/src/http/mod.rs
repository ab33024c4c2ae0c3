//! The HTTP surfaces: each extracts what a request says, calls one service and renders the
//! answer. No SQL, no policy, no cache; surfaces never import each other.
//!
//! Shared leaves: `state` (the router state), `extract` (request pieces), `respond` (problem
//! rendering and security headers), `cookies` (the session cookies), `origin` (where a browser
//! says a request came from), `refusals` (the OpenAPI refusal sets), `pages` (built-in HTML),
//! `views` (model → wire) and `query` (paging parameters).

pub mod admin;
pub mod console;
pub mod cookies;
pub mod extract;
pub mod inbound;
pub mod metrics;
pub mod ops;
pub mod origin;
pub mod outbound;
pub mod pages;
pub mod partner;
pub mod portal;
pub mod proxy;
pub mod query;
pub mod refusals;
pub mod respond;
pub mod state;
pub mod views;
