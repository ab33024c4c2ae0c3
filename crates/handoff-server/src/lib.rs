//! The handoff server, in floors: `app` (boot) over `router` over `openapi` over `http` (the
//! surfaces) over `services` (the domain services) over `infra` (adapters), with `config` and
//! `error` as leaves. A file imports only from floors below it or its own folder's leaves
//! (`.ci/layers` checks it); `ARCHITECTURE.md` walks through them.
//!
//! Owns: HTTP routing, configuration, boot, rendering of problems and pages, the audit trail of
//! every request. Must not: hold SQL (that is `handoff-store`) or policy that can be expressed
//! without I/O (that is `handoff-core`).

pub mod app;
pub mod config;
mod error;
mod http;
mod infra;
mod openapi;
mod router;
mod services;

pub use app::{App, BootError, OfflineKeys};
pub use config::{ConfigLayer, Settings};
pub use services::demo;
pub use services::{AuditPurge, Services, PURGE_BATCH};
