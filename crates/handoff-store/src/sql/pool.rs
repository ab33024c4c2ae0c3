//! The pool as every statement of the store meets it: sqlx's pool as it is, or — behind a
//! transaction-pooling PgBouncer (`database_statement_cache = false`) — one that runs each
//! statement unnamed and inside a transaction.
//!
//! Why both: sqlx sends a statement in two round trips (Parse + Describe + Sync, then Bind +
//! Execute + Sync). Between them PgBouncer < 1.21 in transaction mode may hand the client's next
//! message to another server connection, where a named statement does not exist (or another
//! client's of the same name does) and the unnamed statement is someone else's. Inside a
//! transaction PgBouncer keeps the server connection, and an unnamed statement ends with it.
//! `statement-cache-capacity=0` alone is not enough: sqlx 0.8 still names every statement.
//!
//! Owns: that choice, made once at connect. Must not: be bypassed by a store method (`transfer`
//! and the migrator use the raw pool: they run against PostgreSQL itself, never a pooler).

use std::fmt;
use std::pin::Pin;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, Stream, StreamExt as _};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyPool, Describe, Either, Execute, Executor};

type Step = Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>;

/// The store's pool; `pinned` when every statement must be unnamed and in a transaction.
#[derive(Clone)]
pub(crate) struct Pool {
    pub(crate) raw: AnyPool,
    pinned: bool,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("pinned", &self.pinned).finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(raw: AnyPool, pinned: bool) -> Self {
        Self { raw, pinned }
    }

    /// Whether every statement runs unnamed and in a transaction.
    pub(crate) fn pinned(&self) -> bool {
        self.pinned
    }

    /// A transaction whose statements are unnamed when the pool is pinned.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx { tx: self.raw.begin().await?, persistent: !self.pinned })
    }
}

/// A transaction of the store's [`Pool`].
pub(crate) struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    persistent: bool,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx").field("persistent", &self.persistent).finish_non_exhaustive()
    }
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// A statement run as given, or unnamed (`persistent` false).
struct Statement<E> {
    query: E,
    persistent: bool,
}

impl<'q, E: Execute<'q, Any>> Execute<'q, Any> for Statement<E> {
    fn sql(&self) -> &'q str {
        self.query.sql()
    }

    fn statement(&self) -> Option<&AnyStatement<'q>> {
        self.query.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<sqlx::any::AnyArguments<'q>>, sqlx::error::BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.persistent && self.query.persistent()
    }
}

/// Runs `query` unnamed in a transaction of its own and answers all its results.
async fn pinned<'q, E: 'q + Execute<'q, Any>>(pool: &AnyPool, query: E) -> Result<Vec<Step>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let steps: Vec<Step> = (&mut *tx).fetch_many(Statement { query, persistent: false }).collect().await;
    if steps.iter().all(Result::is_ok) {
        tx.commit().await?;
    }
    Ok(steps)
}

impl<'c> Executor<'c> for &'c Pool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> Pin<Box<dyn Stream<Item = Step> + Send + 'e>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !self.pinned {
            return self.raw.fetch_many(query);
        }
        let steps = stream::once(pinned(&self.raw, query)).map(|all| match all {
            Ok(steps) => stream::iter(steps),
            Err(err) => stream::iter(vec![Err(err)]),
        });
        Box::pin(steps.flatten())
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !self.pinned {
            return self.raw.fetch_optional(query);
        }
        Box::pin(async move {
            let mut tx = self.raw.begin().await?;
            let row = (&mut *tx).fetch_optional(Statement { query, persistent: false }).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.raw.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.raw.describe(sql)
    }
}

impl<'t> Executor<'t> for &'t mut Tx {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> Pin<Box<dyn Stream<Item = Step> + Send + 'e>>
    where
        't: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let persistent = self.persistent;
        (&mut *self.tx).fetch_many(Statement { query, persistent })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let persistent = self.persistent;
        (&mut *self.tx).fetch_optional(Statement { query, persistent })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        't: 'e,
    {
        (&mut *self.tx).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        't: 'e,
    {
        (&mut *self.tx).describe(sql)
    }
}
