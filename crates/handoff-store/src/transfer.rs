//! Moving a database: `copy` (a stopped SQLite installation into an empty, migrated PostgreSQL
//! database) and `backup` (a consistent online copy of a SQLite database, `VACUUM INTO`).
//!
//! The copy knows no table: it reads the migrated schema (every table but sqlx's
//! `_sqlx_migrations` and SQLite's own), orders the tables so that a row's foreign keys are copied
//! before it, and maps each value by the type of its column in PostgreSQL. The source is read in
//! one read transaction (one snapshot) on a read-only connection; the target is written in one
//! transaction that commits only once every table's count matches and the source did not change
//! while it was read — a failed copy leaves the target as empty as it found it.
//!
//! Owns: the schema comparison, the value mapping, the sequence reset, the backup file.
//! Must not: unseal or interpret anything (sealed keys and secrets are bytes here), or print a
//! URL's password (`redact`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use handoff_core::model::AuditEvent;
use handoff_core::store::{Journal as _, Write};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, Row as _};

use crate::{Dialect, PoolSettings, SqlStore};

/// How many rows one INSERT carries at most (fewer for wide tables: PostgreSQL takes at most
/// 65 535 parameters per statement).
pub const DEFAULT_BATCH: usize = 1000;
const MAX_PARAMETERS: usize = 65_535;

/// Why a copy or a backup did not happen. The text is for the operator and never holds a
/// password.
#[derive(Debug)]
pub struct TransferError(String);

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransferError {}

fn fail(message: impl Into<String>) -> TransferError {
    TransferError(message.into())
}

/// `context: err`, for an error of a library call.
fn failed(context: &str) -> impl Fn(&dyn fmt::Display) -> TransferError + '_ {
    move |err| TransferError(format!("{context}: {err}"))
}

type Result<T> = std::result::Result<T, TransferError>;

/// A database URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// How far the copy is: `rows` of `total` rows of `table` are written (not yet committed).
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub rows: u64,
    pub total: u64,
}

/// What a finished copy wrote: per table in copy order, its rows (equal in both databases).
#[derive(Debug, Clone)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
    /// The schema version both databases are at.
    pub version: i64,
    /// Sequences set past the copied ids: (table, column, next value).
    pub sequences: Vec<(String, String, i64)>,
}

/// Copies every table of the SQLite database at `from` into the PostgreSQL database at `to`,
/// which must be migrated to the same version and hold no rows. See the module header. Once
/// committed, the target's audit log records the copy (`admin.db.copy`, stamped `now`).
pub async fn copy(
    from: &str,
    to: &str,
    pool: &PoolSettings,
    batch: usize,
    now: i64,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<CopyReport> {
    match (Dialect::of(from), Dialect::of(to)) {
        (Some(Dialect::Sqlite), Some(Dialect::Postgres)) => {}
        (Some(Dialect::Sqlite), _) => {
            return Err(fail(format!(
                "--to must be a PostgreSQL database (postgres://…), not {}: the copy goes from SQLite to PostgreSQL",
                redact(to)
            )))
        }
        _ => {
            return Err(fail(format!(
                "--from must be a SQLite database (sqlite://…), not {}: the copy goes from SQLite to PostgreSQL \
                 (for PostgreSQL to PostgreSQL use pg_dump and pg_restore)",
                redact(from)
            )))
        }
    }
    let source = sqlite_path(from)?;
    let target = SqlStore::connect(to, pool)
        .await
        .map_err(|err| fail(format!("cannot open the target {}: {err}", redact(to))))?;
    let (snapshot, mut batches) = Snapshot::open(source, batch).await?;
    let plan = Plan::check(&snapshot, &target, to).await?;
    let mut tx = target.pool().begin().await.map_err(|e| failed("cannot begin the copy on the target")(&e))?;
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    let changed = loop {
        let message = batches.recv().await.ok_or_else(|| fail("the source reader stopped unexpectedly"))?;
        match message {
            Read::Rows { table, rows } => {
                let columns = &plan.columns[&table];
                insert(&mut tx, &table, columns, &rows).await?;
                let done = written.entry(table.clone()).or_default();
                *done += rows.len() as u64;
                progress(Progress { table: &table, rows: *done, total: snapshot.counts[&table] });
            }
            Read::Failed(message) => return Err(fail(message)),
            Read::Done { changed } => break changed,
        }
    };
    if changed {
        // Dropping `tx` rolls the copy back.
        return Err(fail(
            "the source database changed while it was copied (is handoff still serving it?): nothing was \
             written to the target. Stop every handoff process on the SQLite database and copy again.",
        ));
    }
    for table in &snapshot.order {
        let expected = snapshot.counts[table];
        let copied: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {}", quote(table)))
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| failed(&format!("cannot count {table} on the target"))(&e))?;
        let read = written.get(table).copied().unwrap_or(0);
        if u64::try_from(copied).ok() != Some(expected) || read != expected {
            return Err(fail(format!(
                "{table}: the source has {expected} rows, {read} were read and the target has {copied}: nothing \
                 was written to the target"
            )));
        }
    }
    let sequences = reset_sequences(&mut tx, &plan.serials, &snapshot.sequences).await?;
    // Fresh planner statistics, rather than none until autovacuum comes by.
    sqlx::query("ANALYZE").execute(&mut *tx).await.map_err(|e| failed("cannot analyze the target")(&e))?;
    tx.commit().await.map_err(|e| failed("cannot commit the copy on the target")(&e))?;
    let report = CopyReport {
        tables: snapshot.order.iter().map(|t| (t.clone(), snapshot.counts[t])).collect(),
        version: snapshot.versions.last().copied().unwrap_or(0),
        sequences,
    };
    let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
    let detail =
        format!("from={} version={} tables={} rows={rows} via=cli", redact(from), report.version, report.tables.len());
    let audit =
        AuditEvent { kind: "admin.db.copy".into(), detail: Some(detail), ..AuditEvent::default() }.accepted(now, "ok");
    target.commit(vec![Write::Audit(audit)]).await.map_err(|err| {
        fail(format!("the copy is committed, but its audit record could not be written to the target: {err}"))
    })?;
    Ok(report)
}

/// The file a `sqlite:` URL names.
fn sqlite_path(url: &str) -> Result<PathBuf> {
    let options = SqliteConnectOptions::from_str(url).map_err(|e| failed(&format!("bad SQLite URL {url}"))(&e))?;
    let path = options.get_filename().to_owned();
    if !path.is_file() {
        return Err(fail(format!("{} does not exist (or is not a file)", path.display())));
    }
    Ok(path)
}

/// Identifiers come from the schema, never from input; quoted all the same (`key`, `hour`, …).
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// What the source reader thread sends.
enum Read {
    /// The next rows of `table`, columns in [`Snapshot::columns`] order (none for an empty table,
    /// so that every table reports).
    Rows {
        table: String,
        rows: Vec<Vec<Value>>,
    },
    Failed(String),
    /// Every table was read; `changed`: another connection committed meanwhile.
    Done {
        changed: bool,
    },
}

/// The source as of its snapshot: the schema and the counts, read in the same read transaction
/// as the rows that follow on the channel.
struct Snapshot {
    versions: Vec<i64>,
    /// Tables in copy order: every table after the tables its foreign keys name.
    order: Vec<String>,
    columns: BTreeMap<String, Vec<String>>,
    counts: BTreeMap<String, u64>,
    /// `sqlite_sequence`: the highest id an AUTOINCREMENT table ever handed out.
    sequences: BTreeMap<String, i64>,
}

impl Snapshot {
    /// Opens `path` read-only on a thread of its own, which reads the schema and then streams
    /// every table in batches of `batch` rows at most.
    async fn open(path: PathBuf, batch: usize) -> Result<(Snapshot, tokio::sync::mpsc::Receiver<Read>)> {
        let (plan_tx, plan_rx) = tokio::sync::oneshot::channel::<Result<Snapshot>>();
        let (rows_tx, rows_rx) = tokio::sync::mpsc::channel::<Read>(4);
        std::thread::Builder::new()
            .name("handoff-copy-reader".into())
            .spawn(move || {
                let connection = match read_only(&path) {
                    Ok(c) => c,
                    Err(err) => {
                        let _ = plan_tx.send(Err(err));
                        return;
                    }
                };
                let snapshot = match begin_snapshot(&connection) {
                    Ok(s) => s,
                    Err(err) => {
                        let _ = plan_tx.send(Err(err));
                        return;
                    }
                };
                let (order, columns) = (snapshot.1.order.clone(), snapshot.1.columns.clone());
                if plan_tx.send(Ok(snapshot.1)).is_err() {
                    return;
                }
                let last = match stream(&connection, &order, &columns, batch, &rows_tx) {
                    Ok(true) => {
                        let changed = connection
                            .execute_batch("COMMIT")
                            .and_then(|()| data_version(&connection))
                            .map(|now| now != snapshot.0);
                        match changed {
                            Ok(changed) => Read::Done { changed },
                            Err(err) => Read::Failed(format!("cannot finish reading the source: {err}")),
                        }
                    }
                    // The receiver is gone: the copy was refused or failed.
                    Ok(false) => return,
                    Err(err) => Read::Failed(err.0),
                };
                let _ = rows_tx.blocking_send(last);
            })
            .map_err(|e| failed("cannot start the source reader")(&e))?;
        let snapshot = plan_rx.await.map_err(|_| fail("the source reader stopped unexpectedly"))??;
        Ok((snapshot, rows_rx))
    }
}

fn read_only(path: &Path) -> Result<Connection> {
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| failed(&format!("cannot open {} read-only", path.display()))(&e))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| failed("cannot configure the source connection")(&e))?;
    Ok(connection)
}

fn data_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA data_version", [], |row| row.get(0))
}

/// Starts the read transaction and reads the schema and counts in it; answers the connection's
/// data version from before, to compare with after.
fn begin_snapshot(connection: &Connection) -> Result<(i64, Snapshot)> {
    let sql = |e: rusqlite::Error| fail(format!("cannot read the source's schema: {e}"));
    let before = data_version(connection).map_err(sql)?;
    connection.execute_batch("BEGIN DEFERRED").map_err(sql)?;
    let versions = {
        let mut statement =
            connection
                .prepare("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .map_err(|e| fail(format!("the source is not a handoff database (no migrations table): {e}")))?;
        let rows = statement.query_map([], |row| row.get::<_, i64>(0)).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<i64>>>().map_err(sql)?
    };
    let tables: Vec<String> = {
        let mut statement = connection
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 AND name <> '_sqlx_migrations' ORDER BY name",
            )
            .map_err(sql)?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql)?
    };
    let mut columns = BTreeMap::new();
    let mut parents = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for table in &tables {
        let mut statement = connection.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid").map_err(sql)?;
        let names = statement.query_map([table], |row| row.get::<_, String>(0)).map_err(sql)?;
        columns.insert(table.clone(), names.collect::<rusqlite::Result<Vec<String>>>().map_err(sql)?);
        let mut statement =
            connection.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)").map_err(sql)?;
        let named = statement.query_map([table], |row| row.get::<_, String>(0)).map_err(sql)?;
        let named: BTreeSet<String> = named.collect::<rusqlite::Result<_>>().map_err(sql)?;
        parents.insert(table.clone(), named);
        let count: i64 = connection
            .query_row(&format!("SELECT COUNT(*) FROM {}", quote(table)), [], |row| row.get(0))
            .map_err(sql)?;
        counts.insert(table.clone(), u64::try_from(count).unwrap_or(0));
    }
    let mut sequences = BTreeMap::new();
    let has_sequences: i64 = connection
        .query_row("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'", [], |row| {
            row.get(0)
        })
        .map_err(sql)?;
    if has_sequences > 0 {
        let mut statement = connection.prepare("SELECT name, seq FROM sqlite_sequence").map_err(sql)?;
        let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))).map_err(sql)?;
        sequences = rows.collect::<rusqlite::Result<_>>().map_err(sql)?;
    }
    let order = foreign_key_order(&parents)?;
    Ok((before, Snapshot { versions, order, columns, counts, sequences }))
}

/// The tables, each after every table it references (alphabetical where free). Self-references
/// are fine in one table; a cycle between tables is not something this copy can order.
fn foreign_key_order(parents: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>> {
    let mut order: Vec<String> = Vec::new();
    let mut placed = BTreeSet::new();
    while order.len() < parents.len() {
        let next = parents.iter().find(|(table, named)| {
            !placed.contains(*table)
                && named.iter().all(|p| p == *table || placed.contains(p) || !parents.contains_key(p))
        });
        let Some((table, _)) = next else {
            return Err(fail("the source's foreign keys form a cycle between tables: cannot order the copy"));
        };
        placed.insert(table.clone());
        order.push(table.clone());
    }
    Ok(order)
}

/// Sends every table's rows; `Ok(false)` when the receiver went away.
fn stream(
    connection: &Connection,
    order: &[String],
    columns: &BTreeMap<String, Vec<String>>,
    batch: usize,
    out: &tokio::sync::mpsc::Sender<Read>,
) -> Result<bool> {
    for table in order {
        let names = &columns[table];
        let list = names.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let per_batch = batch.clamp(1, MAX_PARAMETERS / names.len().max(1));
        let read_error = |e: rusqlite::Error| fail(format!("cannot read {table} from the source: {e}"));
        let mut statement = connection.prepare(&format!("SELECT {list} FROM {}", quote(table))).map_err(read_error)?;
        let mut rows = statement.query([]).map_err(read_error)?;
        let mut chunk = Vec::with_capacity(per_batch);
        let mut sent_any = false;
        while let Some(row) = rows.next().map_err(read_error)? {
            let values = (0..names.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>();
            chunk.push(values.map_err(read_error)?);
            if chunk.len() == per_batch {
                let rows = std::mem::replace(&mut chunk, Vec::with_capacity(per_batch));
                if out.blocking_send(Read::Rows { table: table.clone(), rows }).is_err() {
                    return Ok(false);
                }
                sent_any = true;
            }
        }
        if (!chunk.is_empty() || !sent_any)
            && out.blocking_send(Read::Rows { table: table.clone(), rows: chunk }).is_err()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// How a column is bound on PostgreSQL, by its type there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Boolean,
    Bytes,
    Text,
    Float,
}

impl Kind {
    fn of(data_type: &str) -> Option<Kind> {
        Some(match data_type {
            "bigint" | "integer" | "smallint" => Kind::Integer,
            "boolean" => Kind::Boolean,
            "bytea" => Kind::Bytes,
            "text" | "character varying" | "character" => Kind::Text,
            "double precision" | "real" => Kind::Float,
            _ => return None,
        })
    }
}

/// The target checked against the source: per table, its columns with how each is bound.
struct Plan {
    columns: BTreeMap<String, Vec<(String, Kind)>>,
    /// (table, column) of every column a sequence fills.
    serials: Vec<(String, String)>,
}

impl Plan {
    async fn check(snapshot: &Snapshot, target: &SqlStore, to: &str) -> Result<Plan> {
        let pool = target.pool();
        let to = redact(to);
        let read = |e: sqlx::Error| fail(format!("cannot read the schema of {to}: {e}"));
        let versions: Vec<i64> =
            match sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(pool)
                .await
            {
                Ok(rows) => {
                    rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<std::result::Result<_, _>>().map_err(read)?
                }
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => Vec::new(),
                Err(err) => return Err(read(err)),
            };
        let source_version = snapshot.versions.last().copied().unwrap_or(0);
        if versions.is_empty() {
            return Err(fail(format!(
                "{to} is not migrated: run `handoff migrate --database-url <the target URL>` with this handoff \
                 version first (the source is at schema version {source_version})"
            )));
        }
        if versions != snapshot.versions {
            let target_version = versions.last().copied().unwrap_or(0);
            let hint = if target_version > source_version {
                "run `handoff migrate` on the SQLite database first, with this handoff version"
            } else {
                "run `handoff migrate --database-url <the target URL>` with the handoff version that serves the source"
            };
            return Err(fail(format!(
                "the schemas differ: the source is at version {source_version}, {to} at version {target_version}: {hint}"
            )));
        }
        let rows = sqlx::query(
            "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, c.data_type::text AS data_type, \
             (c.column_default LIKE 'nextval(%' OR c.is_identity = 'YES') AS serial \
             FROM information_schema.columns c JOIN information_schema.tables t \
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             AND c.table_name <> '_sqlx_migrations' ORDER BY c.table_name, c.ordinal_position",
        )
        .fetch_all(pool)
        .await
        .map_err(read)?;
        let mut target_columns: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut serials = Vec::new();
        for row in &rows {
            let table: String = row.try_get("table_name").map_err(read)?;
            let column: String = row.try_get("column_name").map_err(read)?;
            let data_type: String = row.try_get("data_type").map_err(read)?;
            if row.try_get::<Option<bool>, _>("serial").map_err(read)?.unwrap_or(false) {
                serials.push((table.clone(), column.clone()));
            }
            target_columns.entry(table).or_default().insert(column, data_type);
        }
        let source_tables: BTreeSet<&String> = snapshot.columns.keys().collect();
        let target_tables: BTreeSet<&String> = target_columns.keys().collect();
        if source_tables != target_tables {
            let only = |a: &BTreeSet<&String>, b: &BTreeSet<&String>| {
                a.difference(b).map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
            };
            return Err(fail(format!(
                "the schemas differ although both are at version {source_version}: tables only in the source: [{}], \
                 only in the target: [{}]",
                only(&source_tables, &target_tables),
                only(&target_tables, &source_tables)
            )));
        }
        let mut columns = BTreeMap::new();
        for (table, names) in &snapshot.columns {
            let types = &target_columns[table];
            if names.len() != types.len() || names.iter().any(|n| !types.contains_key(n)) {
                return Err(fail(format!("the schemas differ: the columns of {table} are not the same in both")));
            }
            let mut bound = Vec::new();
            for name in names {
                let data_type = &types[name];
                let kind = Kind::of(data_type).ok_or_else(|| {
                    fail(format!("{table}.{name}: column type {data_type} is not supported by the copy"))
                })?;
                bound.push((name.clone(), kind));
            }
            columns.insert(table.clone(), bound);
        }
        let mut filled = Vec::new();
        for table in &snapshot.order {
            let any: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT 1) AS t", quote(table)))
                .fetch_one(pool)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(read)?;
            if any > 0 {
                filled.push(table.as_str());
            }
        }
        if !filled.is_empty() {
            return Err(fail(format!(
                "{to} is not empty (rows in {}): the copy only goes into a freshly migrated database; create a new \
                 one (or drop and recreate this one) and run `handoff migrate` on it",
                filled.join(", ")
            )));
        }
        Ok(Plan { columns, serials })
    }
}

type Transaction<'c> = sqlx::Transaction<'c, Any>;

/// One multi-row INSERT of `rows` into `table`.
async fn insert(tx: &mut Transaction<'_>, table: &str, columns: &[(String, Kind)], rows: &[Vec<Value>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let list = columns.iter().map(|(c, _)| quote(c)).collect::<Vec<_>>().join(", ");
    let mut sql = format!("INSERT INTO {} ({list}) VALUES ", quote(table));
    let mut n = 0;
    for (i, _) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for j in 0..columns.len() {
            n += 1;
            sql.push_str(&format!("{}${n}", if j == 0 { "" } else { ", " }));
        }
        sql.push(')');
    }
    let mut query = sqlx::query(&sql);
    for row in rows {
        for ((column, kind), value) in columns.iter().zip(row) {
            query = bind(query, *kind, value).ok_or_else(|| {
                fail(format!(
                    "{table}.{column}: the value {} does not fit the target's column type ({kind:?})",
                    describe(value)
                ))
            })?;
        }
    }
    query.execute(&mut **tx).await.map_err(|e| failed(&format!("cannot write {table} to the target"))(&e))?;
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds `value` as `kind`: SQLite's integers become PostgreSQL's booleans where the column is
/// one, and a NULL is bound with the column's type.
fn bind<'q>(query: Query<'q>, kind: Kind, value: &Value) -> Option<Query<'q>> {
    Some(match (kind, value) {
        (Kind::Integer, Value::Integer(i)) => query.bind(*i),
        (Kind::Integer, Value::Null) => query.bind(None::<i64>),
        (Kind::Boolean, Value::Integer(i @ (0 | 1))) => query.bind(*i == 1),
        (Kind::Boolean, Value::Null) => query.bind(None::<bool>),
        (Kind::Bytes, Value::Blob(b)) => query.bind(b.clone()),
        (Kind::Bytes, Value::Null) => query.bind(None::<Vec<u8>>),
        (Kind::Text, Value::Text(s)) => query.bind(s.clone()),
        (Kind::Text, Value::Null) => query.bind(None::<String>),
        (Kind::Float, Value::Real(f)) => query.bind(*f),
        #[allow(clippy::cast_precision_loss)]
        (Kind::Float, Value::Integer(i)) => query.bind(*i as f64),
        (Kind::Float, Value::Null) => query.bind(None::<f64>),
        _ => return None,
    })
}

/// A value's type, never its content (it may be a digest or a sealed secret).
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Integer(_) => "of type integer",
        Value::Real(_) => "of type real",
        Value::Text(_) => "of type text",
        Value::Blob(_) => "of type blob",
    }
}

/// Sets every sequence past the highest id copied (and past the highest SQLite ever handed out,
/// so that no id of a deleted row comes back).
async fn reset_sequences(
    tx: &mut Transaction<'_>,
    serials: &[(String, String)],
    handed_out: &BTreeMap<String, i64>,
) -> Result<Vec<(String, String, i64)>> {
    let mut done = Vec::new();
    for (table, column) in serials {
        let error = |e: sqlx::Error| fail(format!("cannot set the sequence of {table}.{column}: {e}"));
        let max: i64 =
            sqlx::query(&format!("SELECT CAST(COALESCE(MAX({}), 0) AS BIGINT) FROM {}", quote(column), quote(table)))
                .fetch_one(&mut **tx)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(error)?;
        let next = max.max(handed_out.get(table).copied().unwrap_or(0)) + 1;
        sqlx::query("SELECT CAST(setval(pg_get_serial_sequence($1, $2), $3, false) AS BIGINT)")
            .bind(quote(table))
            .bind(column.clone())
            .bind(next)
            .fetch_one(&mut **tx)
            .await
            .map_err(error)?;
        done.push((table.clone(), column.clone(), next));
    }
    Ok(done)
}

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// The schema version of the backup.
    pub version: i64,
}

/// Writes a consistent copy of the SQLite database at `database_url` to the new file `path`
/// (`VACUUM INTO`, one read transaction: the running server goes on writing meanwhile), syncs
/// it to disk and checks it (`PRAGMA integrity_check`). Refuses an existing `path` and a
/// PostgreSQL database (that is `pg_dump`'s job).
pub fn backup(database_url: &str, path: &Path) -> Result<BackupReport> {
    match Dialect::of(database_url) {
        Some(Dialect::Sqlite) => {}
        Some(Dialect::Postgres) => {
            return Err(fail(
                "the configured database is PostgreSQL: back it up with pg_dump (e.g. `pg_dump --format=custom \
                 --file=handoff.dump \"$DATABASE_URL\"`) or your provider's point-in-time recovery; \
                 `handoff db backup` backs up SQLite only",
            ))
        }
        None => return Err(fail("database_url must start with sqlite:// or postgres://")),
    }
    let source = sqlite_path(database_url)?;
    // Created here, empty, owner-only (the backup holds digests and sealed keys) and new: a
    // backup never overwrites. VACUUM INTO accepts an empty file.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::AlreadyExists => {
            fail(format!("{} already exists: a backup never overwrites a file; choose a new name", path.display()))
        }
        _ => fail(format!("cannot create {}: {err}", path.display())),
    })?;
    let written = write_backup(&source, path);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

fn write_backup(source: &Path, path: &Path) -> Result<BackupReport> {
    let connection = read_only(source)?;
    let target = path.to_str().ok_or_else(|| fail(format!("{} is not valid UTF-8", path.display())))?;
    connection.execute("VACUUM INTO ?1", [target]).map_err(|e| failed("VACUUM INTO failed")(&e))?;
    drop(connection);
    // SQLite does not sync the file VACUUM INTO writes.
    let file = std::fs::File::open(path).map_err(|e| failed(&format!("cannot open {}", path.display()))(&e))?;
    file.sync_all().map_err(|e| failed(&format!("cannot sync {}", path.display()))(&e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    let check = read_only(path)?;
    let verdict: String = check
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| failed("cannot check the backup")(&e))?;
    if verdict != "ok" {
        return Err(fail(format!("the backup failed its integrity check: {verdict}")));
    }
    let version: i64 = check
        .query_row("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success", [], |row| row.get(0))
        .map_err(|e| failed("cannot read the backup's schema version")(&e))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport { path: path.to_owned(), bytes, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://handoff:s3cret@db:5432/handoff?sslmode=require"),
            "postgres://handoff:***@db:5432/handoff?sslmode=require"
        );
        assert_eq!(redact("postgres://handoff@db/handoff"), "postgres://handoff@db/handoff");
        assert_eq!(redact("postgres://u:p%40ss@db/x"), "postgres://u:***@db/x");
        assert_eq!(redact("sqlite:///var/lib/handoff/handoff.db"), "sqlite:///var/lib/handoff/handoff.db");
    }

    #[test]
    fn tables_follow_the_tables_they_reference() {
        let parents: BTreeMap<String, BTreeSet<String>> = [
            ("sessions", vec!["users", "organizations", "partners"]),
            ("users", vec!["organizations"]),
            ("organizations", vec![]),
            ("partners", vec![]),
            ("tree", vec!["tree"]),
        ]
        .into_iter()
        .map(|(t, p)| (t.to_owned(), p.into_iter().map(str::to_owned).collect()))
        .collect();
        assert_eq!(foreign_key_order(&parents).unwrap(), ["organizations", "partners", "tree", "users", "sessions"]);
        let cycle: BTreeMap<String, BTreeSet<String>> =
            [("a", "b"), ("b", "a")].into_iter().map(|(t, p)| (t.to_owned(), BTreeSet::from([p.to_owned()]))).collect();
        assert!(foreign_key_order(&cycle).is_err());
    }
}
