//! handoff's domain: the values every surface agrees on, and nothing that performs I/O.
//!
//! Owns: typed ids, generated secrets and their digests, the redirect-path policy, SSO token
//! claims with their signing keys, the master-key envelope, the `Clock`, the audit record's export formats, and the store
//! traits that backends implement. The wire types and problem types are `handoff-proto`'s, re-exported here.
//! Must not: open sockets or files, read the wall clock outside `SystemClock`, or log.

pub mod clock;
pub mod crypto;
pub mod export;
pub mod ids;
pub mod limits;
pub mod model;
pub mod names;
pub mod redirect;
pub mod secret;
pub mod stats;
pub mod store;
pub mod stream;
pub mod token;
pub mod webhook;

pub use clock::{Clock, SystemClock};
pub use handoff_proto::{problem, wire, Problem};
pub use ids::{OrganizationId, PartnerId, UserId};
pub use redirect::RedirectPath;
