//! The storage backend a test runs against. `backend_tests!` turns each test into two, one per
//! backend (`…::sqlite` and `…::postgres`), so the suite is written once and run on both.
//!
//! PostgreSQL tests start a throwaway cluster per test (`handoff_testkit::postgres`). Without the
//! binaries they print SKIPPED; under `CI` they fail instead.

use std::future::Future;

use handoff_testkit::postgres::Cluster;

/// Generates a SQLite and a PostgreSQL variant of every test in the block.
macro_rules! backend_tests {
    ($( $(#[$attr:meta])* async fn $name:ident() $body:block )*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$attr])*
            async fn sqlite() {
                crate::backend::Backend::Sqlite.scope(async move $body).await
            }

            $(#[$attr])*
            async fn postgres() {
                if handoff_testkit::postgres::available() {
                    crate::backend::Backend::Postgres.scope(async move $body).await
                }
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

impl Backend {
    /// Runs `test` with this backend as the current one.
    pub async fn scope<F: Future<Output = ()>>(self, test: F) {
        BACKEND.scope(self, test).await
    }

    /// The backend of the running test (SQLite outside `backend_tests!`).
    pub fn current() -> Backend {
        BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
    }

    /// A database for one server: `None` for SQLite (the data directory's file), or a running
    /// PostgreSQL server whose URL to use.
    pub fn database(self) -> Option<Cluster> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Cluster::start()),
        }
    }
}
