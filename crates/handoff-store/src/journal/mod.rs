//! The journal's engines, one per backend, and the one place that picks between them.
//!
//! Each engine commits a batch in the same four steps, in one transaction: (1) it inserts the
//! batch's claims (`Write::claim`) and learns from the database which keys were new; (2)
//! `handoff_core::store::journal::settle` turns those answers into what the batch writes; (3) it
//! inserts the settled sessions, then the settled audit records, then adds those records to the
//! hourly rollup `audit_counts` (`Settled::counts`: one row per key, summed in Rust); (4) it
//! commits. A loser writes nothing, so it is counted nowhere. The engines
//! differ only in how they talk to the database:
//! - `sqlite`: a SQLite file, through one OS thread with rusqlite statements prepared once;
//! - `sqlx`: PostgreSQL, through the store's pool with one multi-row statement per table.
//!
//! Owns: which engine a store gets. Must not: decide who wins (`settle` does, on the database's
//! answers), or be chosen anew per commit.

mod sqlite;
mod sqlx;

use std::str::FromStr as _;
use std::sync::Arc;

use ::sqlx::sqlite::SqliteConnectOptions;
use handoff_core::store::{Journal, StoreResult};

use self::sqlite::SqliteWriter;
use self::sqlx::SqlxJournal;
use crate::backend;
use crate::sql::pool::Pool;

/// A stream's cursor moved after a delivery, fenced by the lease (`$n` as both engines bind it:
/// each parameter appears once, in order).
const MOVE_CURSOR: &str = "UPDATE audit_streams SET cursor_tx = $1, cursor_id = $2, failures = 0, last_error = NULL, \
     next_attempt_at = 0, last_delivered_at = COALESCE($3, last_delivered_at) WHERE id = $4 AND lease_owner = $5";

/// The journal for the store behind `pool`: the SQLite writer for the file at `sqlite_url`
/// (already normalised by the store) when the database is SQLite, else PostgreSQL's. In-memory
/// SQLite never gets here: `SqlStore::connect` refuses it.
pub(crate) fn open(sqlite_url: Option<&str>, pool: &Pool) -> StoreResult<Arc<dyn Journal>> {
    Ok(match sqlite_url {
        Some(url) => {
            let options = SqliteConnectOptions::from_str(url).map_err(backend)?;
            Arc::new(SqliteWriter::open(options.get_filename())?)
        }
        None => Arc::new(SqlxJournal::new(pool.clone())),
    })
}
