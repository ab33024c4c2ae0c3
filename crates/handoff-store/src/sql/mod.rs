//! The store over sqlx's `Any` driver: one implementation of every store trait, for SQLite and
//! PostgreSQL alike. The SQL is written once, in the dialect both accept (`$n` parameters,
//! `ON CONFLICT DO NOTHING`, `CAST`); the one expression that differs is chosen by [`Dialect`].
//!
//! SQLite runs with a WAL journal and `synchronous = FULL`, so an acknowledged redemption
//! survives a crash or power loss; PostgreSQL's defaults already are that durable.
//! Single use and replay refusal rest on primary keys, which hold across any number of nodes.
//!
//! Owns: connecting (and picking the journal engine, once), migrations, the queries of every
//! trait but the journal's (one file per trait; row decoding in `rows`). Must not: write the
//! journal's batches itself (`crate::journal` does), or branch on the backend beyond [`Dialect`].

mod audit;
mod inbound;
mod keys;
mod operator_sessions;
mod organizations;
mod partners;
pub(crate) mod pool;
pub(crate) mod rows;
mod sessions;
mod stats;
mod streams;
mod suppliers;
mod throttle;
mod users;

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use handoff_core::ids::{OrganizationId, StreamId};
use handoff_core::model::{Organization, PageRequest, SealedSecrets};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{Journal, Store, StoreError, StoreResult, Write};
use handoff_core::stream::{Cursor, StreamRecord};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Executor as _, Row};

use self::pool::Pool;
use self::rows::previous_parts;
use crate::{backend, failure, journal, PoolSettings};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The SQL dialect behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of(database_url: &str) -> Option<Self> {
        if database_url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Dialect::Sqlite => &SQLITE_MIGRATOR,
            Dialect::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// The statement that takes the audit prune lock for the rest of the transaction, answering
    /// whether it got it: PostgreSQL's transaction-level advisory lock (released at commit, so it
    /// holds behind a transaction-pooling PgBouncer; a session-level lock would not). SQLite
    /// needs none: one node, and its writers take turns anyway.
    fn prune_lock(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(concat!("SELECT pg_try_advisory_xact_lock(", audit_prune_lock!(), ")")),
        }
    }

    /// The records after a stream's cursor `($1, $2)` (a stream's lag; the journal's engines
    /// read its pages with the same predicates). PostgreSQL: `(tx, id)` after the cursor, through
    /// the index on `(tx, id)`. SQLite: one writer, so id order is commit order and `tx` is
    /// always 0 — the rowid range alone, with no second index on the log for every insert to pay.
    fn stream_after(self) -> &'static str {
        match self {
            Dialect::Sqlite => "tx = $1 AND id > $2",
            Dialect::Postgres => "(tx, id) > ($1, $2)",
        }
    }

    /// A new stream's cursor `(tx, id)`: after every record that is final now.
    fn stream_head(self) -> &'static str {
        match self {
            Dialect::Sqlite => "0, COALESCE((SELECT MAX(id) FROM audit_log), 0)",
            Dialect::Postgres => "pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1, 9223372036854775807",
        }
    }

    /// A JSON array text of an organization's numbers (alias `o`).
    fn org_numbers(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "(SELECT json_group_array(org_number) FROM \
                 (SELECT org_number FROM organization_numbers n WHERE n.organization_id = o.id ORDER BY org_number))"
            }
            Dialect::Postgres => {
                "(SELECT COALESCE(json_agg(org_number ORDER BY org_number)::text, '[]') FROM organization_numbers n \
                 WHERE n.organization_id = o.id)"
            }
        }
    }
}

#[derive(Clone)]
pub struct SqlStore {
    pool: Pool,
    dialect: Dialect,
    /// The backend's journal engine, picked once by [`SqlStore::connect`].
    journal: Arc<dyn Journal>,
}

/// The pragmas every SQLite connection runs with.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

impl SqlStore {
    /// Connects, retrying a database that is not up yet until `settings.connect_timeout`.
    pub async fn connect(database_url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(database_url)
            .ok_or_else(|| StoreError::Backend("database_url must start with sqlite:// or postgres://".into()))?;
        if dialect == Dialect::Sqlite && (database_url.contains(":memory:") || database_url.contains("mode=memory")) {
            // sqlx gives every pooled connection a database of its own, and the journal would
            // write to a stray file: nothing would be where it was written.
            return Err(failure(
                "an in-memory SQLite database cannot hold handoff's data (each connection would get its own): \
                 use a file, e.g. sqlite:///var/lib/handoff/handoff.db",
            ));
        }
        let url = match dialect {
            Dialect::Sqlite if !database_url.contains('?') => format!("{database_url}?mode=rwc"),
            _ => database_url.to_owned(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        connection.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            });
        let deadline = tokio::time::Instant::now() + settings.connect_timeout;
        let pool = loop {
            match options.clone().connect(&url).await {
                Ok(pool) => break pool,
                Err(err) if tokio::time::Instant::now() < deadline && is_transient(&err) => {
                    tracing::warn!(%err, "the database is not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) if is_tls_failure(&err) => {
                    return Err(failure(format!(
                        "cannot connect to the database over TLS ({err}): the server must offer TLS, sslrootcert= \
                         must name the CA that signed its certificate, and the host in database_url must be one \
                         the certificate names (sqlx checks it under verify-ca too: launchbadge/sqlx#3793)"
                    )))
                }
                Err(err) => return Err(failure(format!("cannot connect to the database: {err}"))),
            }
        };
        let pool = Pool::new(pool, dialect == Dialect::Postgres && !settings.statement_cache);
        let journal = journal::open((dialect == Dialect::Sqlite).then_some(url.as_str()), &pool)?;
        Ok(Self { pool, dialect, journal })
    }

    /// The pool, for `crate::transfer`, which reads and writes tables no trait names.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool.raw
    }

    /// Like [`SqlStore::connect`], for commands that read an installation in place (`handoff
    /// audit export`): a SQLite file that does not exist is an error instead of a new, empty
    /// database, and nothing is migrated.
    pub async fn open_existing(database_url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        if Dialect::of(database_url) == Some(Dialect::Sqlite) {
            let options = SqliteConnectOptions::from_str(database_url).map_err(backend)?;
            let path = options.get_filename();
            if !path.exists() {
                return Err(failure(format!("there is no database at {}", path.display())));
            }
        }
        Self::connect(database_url, settings).await
    }

    /// Applies pending migrations. Behind a transaction pooler (statement cache off) it only
    /// checks that none is pending: the migrator's session lock and named statements need
    /// PostgreSQL itself, so `handoff migrate` runs against it directly.
    pub async fn migrate(&self) -> StoreResult<()> {
        if !self.pool.pinned() {
            return self.dialect.migrator().run(&self.pool.raw).await.map_err(failure);
        }
        let pending: Vec<i64> =
            self.migration_status().await?.into_iter().filter(|m| !m.2).map(|(version, ..)| version).collect();
        if pending.is_empty() {
            return Ok(());
        }
        Err(failure(format!(
            "migrations {pending:?} are pending, and with database_statement_cache = false (behind a transaction \
             pooler) handoff does not migrate at start-up: run `handoff migrate --database-url <PostgreSQL itself, \
             not the pooler> --database-statement-cache true` first"
        )))
    }

    /// Every known migration with whether it is applied: (version, description, applied).
    pub async fn migration_status(&self) -> StoreResult<Vec<(i64, String, bool)>> {
        let applied: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .map(|rows| rows.iter().filter_map(|row| row.try_get::<i64, _>("version").ok()).collect())
            .unwrap_or_default();
        Ok(self
            .dialect
            .migrator()
            .iter()
            .map(|m| (m.version, m.description.to_string(), applied.contains(&m.version)))
            .collect())
    }

    /// At most one row for `sql` with one text parameter.
    async fn fetch_one<T>(&self, sql: &str, param: &str, map: fn(&AnyRow) -> StoreResult<T>) -> StoreResult<Option<T>> {
        sqlx::query(sql).bind(param).fetch_optional(&self.pool).await.map_err(backend)?.as_ref().map(map).transpose()
    }

    /// A keyset page for `sql`, whose two parameters are the cursor and the limit.
    async fn fetch_page<T>(
        &self,
        sql: &str,
        page: &PageRequest,
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        sqlx::query(sql)
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page_limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(map)
            .collect()
    }

    /// `table` is one of this module's table names, never input.
    async fn set_credential(
        &self,
        table: &'static str,
        id: String,
        expected: &SecretDigest,
        c: &Credential,
    ) -> StoreResult<bool> {
        let (prev, prev_at) = previous_parts(c);
        let done = sqlx::query(&format!(
            "UPDATE {table} SET secret_digest = $1, previous_secret_digest = $2, previous_secret_expires_at = $3 \
             WHERE id = $4 AND secret_digest = $5"
        ))
        .bind(c.current.as_bytes().as_slice())
        .bind(prev)
        .bind(prev_at)
        .bind(id)
        .bind(expected.as_bytes().as_slice())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// `table` is one of this module's table names, never input.
    async fn set_sealed_secrets(
        &self,
        table: &'static str,
        id: String,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool> {
        let (previous, previous_at) = secrets.previous.clone().unzip();
        let done = sqlx::query(&format!(
            "UPDATE {table} SET secret_sealed = $1, previous_secret_sealed = $2, previous_secret_expires_at = $3 \
             WHERE id = $4 AND secret_sealed = $5"
        ))
        .bind(&secrets.current)
        .bind(previous)
        .bind(previous_at)
        .bind(id)
        .bind(expected)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// `table` is one of this module's table names, never input.
    async fn delete_by_id(&self, table: &'static str, id: String) -> StoreResult<bool> {
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}

/// Refused connections and DNS failures are worth waiting out at start-up; bad credentials and a
/// refused certificate are not (a wrong CA or host name does not fix itself).
fn is_transient(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) && !is_tls_failure(err)
}

/// A failed TLS handshake or a server without TLS under `sslmode=require` or stricter. rustls
/// reports a refused certificate as an I/O error of kind `InvalidData` (a plain socket never
/// does), sqlx the rest as `Tls`.
fn is_tls_failure(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

fn page_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, 1000))
}

/// The link tables between an owner (a partner, an integration) and the organizations it serves:
/// (table, owner column). Never input.
const PARTNER_LINKS: (&str, &str) = ("partner_organizations", "partner_id");
const INTEGRATION_LINKS: (&str, &str) = ("integration_organizations", "integration_id");

impl SqlStore {
    async fn link_rows(
        &self,
        (table, owner): (&str, &str),
        id: String,
        org: OrganizationId,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO {table} ({owner}, organization_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        ))
        .bind(id)
        .bind(org.to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn is_linked_row(&self, (table, owner): (&str, &str), id: String, org: OrganizationId) -> StoreResult<bool> {
        let row = sqlx::query(&format!("SELECT 1 FROM {table} WHERE {owner} = $1 AND organization_id = $2"))
            .bind(id)
            .bind(org.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    /// The organizations linked to `id` in one read, ordered by id.
    async fn linked_rows(&self, (table, owner): (&str, &str), id: String) -> StoreResult<Vec<Organization>> {
        let sql = format!(
            "SELECT {} FROM organizations o WHERE o.id IN (SELECT organization_id FROM {table} WHERE {owner} = $1) \
             ORDER BY o.id",
            self.organization_columns()
        );
        let rows = sqlx::query(&sql).bind(id).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(rows::organization).collect()
    }
}

/// Deletes one link row.
async fn unlink_row<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    (table, owner): (&str, &str),
    id: &str,
    org: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE {owner} = $1 AND organization_id = $2"))
        .bind(id)
        .bind(org)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl Journal for SqlStore {
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        self.journal.commit(writes).await
    }

    async fn records_after(&self, after: Cursor, limit: u32) -> StoreResult<Vec<StreamRecord>> {
        self.journal.records_after(after, limit).await
    }

    async fn move_cursor(
        &self,
        stream: StreamId,
        owner: &str,
        to: Cursor,
        delivered_at: Option<i64>,
    ) -> StoreResult<bool> {
        self.journal.move_cursor(stream, owner, to, delivered_at).await
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }

    fn connections(&self) -> (u32, u32) {
        (self.pool.raw.size(), u32::try_from(self.pool.raw.num_idle()).unwrap_or(u32::MAX))
    }
}
