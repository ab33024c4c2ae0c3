//! SQLite's write path for the journal: one OS thread owns one connection and applies each batch
//! in one transaction with statements prepared once, so a batch costs its rows and one fsync
//! (1.5–2.5 times the throughput of sqlx's path on the same file; rusqlite cannot serve
//! PostgreSQL, hence two engines).
//! A second thread checkpoints the write-ahead log in the background, so that no commit waits
//! for a whole checkpoint, and the writer then restarts the log so that its file is reused in
//! place (an fsync that extends a file costs several times one that overwrites it).
//! Audit streams read their pages on a third connection of their own, and their cursor moves
//! ride in the writer's transactions: the file has one writer, whatever streams do.
//!
//! Owns: the writer connection, its statements, the checkpointer, the streams' reader. Must
//! not: decide who wins a redemption by anything but the primary keys (a second node's writes go
//! through the same file locks and constraints); `settle` reads their answers.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use async_trait::async_trait;
use handoff_core::ids::StreamId;
use handoff_core::model::{AuditEvent, AuditRecord, Outcome, Session};
use handoff_core::store::journal::{settle, Claim, Settled};
use handoff_core::store::{Journal, StoreError, StoreResult, Write};
use handoff_core::stream::{Cursor, StreamRecord};
use rusqlite::{params, CachedStatement, Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::MOVE_CURSOR;
use crate::failure;

/// How often the checkpointer looks at the log while writes happen.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How long a write waits for a lock held by another connection (an admin change, say).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const WRITER_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;";

const INSERT_AUDIT: &str =
    concat!("INSERT INTO audit_log (", audit_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
const CONSUME_TOKEN: &str =
    "INSERT INTO consumed_tokens (jti, expires_at, consumed_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
const INSERT_SESSION: &str =
    concat!("INSERT INTO sessions (", session_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
const REMEMBER_EVENT: &str =
    "INSERT INTO webhook_events (integration_id, event_id, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
const COUNT_AUDITS: &str = concat!(
    "INSERT INTO audit_counts (hour, kind, outcome, reason, count) VALUES (?1, ?2, ?3, ?4, ?5) ",
    count_audits_conflict!()
);

/// What the writer thread is asked to do: a batch of the journal, or to look at the cursor moves
/// waiting (see [`Moves`]).
enum Job {
    Batch(Vec<Write>, oneshot::Sender<StoreResult<Vec<bool>>>),
    Moves,
}

/// Streams' cursor moves waiting for the writer (`Journal::move_cursor`): each rides in the next
/// batch's transaction, so it costs no commit of its own while sign-ins commit; when no batch
/// comes first, the moves commit in one transaction of their own.
type Moves = Arc<Mutex<Vec<(CursorMove, oneshot::Sender<StoreResult<bool>>)>>>;

struct CursorMove {
    stream: String,
    owner: String,
    to: Cursor,
    delivered_at: Option<i64>,
}

const RECORDS_AFTER: &str =
    concat!("SELECT id, ", audit_columns!(), " FROM audit_log WHERE tx = ?1 AND id > ?2 ORDER BY id LIMIT ?3");

/// The handle the store commits through; the threads end when it is dropped.
pub(super) struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
    moves: Moves,
    /// The streams' reader of the log: its own connection, used on tokio's blocking threads, so
    /// a page of records costs one thread hop, not one per row as through sqlx's driver.
    reader: Arc<Mutex<Connection>>,
}

impl SqliteWriter {
    /// Opens the writer and checkpointer connections on the database file at `path`.
    pub(super) fn open(path: &Path) -> StoreResult<Self> {
        let writer = Connection::open(path).map_err(failure)?;
        writer.execute_batch(WRITER_PRAGMAS).map_err(failure)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(failure)?;
        writer.set_prepared_statement_cache_capacity(8);
        let checkpointer = Connection::open(path).map_err(failure)?;
        checkpointer.busy_timeout(BUSY_TIMEOUT).map_err(failure)?;
        let reader = Connection::open(path).map_err(failure)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(failure)?;
        reader.execute_batch("PRAGMA query_only = ON;").map_err(failure)?;

        let (jobs, incoming) = mpsc::channel::<Job>();
        let moves = Moves::default();
        let waiting = moves.clone();
        // Holds at most one pending "a commit happened": the writer never waits on it.
        let (committed, commits) = mpsc::sync_channel::<()>(1);
        let backfilled = Arc::new(AtomicBool::new(false));
        let checkpointed = backfilled.clone();
        thread::Builder::new()
            .name("handoff-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpointer, &commits, &checkpointed))
            .map_err(failure)?;
        thread::Builder::new()
            .name("handoff-journal".into())
            .spawn(move || {
                let mut writer = writer;
                while let Ok(job) = incoming.recv() {
                    let moving = std::mem::take(&mut *waiting.lock().unwrap_or_else(PoisonError::into_inner));
                    let (writes, reply) = match job {
                        Job::Batch(writes, reply) => (writes, Some(reply)),
                        Job::Moves if moving.is_empty() => continue,
                        Job::Moves => (Vec::new(), None),
                    };
                    let (moves, answers): (Vec<_>, Vec<_>) = moving.into_iter().unzip();
                    let result = apply(&mut writer, &writes, &moves);
                    let committed_ok = result.is_ok();
                    let (won, moved) = match result {
                        Ok((won, moved)) => (Ok(won), moved),
                        Err(err) => {
                            let moved = moves.iter().map(|_| Err(failure(&err))).collect();
                            (Err(err), moved)
                        }
                    };
                    if let Some(reply) = reply {
                        let _ = reply.send(won);
                    }
                    for (answer, result) in answers.into_iter().zip(moved) {
                        let _ = answer.send(result);
                    }
                    if committed_ok {
                        if backfilled.swap(false, Ordering::Acquire) {
                            restart_log(&writer);
                        }
                        let _ = committed.try_send(());
                    }
                }
            })
            .map_err(failure)?;
        Ok(Self { jobs, moves, reader: Arc::new(Mutex::new(reader)) })
    }

    /// Wakes the writer thread with `job`.
    fn send(&self, job: Job) -> StoreResult<()> {
        self.jobs.send(job).map_err(|_| closed())
    }
}

fn closed() -> StoreError {
    StoreError::Backend("the SQLite journal thread has stopped".into())
}

#[async_trait]
impl Journal for SqliteWriter {
    /// Applies `writes` in one transaction on the writer thread.
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Batch(writes, reply))?;
        answer.await.map_err(|_| closed())?
    }

    /// In the writer's next transaction (see [`Moves`]): never waiting for the file's lock, and
    /// never making a batch wait for it.
    async fn move_cursor(
        &self,
        stream: StreamId,
        owner: &str,
        to: Cursor,
        delivered_at: Option<i64>,
    ) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        let what = CursorMove { stream: stream.to_string(), owner: owner.to_owned(), to, delivered_at };
        self.moves.lock().unwrap_or_else(PoisonError::into_inner).push((what, reply));
        self.send(Job::Moves)?;
        answer.await.map_err(|_| closed())?
    }

    /// The rowid range after the cursor: one writer, so every committed record is final and id
    /// order is commit order (`tx` is always 0).
    async fn records_after(&self, after: Cursor, limit: u32) -> StoreResult<Vec<StreamRecord>> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let connection = reader.lock().map_err(|_| failure("the SQLite log reader panicked"))?;
            let mut statement = connection.prepare_cached(RECORDS_AFTER).map_err(failure)?;
            let rows = statement.query_map(params![after.tx, after.id, limit], |row| {
                let outcome: Option<String> = row.get(3)?;
                let record = AuditRecord {
                    id: row.get(0)?,
                    event: AuditEvent {
                        at: row.get(1)?,
                        kind: row.get(2)?,
                        outcome: outcome.as_deref().and_then(Outcome::parse),
                        reason: row.get(4)?,
                        partner_id: row.get(5)?,
                        organization_id: row.get(6)?,
                        user_id: row.get(7)?,
                        client_addr: row.get(8)?,
                        request_id: row.get(9)?,
                        detail: row.get(10)?,
                    },
                };
                Ok(StreamRecord { cursor: Cursor { tx: after.tx, id: record.id }, record })
            });
            rows.and_then(Iterator::collect).map_err(failure)
        })
        .await
        .map_err(failure)?
    }
}

/// Copies the log into the database after commits, at most every [`CHECKPOINT_EVERY`], without
/// holding up the writer; raises `backfilled` when done. Ends when the writer ends.
fn checkpoint_loop(connection: &Connection, commits: &mpsc::Receiver<()>, backfilled: &AtomicBool) {
    while commits.recv().is_ok() {
        // Let the commits of one interval gather (an early wake-up only makes it come sooner).
        thread::park_timeout(CHECKPOINT_EVERY);
        match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => backfilled.store(true, Ordering::Release),
            Err(err) => tracing::warn!(%err, "checkpointing the SQLite log failed"),
        }
    }
}

/// After a passive checkpoint, the writer (between two batches, so it holds no lock) copies the
/// few pages committed since and restarts the log: its next commit writes the log from the start
/// again, over blocks already allocated. A checkpoint on another connection could never restart
/// it, because a busy writer leaves no gap for it, and the log would grow without end.
///
/// It never waits: while a reader still uses the log (a long audit query, say), the restart gives
/// up at once and is tried again after the next passive checkpoint, instead of stalling every
/// sign-in behind that reader.
fn restart_log(writer: &Connection) {
    let restart = writer
        .busy_timeout(Duration::ZERO)
        .and_then(|()| writer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())));
    if let Err(err) = restart.and_then(|()| writer.busy_timeout(BUSY_TIMEOUT)) {
        tracing::warn!(%err, "restarting the SQLite log failed");
    }
}

/// A stream's cursor move; `false` when `owner` no longer holds the lease.
fn move_cursor(tx: &Transaction<'_>, m: &CursorMove) -> StoreResult<bool> {
    let mut statement = tx.prepare_cached(MOVE_CURSOR).map_err(failure)?;
    let changed = statement.execute(params![m.to.tx, m.to.id, m.delivered_at, m.stream, m.owner]).map_err(failure)?;
    Ok(changed == 1)
}

/// The batch's statements, prepared once per connection and reused.
struct Statements<'c> {
    audit: CachedStatement<'c>,
    consume: CachedStatement<'c>,
    session: CachedStatement<'c>,
    remember: CachedStatement<'c>,
    count: CachedStatement<'c>,
}

/// The four steps in one transaction: claims, settle, sessions and audit records, commit; with
/// them the cursor moves waiting, each answered on its own (a move that fails fails alone).
fn apply(
    connection: &mut Connection,
    writes: &[Write],
    moves: &[CursorMove],
) -> StoreResult<(Vec<bool>, Vec<StoreResult<bool>>)> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failure)?;
    let won = {
        let mut statements = Statements::prepare(&tx).map_err(failure)?;
        let fresh = statements.claim(writes).map_err(failure)?;
        let settled = settle(writes, &fresh)?;
        statements.write(&settled).map_err(failure)?;
        settled.won
    };
    let moved = moves.iter().map(|m| move_cursor(&tx, m)).collect();
    tx.commit().map_err(failure)?;
    Ok((won, moved))
}

impl<'c> Statements<'c> {
    fn prepare(tx: &'c Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            audit: tx.prepare_cached(INSERT_AUDIT)?,
            consume: tx.prepare_cached(CONSUME_TOKEN)?,
            session: tx.prepare_cached(INSERT_SESSION)?,
            remember: tx.prepare_cached(REMEMBER_EVENT)?,
            count: tx.prepare_cached(COUNT_AUDITS)?,
        })
    }

    /// Inserts every claim of `writes`, one at a time in write order, and answers per claim
    /// whether the database found it new (the primary keys of `consumed_tokens` and
    /// `webhook_events` decide: a duplicate inserts no row).
    fn claim(&mut self, writes: &[Write]) -> rusqlite::Result<Vec<bool>> {
        writes
            .iter()
            .flat_map(Write::claims)
            .map(|claim| {
                let inserted = match claim {
                    Claim::Token { jti, expires_at, consumed_at } => {
                        self.consume.execute(params![jti, expires_at, consumed_at])?
                    }
                    Claim::Event { integration, event_id, expires_at } => {
                        self.remember.execute(params![integration.to_string(), event_id, expires_at])?
                    }
                };
                Ok(inserted == 1)
            })
            .collect()
    }

    /// Opens the settled sessions, appends the settled audit records and adds them to the
    /// rollup (one upsert per hour, kind, outcome and reason of the batch).
    fn write(&mut self, settled: &Settled<'_>) -> rusqlite::Result<()> {
        for session in &settled.sessions {
            insert_session(&mut self.session, session)?;
        }
        for audit in &settled.audits {
            insert_audit(&mut self.audit, audit)?;
        }
        for c in settled.counts() {
            self.count.execute(params![c.hour, c.kind, c.outcome.map_or("", Outcome::as_str), c.reason, c.count])?;
        }
        Ok(())
    }
}

fn insert_session(statement: &mut CachedStatement<'_>, session: &Session) -> rusqlite::Result<()> {
    statement.execute(params![
        session.id.to_string(),
        session.secret_digest.as_bytes().as_slice(),
        session.user_id.to_string(),
        session.organization_id.to_string(),
        session.partner_id.map(|p| p.to_string()),
        session.embed,
        session.created_at,
        session.last_seen_at,
        session.expires_at,
    ])?;
    Ok(())
}

fn insert_audit(statement: &mut CachedStatement<'_>, e: &AuditEvent) -> rusqlite::Result<()> {
    statement.execute(params![
        e.at,
        e.kind,
        e.outcome.map(Outcome::as_str),
        e.reason,
        e.partner_id,
        e.organization_id,
        e.user_id,
        e.client_addr,
        e.request_id,
        e.detail,
    ])?;
    Ok(())
}
