//! The handoff server: one module per surface, thin handlers over `handoff-core` and the store.
//!
//! Owns: HTTP routing, configuration, boot, rendering of problems and pages, the audit trail of
//! every request. Must not: hold SQL (that is `handoff-store`) or policy that can be expressed
//! without I/O (that is `handoff-core`).

mod admin;
pub mod app;
mod cache;
pub mod config;
mod connections;
mod csrf;
pub mod demo;
mod error;
mod extract;
mod inbound;
mod journal;
mod keyring;
mod metrics;
mod openapi;
mod ops;
mod outbound;
mod partner_api;
mod portal;
mod proxy;
mod ratelimit;
mod sso;
pub mod state;
mod views;
mod web;

pub use app::{App, BootError, OfflineKeys};
pub use config::{ConfigLayer, Settings};
