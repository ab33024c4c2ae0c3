//! What more than one test suite needs and no suite may own: a dev-dependency only, never
//! published, never linked into the binary.
//!
//! Owns: starting and removing test infrastructure (a throwaway PostgreSQL cluster).
//! Must not: know handoff's types or schema (each suite migrates and fills its own database).
// A helper that cannot set up fails the test that called it: panicking is how it reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod postgres;
