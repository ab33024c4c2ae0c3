//! Adapters below the services: the cached store, group commit, signing keys, the master key's
//! uses, the upstream and supplier HTTP clients, telemetry, connection caps and the TLS listener's
//! certificate.
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
pub mod tls;
pub mod upstream;
