//! Store backends: the `handoff_core::store` traits over sqlx, for SQLite and PostgreSQL.
//!
//! Owns: connection set-up, migrations (embedded, one directory per backend), the SQL.
//! Must not: decide policy (what is allowed is `handoff-core`'s and the server's business).

mod sql;
mod sqlite_journal;

use std::sync::Arc;
use std::time::Duration;

use handoff_core::store::{Store, StoreError};

pub use sql::{Dialect, SqlStore};

/// Connection pool settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections this node keeps at most.
    pub max_connections: u32,
    /// How long start-up waits for an unreachable database before giving up.
    pub connect_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 8, connect_timeout: Duration::from_secs(30) }
    }
}

/// Opens the store named by `database_url` and brings its schema up to date.
pub async fn connect(database_url: &str, settings: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    let store = SqlStore::connect(database_url, settings).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

fn backend(err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(err.to_string())
}

/// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Backend`.
fn conflict_or_backend(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => backend(err),
    }
}
