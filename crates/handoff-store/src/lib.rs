//! Store backends: implementations of the `handoff_core::store` traits over sqlx.
//!
//! Owns: connection set-up, migrations (embedded, one directory per backend), the SQL.
//! Must not: decide policy (what is allowed is `handoff-core`'s and the server's business).

mod sqlite;

use std::sync::Arc;

use handoff_core::store::{Store, StoreError};

pub use sqlite::SqliteStore;

/// Opens the store named by `database_url` and brings its schema up to date.
pub async fn connect(database_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if database_url.starts_with("sqlite:") {
        let store = SqliteStore::connect(database_url).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database_url scheme (expected sqlite://…): {}",
            database_url.split(':').next().unwrap_or_default()
        )))
    }
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
