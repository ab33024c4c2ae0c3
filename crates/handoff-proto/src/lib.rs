//! handoff's wire protocol: the JSON bodies the server, the SDK and the CLI exchange, the
//! problem types with their stable slugs, and the error envelope. Serde only, so an integrator's
//! build of the SDK pulls in no cryptography, database or server code.
//!
//! Must not: depend on `handoff-core` or do any I/O.

pub mod problem;
pub mod wire;

pub use problem::Problem;
