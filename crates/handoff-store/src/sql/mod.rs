//! The store over sqlx's `Any` driver: one implementation of every store trait, for SQLite and
//! PostgreSQL alike. The SQL is written once, in the dialect both accept (`$n` parameters,
//! `ON CONFLICT DO NOTHING`, `CAST`); the one expression that differs is chosen by [`Dialect`].
//!
//! SQLite runs with a WAL journal and `synchronous = FULL`, so an acknowledged redemption
//! survives a crash or power loss; PostgreSQL's defaults already are that durable.
//! Single use and replay refusal rest on primary keys, which hold across any number of nodes.

mod audit;
mod inbound;
mod keys;
mod organizations;
mod partners;
mod rows;
mod sessions;
mod suppliers;
mod throttle;
mod users;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use handoff_core::ids::OrganizationId;
use handoff_core::model::{AuditEvent, Outcome, PageRequest, SealedSecrets, Session};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{Journal, Store, StoreError, StoreResult, Write};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Executor as _, Row};

use self::rows::{parse, previous_parts};
use crate::sqlite_journal::SqliteJournal;
use crate::{backend, PoolSettings};

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

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite's journal writes go through their own connection and thread.
    sqlite_journal: Option<Arc<SqliteJournal>>,
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
            return Err(backend(
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
            .acquire_timeout(Duration::from_secs(10))
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
                Err(err) => return Err(backend(format!("cannot connect to the database: {err}"))),
            }
        };
        let sqlite_journal = match dialect {
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(&url).map_err(backend)?;
                Some(Arc::new(SqliteJournal::open(options.get_filename())?))
            }
            Dialect::Postgres => None,
        };
        Ok(Self { pool, dialect, sqlite_journal })
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        self.dialect.migrator().run(&self.pool).await.map_err(backend)
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

/// Refused connections and DNS failures are worth waiting out at start-up; bad credentials are not.
fn is_transient(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
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

    async fn linked_rows(&self, (table, owner): (&str, &str), id: String) -> StoreResult<Vec<OrganizationId>> {
        let rows =
            sqlx::query(&format!("SELECT organization_id FROM {table} WHERE {owner} = $1 ORDER BY organization_id"))
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        rows.iter().map(|row| parse(row.try_get("organization_id").map_err(backend)?)).collect()
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

/// `VALUES ($1, …), (…)` for `rows` rows of `columns` parameters.
fn values(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=columns).map(|c| format!("${}", row * columns + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends `events` with one statement.
async fn insert_audits(tx: &mut sqlx::Transaction<'_, Any>, events: &[&AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let sql = format!(concat!("INSERT INTO audit_log (", audit_columns!(), ") VALUES {}"), values(events.len(), 10));
    let mut query = sqlx::query(&sql);
    for e in events {
        query = query
            .bind(e.at)
            .bind(e.kind.as_str())
            .bind(e.outcome.map(Outcome::as_str))
            .bind(e.reason.as_str())
            .bind(e.partner_id.as_deref())
            .bind(e.organization_id.as_deref())
            .bind(e.user_id.as_deref())
            .bind(e.client_addr.as_deref())
            .bind(e.request_id.as_deref())
            .bind(e.detail.as_deref());
    }
    query.execute(&mut **tx).await.map_err(backend)?;
    Ok(())
}

/// Records the batch's event ids; the first occurrence of a new id wins.
async fn remember_events(
    tx: &mut sqlx::Transaction<'_, Any>,
    writes: &[Write],
    results: &mut [bool],
) -> StoreResult<()> {
    let events: Vec<(usize, String, &str, i64)> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w {
            Write::RememberEvent { integration, event_id, expires_at, .. } => {
                Some((i, integration.to_string(), event_id.as_str(), *expires_at))
            }
            _ => None,
        })
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO webhook_events (integration_id, event_id, expires_at) VALUES {} ON CONFLICT DO NOTHING \
         RETURNING integration_id, event_id",
        values(events.len(), 3)
    );
    let mut query = sqlx::query(&sql);
    for (_, integration, event_id, expires_at) in &events {
        query = query.bind(integration.as_str()).bind(*event_id).bind(*expires_at);
    }
    let mut new = HashSet::new();
    for row in query.fetch_all(&mut **tx).await.map_err(backend)? {
        new.insert((row.try_get::<String, _>(0).map_err(backend)?, row.try_get::<String, _>(1).map_err(backend)?));
    }
    for (i, integration, event_id, _) in events {
        results[i] = new.remove(&(integration, event_id.to_owned()));
    }
    Ok(())
}

/// Consumes the batch's tokens and opens sessions for the winners: the first consumption of a
/// `jti` ever, here or on any node, wins.
async fn redeem(tx: &mut sqlx::Transaction<'_, Any>, writes: &[Write], results: &mut [bool]) -> StoreResult<()> {
    let redeems: Vec<(usize, &str, i64, &Session)> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w {
            Write::Redeem { jti, token_expires_at, session, .. } => Some((i, jti.as_str(), *token_expires_at, session)),
            _ => None,
        })
        .collect();
    if redeems.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO consumed_tokens (jti, expires_at, consumed_at) VALUES {} ON CONFLICT DO NOTHING RETURNING jti",
        values(redeems.len(), 3)
    );
    let mut query = sqlx::query(&sql);
    for (_, jti, expires_at, session) in &redeems {
        query = query.bind(*jti).bind(*expires_at).bind(session.created_at);
    }
    let mut new = HashSet::new();
    for row in query.fetch_all(&mut **tx).await.map_err(backend)? {
        new.insert(row.try_get::<String, _>(0).map_err(backend)?);
    }
    let mut winners = Vec::new();
    for (i, jti, _, session) in redeems {
        results[i] = new.remove(jti);
        if results[i] {
            winners.push(session);
        }
    }
    if winners.is_empty() {
        return Ok(());
    }
    let sql = format!(concat!("INSERT INTO sessions (", session_columns!(), ") VALUES {}"), values(winners.len(), 9));
    let mut query = sqlx::query(&sql);
    for s in winners {
        query = query
            .bind(s.id.to_string())
            .bind(s.secret_digest.as_bytes().to_vec())
            .bind(s.user_id.to_string())
            .bind(s.organization_id.to_string())
            .bind(s.partner_id.map(|p| p.to_string()))
            .bind(s.embed)
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at);
    }
    query.execute(&mut **tx).await.map_err(backend)?;
    Ok(())
}

#[async_trait]
impl Journal for SqlStore {
    /// One statement per kind of write, whatever the batch size: remembered events and consumed
    /// tokens first (their primary keys decide who wins), then sessions, then audit records.
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        if let Some(journal) = &self.sqlite_journal {
            return journal.commit(writes).await;
        }
        let mut results = vec![true; writes.len()];
        let mut tx = self.pool.begin().await.map_err(backend)?;
        remember_events(&mut tx, &writes, &mut results).await?;
        redeem(&mut tx, &writes, &mut results).await?;
        // Losers of a redemption or a replay append nothing; audit writes always win.
        let audits: Vec<&AuditEvent> =
            writes.iter().zip(&results).filter(|(_, won)| **won).map(|(write, _)| write.audit()).collect();
        insert_audits(&mut tx, &audits).await?;
        tx.commit().await.map_err(backend)?;
        Ok(results)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }

    fn connections(&self) -> (u32, u32) {
        (self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX))
    }
}
