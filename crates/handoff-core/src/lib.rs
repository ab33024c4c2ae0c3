//! handoff's domain: the values every surface agrees on, and nothing that performs I/O.
//!
//! Owns: typed ids, generated secrets and their digests, the redirect-path policy, SSO token
//! claims with their signing keys, the master-key envelope, problem types, the `Clock`, the wire
//! types shared by server, SDK and CLI, and the store traits that backends implement.
//! Must not: open sockets or files, read the wall clock outside `SystemClock`, or log.

pub mod clock;
pub mod crypto;
pub mod ids;
pub mod model;
pub mod problem;
pub mod redirect;
pub mod secret;
pub mod store;
pub mod token;
pub mod webhook;
pub mod wire;

pub use clock::{Clock, SystemClock};
pub use ids::{OrganizationId, PartnerId, UserId};
pub use problem::Problem;
pub use redirect::RedirectPath;
