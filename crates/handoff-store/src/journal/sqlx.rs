//! PostgreSQL's write path for the journal: a batch's rows travel as JSON arrays, one parameter
//! per table, into statements whose text is the same for every batch size (`json_to_recordset`),
//! so each is prepared once per connection. A batch without claims (mints) is one statement, a
//! transaction of its own: one round trip. A batch with claims (redemptions, inbound events) is
//! a transaction of the claim statements, then that one statement.
//!
//! Owns: the batch statements. Must not: decide who wins by anything but what the database
//! returns (`ON CONFLICT DO NOTHING RETURNING` names the keys it inserted).

use std::collections::HashSet;

use async_trait::async_trait;
use handoff_core::ids::StreamId;
use handoff_core::model::Outcome;
use handoff_core::store::journal::{settle, Claim, Settled};
use handoff_core::store::{Journal, StoreResult, Write};
use handoff_core::stream::{Cursor, StreamRecord};
use serde::Serialize;
use sqlx::{Any, Executor, Row};

use super::MOVE_CURSOR;
use crate::sql::pool::{Pool, Tx};
use crate::sql::rows::audit_record;
use crate::{backend, failure};

/// The journal over the store's sqlx pool.
pub(super) struct SqlxJournal {
    pool: Pool,
}

impl SqlxJournal {
    pub(super) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl Journal for SqlxJournal {
    /// Remembered events and consumed tokens first, when the batch has any (their primary keys
    /// decide who wins), then the sessions, audit records and rollup of the winners in one
    /// statement.
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        let claims: Vec<Claim<'_>> = writes.iter().flat_map(Write::claims).collect();
        if claims.is_empty() {
            let settled = settle(&writes, &[])?;
            write_settled(&self.pool, &settled).await?;
            return Ok(settled.won);
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let fresh = claim(&mut tx, &claims).await?;
        let settled = settle(&writes, &fresh)?;
        write_settled(&mut tx, &settled).await?;
        tx.commit().await.map_err(backend)?;
        Ok(settled.won)
    }

    async fn move_cursor(
        &self,
        stream: StreamId,
        owner: &str,
        to: Cursor,
        delivered_at: Option<i64>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(MOVE_CURSOR)
            .bind(to.tx)
            .bind(to.id)
            .bind(delivered_at)
            .bind(stream.to_string())
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Through the index on `(tx, id)`, only records below the snapshot's `xmin`: every
    /// transaction below it has finished, so no record can still commit behind this page.
    async fn records_after(&self, after: Cursor, limit: u32) -> StoreResult<Vec<StreamRecord>> {
        let sql = concat!(
            "SELECT tx, id, ",
            audit_columns!(),
            " FROM audit_log WHERE tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             AND (tx, id) > ($1, $2) ORDER BY tx, id LIMIT $3"
        );
        let rows = sqlx::query(sql)
            .bind(after.tx)
            .bind(after.id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let record = audit_record(row)?;
                Ok(StreamRecord { cursor: Cursor { tx: row.try_get("tx").map_err(backend)?, id: record.id }, record })
            })
            .collect()
    }
}

/// Inserts every claim and answers, per claim in write order, whether the database found it new.
/// Two claims of one key in a batch: the database inserts it once and returns it once, and the
/// first claim of it (in write order) takes it. Claims are inserted in key order, so two batches
/// (of one node or of two) that claim the same keys wait for each other in one order, never in
/// a cycle.
async fn claim(tx: &mut Tx, claims: &[Claim<'_>]) -> StoreResult<Vec<bool>> {
    let mut events = remember_events(tx, claims).await?;
    let mut tokens = consume_tokens(tx, claims).await?;
    Ok(claims
        .iter()
        .map(|claim| match claim {
            Claim::Token { jti, .. } => tokens.remove(*jti),
            Claim::Event { integration, event_id, .. } => {
                events.remove(&(integration.to_string(), (*event_id).to_owned()))
            }
        })
        .collect())
}

const REMEMBER_EVENTS: &str = "INSERT INTO webhook_events (integration_id, event_id, expires_at) \
     SELECT integration_id, event_id, expires_at FROM json_to_recordset($1::json) \
     AS r(integration_id text, event_id text, expires_at bigint) ORDER BY integration_id, event_id \
     ON CONFLICT DO NOTHING RETURNING integration_id, event_id";

#[derive(Serialize)]
struct EventRow<'a> {
    integration_id: String,
    event_id: &'a str,
    expires_at: i64,
}

/// The `(integration, event_id)` keys of the event claims the database found new.
async fn remember_events(tx: &mut Tx, claims: &[Claim<'_>]) -> StoreResult<HashSet<(String, String)>> {
    let events: Vec<EventRow<'_>> = claims
        .iter()
        .filter_map(|claim| match claim {
            Claim::Event { integration, event_id, expires_at } => {
                Some(EventRow { integration_id: integration.to_string(), event_id, expires_at: *expires_at })
            }
            Claim::Token { .. } => None,
        })
        .collect();
    let mut new = HashSet::new();
    if events.is_empty() {
        return Ok(new);
    }
    let rows = sqlx::query(REMEMBER_EVENTS).bind(json(&events)?).fetch_all(&mut *tx).await.map_err(backend)?;
    for row in rows {
        new.insert((row.try_get::<String, _>(0).map_err(backend)?, row.try_get::<String, _>(1).map_err(backend)?));
    }
    Ok(new)
}

const CONSUME_TOKENS: &str = "INSERT INTO consumed_tokens (jti, expires_at, consumed_at) \
     SELECT jti, expires_at, consumed_at FROM json_to_recordset($1::json) \
     AS r(jti text, expires_at bigint, consumed_at bigint) ORDER BY jti ON CONFLICT DO NOTHING RETURNING jti";

#[derive(Serialize)]
struct TokenRow<'a> {
    jti: &'a str,
    expires_at: i64,
    consumed_at: i64,
}

/// The `jti`s of the token claims the database found new: the first consumption of a `jti`
/// ever, here or on any node.
async fn consume_tokens(tx: &mut Tx, claims: &[Claim<'_>]) -> StoreResult<HashSet<String>> {
    let tokens: Vec<TokenRow<'_>> = claims
        .iter()
        .filter_map(|claim| match claim {
            Claim::Token { jti, expires_at, consumed_at } => {
                Some(TokenRow { jti, expires_at: *expires_at, consumed_at: *consumed_at })
            }
            Claim::Event { .. } => None,
        })
        .collect();
    let mut new = HashSet::new();
    if tokens.is_empty() {
        return Ok(new);
    }
    let rows = sqlx::query(CONSUME_TOKENS).bind(json(&tokens)?).fetch_all(&mut *tx).await.map_err(backend)?;
    for row in rows {
        new.insert(row.try_get::<String, _>(0).map_err(backend)?);
    }
    Ok(new)
}

/// The winners' sessions, audit records (in write order, so their ids are too: the array's
/// order, kept by `ORDER BY` its ordinality) and rollup. The rollup's keys are distinct (a
/// multi-row upsert may not touch one row twice) and upserted in key order, so concurrent
/// batches lock rows in one order.
const WRITE_SETTLED: &str = concat!(
    "WITH sessions_added AS (INSERT INTO sessions (",
    session_columns!(),
    ") SELECT id, decode(secret_digest, 'hex'), user_id, organization_id, partner_id, embed, created_at, \
     last_seen_at, expires_at FROM json_to_recordset($1::json) AS r(id text, secret_digest text, user_id text, \
     organization_id text, partner_id text, embed boolean, created_at bigint, last_seen_at bigint, expires_at bigint)), ",
    "audits_added AS (INSERT INTO audit_log (",
    audit_columns!(),
    ") SELECT ",
    audit_columns!(),
    " FROM ROWS FROM (json_to_recordset($2::json) AS (at bigint, kind text, outcome text, reason text, \
     partner_id text, organization_id text, user_id text, client_addr text, request_id text, detail text)) \
     WITH ORDINALITY AS r(",
    audit_columns!(),
    ", n) ORDER BY n) ",
    "INSERT INTO audit_counts (hour, kind, outcome, reason, count) SELECT hour, kind, outcome, reason, count \
     FROM json_to_recordset($3::json) AS r(hour bigint, kind text, outcome text, reason text, count bigint) \
     ORDER BY hour, kind, outcome, reason ",
    count_audits_conflict!()
);

#[derive(Serialize)]
struct SessionRow {
    id: String,
    secret_digest: String,
    user_id: String,
    organization_id: String,
    partner_id: Option<String>,
    embed: bool,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

#[derive(Serialize)]
struct AuditRow<'a> {
    at: i64,
    kind: &'a str,
    outcome: Option<&'static str>,
    reason: &'a str,
    partner_id: Option<&'a str>,
    organization_id: Option<&'a str>,
    user_id: Option<&'a str>,
    client_addr: Option<&'a str>,
    request_id: Option<&'a str>,
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct CountRow<'a> {
    hour: i64,
    kind: &'a str,
    outcome: &'static str,
    reason: &'a str,
    count: u64,
}

/// Writes `settled`'s sessions, audit records and rollup with one statement.
async fn write_settled<'e>(executor: impl Executor<'e, Database = Any>, settled: &Settled<'_>) -> StoreResult<()> {
    let sessions: Vec<SessionRow> = settled
        .sessions
        .iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            secret_digest: hex::encode(s.secret_digest.as_bytes()),
            user_id: s.user_id.to_string(),
            organization_id: s.organization_id.to_string(),
            partner_id: s.partner_id.map(|p| p.to_string()),
            embed: s.embed,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        })
        .collect();
    let audits: Vec<AuditRow<'_>> = settled
        .audits
        .iter()
        .map(|e| AuditRow {
            at: e.at,
            kind: &e.kind,
            outcome: e.outcome.map(Outcome::as_str),
            reason: &e.reason,
            partner_id: e.partner_id.as_deref(),
            organization_id: e.organization_id.as_deref(),
            user_id: e.user_id.as_deref(),
            client_addr: e.client_addr.as_deref(),
            request_id: e.request_id.as_deref(),
            detail: e.detail.as_deref(),
        })
        .collect();
    let counts = settled.counts();
    let counts: Vec<CountRow<'_>> = counts
        .iter()
        .map(|c| CountRow {
            hour: c.hour,
            kind: &c.kind,
            outcome: c.outcome.map_or("", Outcome::as_str),
            reason: &c.reason,
            count: c.count,
        })
        .collect();
    sqlx::query(WRITE_SETTLED)
        .bind(json(&sessions)?)
        .bind(json(&audits)?)
        .bind(json(&counts)?)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

/// `rows` as one JSON array, the parameter of a `json_to_recordset`.
fn json<T: Serialize>(rows: &[T]) -> StoreResult<String> {
    serde_json::to_string(rows).map_err(failure)
}
