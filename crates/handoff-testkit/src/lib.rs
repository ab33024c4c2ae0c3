//! What more than one test suite needs and no suite may own: a dev-dependency only, never
//! published, never linked into the binary.
//!
//! Owns: starting and removing test infrastructure (a throwaway PostgreSQL cluster, a PgBouncer
//! in front of it), loopback ports.
//! Must not: know handoff's types or schema (each suite migrates and fills its own database).
// A helper that cannot set up fails the test that called it: panicking is how it reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod pgbouncer;
pub mod postgres;

/// A loopback port nothing listens on (it was free a moment ago): for a server told where to
/// listen, or an address that refuses connections.
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
