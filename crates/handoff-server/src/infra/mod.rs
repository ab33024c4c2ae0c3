//! Adapters below the services: the cached store, group commit, signing keys, the master key's
//! uses, the upstream and supplier HTTP clients, telemetry and connection caps.
//!
//! Must not: import `services`, `http`, `openapi`, `router` or `app`; decide policy.

pub mod cache;
pub mod cached_store;
pub mod connections;
pub mod group_commit;
pub mod keyring;
pub mod sealer;
pub mod ssrf;
pub mod streams;
pub mod telemetry;
pub mod upstream;
