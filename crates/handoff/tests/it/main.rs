//! handoff's integration suite: real servers on loopback ports, a real SQLite file per test,
//! driven over HTTP (through the SDK where it fits). One test binary for link time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod backend;
mod harness;

mod admin;
mod audit_export;
mod backup;
mod bounds;
mod browser;
mod console;
mod console_audit;
mod console_browser;
mod console_overview;
mod console_resources;
mod crash;
mod db_copy;
mod demo;
mod inbound;
mod launch;
mod lifecycle;
mod metrics;
mod multinode;
mod nginx;
mod outage;
mod packaging;
mod partner_sso;
mod pg_tls;
mod pgbouncer;
mod portal;
mod proxy;
mod redirect_paths;
mod retention;
mod schema;
mod secrets;
mod standard_webhooks;
mod stats;
mod streams;
mod streams_crash;
mod streams_webhook;
mod tls;
mod upstream;
mod users_api;
