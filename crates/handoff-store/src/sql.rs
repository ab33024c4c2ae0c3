//! The store over sqlx's `Any` driver: one implementation of every store trait, for SQLite and
//! PostgreSQL alike. The SQL is written once, in the dialect both accept (`$n` parameters,
//! `ON CONFLICT DO NOTHING`, `CAST`); the one expression that differs is chosen by [`Dialect`].
//!
//! SQLite runs with a WAL journal and `synchronous = FULL`, so an acknowledged redemption
//! survives a crash or power loss; PostgreSQL's defaults already are that durable.
//! Single use and replay refusal rest on primary keys, which hold across any number of nodes.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use handoff_core::ids::{IntegrationId, OrganizationId, PartnerId, SessionId, SupplierId, UserId};
use handoff_core::model::{
    AuditEvent, AuditFilter, AuditRecord, InboundIntegration, Organization, Outcome, PageRequest, Partner,
    SealedSecrets, Session, StatusSetter, Supplier, UnknownUserPolicy, User, UserStatus,
};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{
    Audit, Inbound, Journal, Keys, Organizations, Partners, Sessions, StatusChange, Store, StoreError, StoreResult,
    StoredKey, Suppliers, Throttle, Users, Write,
};
use handoff_core::token::KeyKind;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Executor as _, Row};

use crate::sqlite_journal::SqliteJournal;
use crate::{backend, conflict_or_backend, PoolSettings};

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

    pub fn dialect(&self) -> Dialect {
        self.dialect
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

fn parse<T: FromStr>(value: &str) -> StoreResult<T> {
    value.parse().map_err(|_| StoreError::Backend(format!("corrupt id in database: {value:?}")))
}

fn opt_parse<T: FromStr>(value: Option<String>) -> StoreResult<Option<T>> {
    value.as_deref().map(parse).transpose()
}

fn digest(bytes: &[u8]) -> StoreResult<SecretDigest> {
    SecretDigest::from_bytes(bytes).ok_or_else(|| StoreError::Backend("corrupt digest in database".into()))
}

fn json_list(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(backend)
}

fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

fn credential(row: &AnyRow) -> StoreResult<Credential> {
    let current = digest(&row.try_get::<Vec<u8>, _>("secret_digest").map_err(backend)?)?;
    let previous_digest: Option<Vec<u8>> = row.try_get("previous_secret_digest").map_err(backend)?;
    let previous_expires: Option<i64> = row.try_get("previous_secret_expires_at").map_err(backend)?;
    let previous = match (previous_digest, previous_expires) {
        (Some(d), Some(at)) => Some((digest(&d)?, at)),
        _ => None,
    };
    Ok(Credential { current, previous })
}

fn previous_parts(credential: &Credential) -> (Option<Vec<u8>>, Option<i64>) {
    match credential.previous {
        Some((d, at)) => (Some(d.as_bytes().to_vec()), Some(at)),
        None => (None, None),
    }
}

/// Refused connections and DNS failures are worth waiting out at start-up; bad credentials are not.
fn is_transient(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
}

/// A boolean column: `BOOLEAN` in PostgreSQL, an integer in SQLite.
fn flag(row: &AnyRow, column: &str) -> StoreResult<bool> {
    row.try_get::<bool, _>(column).or_else(|_| row.try_get::<i64, _>(column).map(|v| v != 0)).map_err(backend)
}

impl SqlStore {
    fn organization_columns(&self) -> String {
        format!(
            "o.id, o.name, o.secret_digest, o.previous_secret_digest, o.previous_secret_expires_at, o.created_at, \
             {} AS org_numbers",
            self.dialect.org_numbers()
        )
    }
}

fn organization(row: &AnyRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: parse(row.try_get("id").map_err(backend)?)?,
        name: row.try_get("name").map_err(backend)?,
        org_numbers: json_list(row.try_get("org_numbers").map_err(backend)?)?,
        credential: credential(row)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

fn partner(row: &AnyRow) -> StoreResult<Partner> {
    Ok(Partner {
        id: parse(row.try_get("id").map_err(backend)?)?,
        name: row.try_get("name").map_err(backend)?,
        embed_origins: json_list(row.try_get("embed_origins").map_err(backend)?)?,
        allowed_path_prefixes: json_list(row.try_get("allowed_path_prefixes").map_err(backend)?)?,
        credential: credential(row)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

fn user(row: &AnyRow) -> StoreResult<User> {
    let status: &str = row.try_get("status").map_err(backend)?;
    let set_by: Option<&str> = row.try_get("status_set_by").map_err(backend)?;
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt {what} in database"));
    Ok(User {
        id: parse(row.try_get("id").map_err(backend)?)?,
        organization_id: parse(row.try_get("organization_id").map_err(backend)?)?,
        email: row.try_get("email").map_err(backend)?,
        given_name: row.try_get("given_name").map_err(backend)?,
        family_name: row.try_get("family_name").map_err(backend)?,
        status: UserStatus::parse(status).ok_or_else(|| corrupt("status"))?,
        status_set_by: set_by.map(|by| StatusSetter::parse(by).ok_or_else(|| corrupt("status setter"))).transpose()?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

fn session(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        id: parse(row.try_get("id").map_err(backend)?)?,
        secret_digest: digest(&row.try_get::<Vec<u8>, _>("secret_digest").map_err(backend)?)?,
        user_id: parse(row.try_get("user_id").map_err(backend)?)?,
        organization_id: parse(row.try_get("organization_id").map_err(backend)?)?,
        partner_id: opt_parse(row.try_get("partner_id").map_err(backend)?)?,
        embed: flag(row, "embed")?,
        created_at: row.try_get("created_at").map_err(backend)?,
        last_seen_at: row.try_get("last_seen_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
    })
}

fn audit_record(row: &AnyRow) -> StoreResult<AuditRecord> {
    let outcome: Option<String> = row.try_get("outcome").map_err(backend)?;
    Ok(AuditRecord {
        id: row.try_get("id").map_err(backend)?,
        event: AuditEvent {
            at: row.try_get("at").map_err(backend)?,
            kind: row.try_get("kind").map_err(backend)?,
            outcome: outcome.as_deref().and_then(Outcome::parse),
            reason: row.try_get("reason").map_err(backend)?,
            partner_id: row.try_get("partner_id").map_err(backend)?,
            organization_id: row.try_get("organization_id").map_err(backend)?,
            user_id: row.try_get("user_id").map_err(backend)?,
            client_addr: row.try_get("client_addr").map_err(backend)?,
            request_id: row.try_get("request_id").map_err(backend)?,
            detail: row.try_get("detail").map_err(backend)?,
        },
    })
}

fn page_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, 1000))
}

#[async_trait]
impl Organizations for SqlStore {
    async fn create_organization(&self, o: &Organization) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let (prev, prev_at) = previous_parts(&o.credential);
        sqlx::query(
            "INSERT INTO organizations (id, name, secret_digest, previous_secret_digest, previous_secret_expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(o.id.to_string())
        .bind(&o.name)
        .bind(o.credential.current.as_bytes().as_slice())
        .bind(prev)
        .bind(prev_at)
        .bind(o.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or_backend(e, "organization id"))?;
        for number in &o.org_numbers {
            sqlx::query("INSERT INTO organization_numbers (org_number, organization_id) VALUES ($1, $2)")
                .bind(number)
                .bind(o.id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_or_backend(e, &format!("org number {number} is taken")))?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Option<Organization>> {
        let sql = format!("SELECT {} FROM organizations o WHERE o.id = $1", self.organization_columns());
        self.fetch_one(&sql, &id.to_string(), organization).await
    }

    async fn organization_by_number(&self, org_number: &str) -> StoreResult<Option<Organization>> {
        let sql = format!(
            "SELECT {} FROM organizations o \
             JOIN organization_numbers m ON m.organization_id = o.id WHERE m.org_number = $1",
            self.organization_columns()
        );
        self.fetch_one(&sql, org_number, organization).await
    }

    async fn organizations(&self, page: &PageRequest) -> StoreResult<Vec<Organization>> {
        let sql = format!(
            "SELECT {} FROM organizations o WHERE o.id > $1 ORDER BY o.id LIMIT $2",
            self.organization_columns()
        );
        self.fetch_page(&sql, page, organization).await
    }

    async fn set_organization_credential(
        &self,
        id: OrganizationId,
        expected: &SecretDigest,
        c: &Credential,
    ) -> StoreResult<bool> {
        self.set_credential("organizations", id.to_string(), expected, c).await
    }

    async fn delete_organization(&self, id: OrganizationId) -> StoreResult<bool> {
        self.delete_by_id("organizations", id.to_string()).await
    }
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

const PARTNER_COLUMNS: &str = "id, name, embed_origins, allowed_path_prefixes, secret_digest, \
    previous_secret_digest, previous_secret_expires_at, created_at";

#[async_trait]
impl Partners for SqlStore {
    async fn create_partner(&self, p: &Partner) -> StoreResult<()> {
        let (prev, prev_at) = previous_parts(&p.credential);
        sqlx::query(&format!("INSERT INTO partners ({PARTNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(p.id.to_string())
            .bind(&p.name)
            .bind(to_json(&p.embed_origins))
            .bind(to_json(&p.allowed_path_prefixes))
            .bind(p.credential.current.as_bytes().as_slice())
            .bind(prev)
            .bind(prev_at)
            .bind(p.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or_backend(e, "partner id"))?;
        Ok(())
    }

    async fn partner(&self, id: PartnerId) -> StoreResult<Option<Partner>> {
        self.fetch_one(&format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id = $1"), &id.to_string(), partner).await
    }

    async fn partners(&self, page: &PageRequest) -> StoreResult<Vec<Partner>> {
        let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id > $1 ORDER BY id LIMIT $2");
        self.fetch_page(&sql, page, partner).await
    }

    async fn set_partner_credential(
        &self,
        id: PartnerId,
        expected: &SecretDigest,
        c: &Credential,
    ) -> StoreResult<bool> {
        self.set_credential("partners", id.to_string(), expected, c).await
    }

    async fn delete_partner(&self, id: PartnerId) -> StoreResult<bool> {
        self.delete_by_id("partners", id.to_string()).await
    }

    async fn link(&self, partner: PartnerId, organization: OrganizationId, now: i64) -> StoreResult<()> {
        self.link_rows(PARTNER_LINKS, partner.to_string(), organization, now).await
    }

    async fn unlink(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool> {
        let (partner, organization) = (partner.to_string(), organization.to_string());
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let unlinked = unlink_row(&mut *tx, PARTNER_LINKS, &partner, &organization).await?;
        sqlx::query("DELETE FROM sessions WHERE partner_id = $1 AND organization_id = $2")
            .bind(&partner)
            .bind(&organization)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(unlinked)
    }

    async fn is_linked(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool> {
        self.is_linked_row(PARTNER_LINKS, partner.to_string(), organization).await
    }

    async fn linked_organizations(&self, partner: PartnerId) -> StoreResult<Vec<OrganizationId>> {
        self.linked_rows(PARTNER_LINKS, partner.to_string()).await
    }
}

const USER_COLUMNS: &str = "id, organization_id, email, given_name, family_name, status, status_set_by, created_at";

#[async_trait]
impl Users for SqlStore {
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(u.id.to_string())
            .bind(u.organization_id.to_string())
            .bind(&u.email)
            .bind(&u.given_name)
            .bind(&u.family_name)
            .bind(u.status.as_str())
            .bind(u.status_set_by.map(StatusSetter::as_str))
            .bind(u.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or_backend(e, "a user with this email exists in the organization"))?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.fetch_one(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &id.to_string(), user).await
    }

    async fn user_by_email(&self, organization: OrganizationId, email: &str) -> StoreResult<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE organization_id = $1 AND email = $2"))
            .bind(organization.to_string())
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user)
            .transpose()
    }

    async fn users(
        &self,
        organization: OrganizationId,
        email: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Vec<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE organization_id = $1 AND (CAST($2 AS TEXT) IS NULL OR email = $2) AND id > $3 \
             ORDER BY id LIMIT $4"
        ))
        .bind(organization.to_string())
        .bind(email)
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(page_limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(user)
        .collect()
    }

    async fn set_user_status(&self, id: UserId, status: UserStatus, by: StatusSetter) -> StoreResult<StatusChange> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The operator's word stands; a partner's only where no operator's disable is in force
        // (a status from before setters were recorded counts as the operator's).
        let done = sqlx::query(
            "UPDATE users SET status = $1, status_set_by = $2 WHERE id = $3 \
             AND ($2 = 'operator' OR status = 'active' OR status_set_by = 'partner')",
        )
        .bind(status.as_str())
        .bind(by.as_str())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
                .is_some();
            tx.rollback().await.map_err(backend)?;
            return Ok(if exists { StatusChange::OperatorDisabled } else { StatusChange::NotFound });
        }
        if status == UserStatus::Disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(StatusChange::Set)
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        self.delete_by_id("users", id.to_string()).await
    }
}

#[async_trait]
impl Sessions for SqlStore {
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        sqlx::query(
            "SELECT id, secret_digest, user_id, organization_id, partner_id, embed, created_at, last_seen_at, \
             expires_at FROM sessions WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(session)
        .transpose()
    }

    async fn touch_session(&self, id: SessionId, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, id: SessionId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user_sessions(&self, user: UserId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(idle_cutoff)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let failures = sqlx::query("DELETE FROM auth_failures WHERE window_start < $1")
            .bind(now - 86_400)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let events = sqlx::query("DELETE FROM webhook_events WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // A consumed token can be forgotten once it could no longer verify anyway.
        let tokens = sqlx::query("DELETE FROM consumed_tokens WHERE expires_at < $1")
            .bind(now - 3600)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(sessions.rows_affected() + tokens.rows_affected() + events.rows_affected() + failures.rows_affected())
    }
}

#[async_trait]
impl Audit for SqlStore {
    async fn audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = String::from(
            "SELECT id, at, kind, outcome, reason, partner_id, organization_id, user_id, client_addr, request_id, \
             detail FROM audit_log WHERE 1 = 1",
        );
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        let text_filters = [
            ("kind", f.kind.clone()),
            ("outcome", f.outcome.map(|o| o.as_str().to_owned())),
            ("partner_id", f.partner_id.clone()),
            ("organization_id", f.organization_id.clone()),
            ("user_id", f.user_id.clone()),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                texts.push(value);
                sql.push_str(&format!(" AND {column} = ${}", texts.len()));
            }
        }
        for (condition, value) in [("at >=", f.since), ("at <", f.until), ("id <", f.before)] {
            if let Some(value) = value {
                numbers.push(value);
                sql.push_str(&format!(" AND {condition} ${}", texts.len() + numbers.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", texts.len() + numbers.len() + 1));
        let mut query = sqlx::query(&sql);
        for value in texts {
            query = query.bind(value);
        }
        for value in numbers {
            query = query.bind(value);
        }
        query
            .bind(i64::from(f.limit.clamp(1, 1000)))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(audit_record)
            .collect()
    }
}

#[async_trait]
impl Keys for SqlStore {
    async fn keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query("SELECT kid, kind, sealed_secret, public, created_at FROM keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let kind: &str = row.try_get("kind").map_err(backend)?;
                Ok(StoredKey {
                    kid: row.try_get("kid").map_err(backend)?,
                    kind: KeyKind::parse(kind)
                        .ok_or_else(|| StoreError::Backend(format!("unknown key kind {kind}")))?,
                    sealed_secret: row.try_get("sealed_secret").map_err(backend)?,
                    public: row.try_get("public").map_err(backend)?,
                    created_at: row.try_get("created_at").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        sqlx::query("INSERT INTO keys (kid, kind, sealed_secret, public, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&k.kid)
            .bind(k.kind.as_str())
            .bind(&k.sealed_secret)
            .bind(&k.public)
            .bind(k.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or_backend(e, "key id"))?;
        Ok(())
    }
}

const INTEGRATION_COLUMNS: &str = "id, slug, name, secret_sealed, previous_secret_sealed, \
    previous_secret_expires_at, signature_profile, tolerance_seconds, event_type, unknown_user, register_url, \
    landing_path, sandbox, created_at";

fn sealed_secrets(row: &AnyRow) -> StoreResult<SealedSecrets> {
    let previous_sealed: Option<Vec<u8>> = row.try_get("previous_secret_sealed").map_err(backend)?;
    let previous_expires: Option<i64> = row.try_get("previous_secret_expires_at").map_err(backend)?;
    Ok(SealedSecrets {
        current: row.try_get("secret_sealed").map_err(backend)?,
        previous: previous_sealed.zip(previous_expires),
    })
}

fn integration(row: &AnyRow) -> StoreResult<InboundIntegration> {
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt {what} in database"));
    let profile: &str = row.try_get("signature_profile").map_err(backend)?;
    let policy: &str = row.try_get("unknown_user").map_err(backend)?;
    Ok(InboundIntegration {
        id: parse(row.try_get("id").map_err(backend)?)?,
        slug: row.try_get("slug").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        secrets: sealed_secrets(row)?,
        signature_profile: profile.parse().map_err(|_| corrupt("signature profile"))?,
        tolerance_seconds: row.try_get("tolerance_seconds").map_err(backend)?,
        event_type: row.try_get("event_type").map_err(backend)?,
        unknown_user: UnknownUserPolicy::parse(policy).ok_or_else(|| corrupt("unknown-user policy"))?,
        register_url: row.try_get("register_url").map_err(backend)?,
        landing_path: row.try_get("landing_path").map_err(backend)?,
        sandbox: flag(row, "sandbox")?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl Inbound for SqlStore {
    async fn create_integration(&self, i: &InboundIntegration) -> StoreResult<()> {
        let (previous, previous_at) = i.secrets.previous.clone().unzip();
        sqlx::query(&format!(
            "INSERT INTO inbound_integrations ({INTEGRATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(i.id.to_string())
        .bind(&i.slug)
        .bind(&i.name)
        .bind(&i.secrets.current)
        .bind(previous)
        .bind(previous_at)
        .bind(i.signature_profile.as_str())
        .bind(i.tolerance_seconds)
        .bind(&i.event_type)
        .bind(i.unknown_user.as_str())
        .bind(&i.register_url)
        .bind(&i.landing_path)
        .bind(i.sandbox)
        .bind(i.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or_backend(e, "an integration with this slug exists"))?;
        Ok(())
    }

    async fn integration(&self, id: IntegrationId) -> StoreResult<Option<InboundIntegration>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM inbound_integrations WHERE id = $1");
        self.fetch_one(&sql, &id.to_string(), integration).await
    }

    async fn integration_by_slug(&self, slug: &str) -> StoreResult<Option<InboundIntegration>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM inbound_integrations WHERE slug = $1");
        self.fetch_one(&sql, slug, integration).await
    }

    async fn integrations(&self, page: &PageRequest) -> StoreResult<Vec<InboundIntegration>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM inbound_integrations WHERE id > $1 ORDER BY id LIMIT $2");
        self.fetch_page(&sql, page, integration).await
    }

    async fn set_integration_secrets(
        &self,
        id: IntegrationId,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool> {
        self.set_sealed_secrets("inbound_integrations", id.to_string(), expected, secrets).await
    }

    async fn delete_integration(&self, id: IntegrationId) -> StoreResult<bool> {
        self.delete_by_id("inbound_integrations", id.to_string()).await
    }

    async fn link_integration(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
        now: i64,
    ) -> StoreResult<()> {
        self.link_rows(INTEGRATION_LINKS, integration.to_string(), organization, now).await
    }

    async fn unlink_integration(&self, integration: IntegrationId, organization: OrganizationId) -> StoreResult<bool> {
        unlink_row(&self.pool, INTEGRATION_LINKS, &integration.to_string(), &organization.to_string()).await
    }

    async fn integration_serves(&self, integration: IntegrationId, organization: OrganizationId) -> StoreResult<bool> {
        self.is_linked_row(INTEGRATION_LINKS, integration.to_string(), organization).await
    }

    async fn integration_organizations(&self, integration: IntegrationId) -> StoreResult<Vec<OrganizationId>> {
        self.linked_rows(INTEGRATION_LINKS, integration.to_string()).await
    }
}

const SUPPLIER_COLUMNS: &str = "id, slug, name, endpoint, secret_sealed, previous_secret_sealed, \
    previous_secret_expires_at, signature_profile, allowed_redirect_hosts, timeout_seconds, event_type, created_at";

fn supplier(row: &AnyRow) -> StoreResult<Supplier> {
    let profile: &str = row.try_get("signature_profile").map_err(backend)?;
    Ok(Supplier {
        id: parse(row.try_get("id").map_err(backend)?)?,
        slug: row.try_get("slug").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        endpoint: row.try_get("endpoint").map_err(backend)?,
        secrets: sealed_secrets(row)?,
        signature_profile: profile.parse().map_err(|_| StoreError::Backend("corrupt signature profile".into()))?,
        allowed_redirect_hosts: json_list(row.try_get("allowed_redirect_hosts").map_err(backend)?)?,
        timeout_seconds: row.try_get("timeout_seconds").map_err(backend)?,
        event_type: row.try_get("event_type").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl Suppliers for SqlStore {
    async fn create_supplier(&self, s: &Supplier) -> StoreResult<()> {
        let (previous, previous_at) = s.secrets.previous.clone().unzip();
        sqlx::query(&format!(
            "INSERT INTO suppliers ({SUPPLIER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(s.id.to_string())
        .bind(&s.slug)
        .bind(&s.name)
        .bind(&s.endpoint)
        .bind(&s.secrets.current)
        .bind(previous)
        .bind(previous_at)
        .bind(s.signature_profile.as_str())
        .bind(to_json(&s.allowed_redirect_hosts))
        .bind(s.timeout_seconds)
        .bind(&s.event_type)
        .bind(s.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or_backend(e, "a supplier with this slug exists"))?;
        Ok(())
    }

    async fn supplier(&self, id: SupplierId) -> StoreResult<Option<Supplier>> {
        self.fetch_one(&format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE id = $1"), &id.to_string(), supplier)
            .await
    }

    async fn supplier_by_slug(&self, slug: &str) -> StoreResult<Option<Supplier>> {
        self.fetch_one(&format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE slug = $1"), slug, supplier).await
    }

    async fn suppliers(&self, page: &PageRequest) -> StoreResult<Vec<Supplier>> {
        let sql = format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE id > $1 ORDER BY id LIMIT $2");
        self.fetch_page(&sql, page, supplier).await
    }

    async fn set_supplier_secrets(
        &self,
        id: SupplierId,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool> {
        self.set_sealed_secrets("suppliers", id.to_string(), expected, secrets).await
    }

    async fn delete_supplier(&self, id: SupplierId) -> StoreResult<bool> {
        self.delete_by_id("suppliers", id.to_string()).await
    }
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
impl Throttle for SqlStore {
    async fn record_failure(&self, key: &str, now: i64, window_seconds: i64) -> StoreResult<(i64, i64)> {
        // One statement: the increment is atomic however many nodes fail at once.
        let row = sqlx::query(
            "INSERT INTO auth_failures (key, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN auth_failures.window_start + $3 <= $2 THEN 1 ELSE auth_failures.count + 1 END, \
             window_start = CASE WHEN auth_failures.window_start + $3 <= $2 THEN $2 ELSE auth_failures.window_start END \
             RETURNING window_start, count",
        )
        .bind(key)
        .bind(now)
        .bind(window_seconds)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok((row.try_get("window_start").map_err(backend)?, row.try_get("count").map_err(backend)?))
    }

    async fn failures(&self, key: &str) -> StoreResult<Option<(i64, i64)>> {
        let row = sqlx::query("SELECT window_start, count FROM auth_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| Ok((row.try_get("window_start").map_err(backend)?, row.try_get("count").map_err(backend)?)))
            .transpose()
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
