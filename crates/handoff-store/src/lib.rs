//! Store backends: the `handoff_core::store` traits over sqlx, for SQLite and PostgreSQL, with
//! SQLite's journal over rusqlite.
//!
//! Owns: connection set-up, migrations (embedded, one directory per backend), the SQL, and
//! moving a database between backends or into a backup file (`transfer`).
//! Must not: decide policy (what is allowed is `handoff-core`'s and the server's business).

/// The columns an audit record is inserted with, in bind order, for both write paths.
macro_rules! audit_columns {
    () => {
        "at, kind, outcome, reason, partner_id, organization_id, user_id, client_addr, request_id, detail"
    };
}

/// The columns a session is inserted with, in bind order, for both write paths.
macro_rules! session_columns {
    () => {
        "id, secret_digest, user_id, organization_id, partner_id, embed, created_at, last_seen_at, expires_at"
    };
}

/// How a batch's rollup rows meet the hour's rows already counted, for both write paths.
macro_rules! count_audits_conflict {
    () => {
        "ON CONFLICT (hour, kind, outcome, reason) DO UPDATE SET count = audit_counts.count + excluded.count"
    };
}

/// The key of PostgreSQL's advisory lock that one node at a time prunes the audit log under
/// (`b"handoff\x01"` as a big-endian number), as a literal for the SQL.
macro_rules! audit_prune_lock {
    () => {
        "7521414230330205697"
    };
}

mod journal;
mod sql;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use handoff_core::store::{Store, StoreError};

pub use sql::{Dialect, SqlStore};

/// The advisory lock key the audit prune takes on PostgreSQL (`pg_try_advisory_xact_lock`), for
/// operators who look at `pg_locks` and for tests that hold it.
pub const AUDIT_PRUNE_LOCK: i64 = 7_521_414_230_330_205_697;

/// Connection pool settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections this node keeps at most.
    pub max_connections: u32,
    /// How long a request waits for a connection (a free one, or a new one to a database that
    /// is down) before its store call fails as unavailable.
    pub acquire_timeout: Duration,
    /// How long start-up waits for an unreachable database before giving up.
    pub connect_timeout: Duration,
    /// Whether PostgreSQL keeps prepared statements per connection (sqlx's cache). Off behind a
    /// transaction-pooling PgBouncer: every statement is then unnamed and in a transaction.
    pub statement_cache: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(30),
            statement_cache: true,
        }
    }
}

/// Opens the store named by `database_url` and brings its schema up to date.
pub async fn connect(database_url: &str, settings: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    let store = SqlStore::connect(database_url, settings).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

/// A database error: `Unavailable` when the database cannot be reached, else `Backend`.
fn backend(err: sqlx::Error) -> StoreError {
    if is_unreachable(&err) {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Backend(err.to_string())
    }
}

/// A failure that is not the database's answer (a file, a decoding, a broken rule).
fn failure(err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(err.to_string())
}

/// Whether `err` says the database is out of reach rather than that a statement failed: no
/// connection (refused, reset, closed), none free within the acquire timeout, or a server that
/// is shutting down, starting up or lost its connection (SQLSTATE class 08, 57P01–57P03).
fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`, anything else as [`backend`] does.
fn conflict_or_backend(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => backend(err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_prune_lock_key_is_one_number() {
        assert_eq!(audit_prune_lock!(), super::AUDIT_PRUNE_LOCK.to_string());
        assert_eq!(super::AUDIT_PRUNE_LOCK.to_be_bytes(), *b"handoff\x01");
    }
}
