//! PostgreSQL's write path for the journal: one multi-row statement per table, whatever the batch
//! size, over the store's pool.
//!
//! Owns: the batch statements. Must not: decide who wins by anything but what the database
//! returns (`ON CONFLICT DO NOTHING RETURNING` names the keys it inserted).

use std::collections::HashSet;

use async_trait::async_trait;
use handoff_core::ids::StreamId;
use handoff_core::model::{AuditEvent, Outcome, Session};
use handoff_core::store::journal::{settle, Claim};
use handoff_core::store::{AuditCount, Journal, StoreResult, Write};
use handoff_core::stream::{Cursor, StreamRecord};
use sqlx::Row;

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
    /// Five statements at most: remembered events and consumed tokens (their primary keys decide
    /// who wins), then sessions, then audit records, then their rollup.
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let fresh = claim(&mut tx, &writes).await?;
        let settled = settle(&writes, &fresh)?;
        insert_sessions(&mut tx, &settled.sessions).await?;
        insert_audits(&mut tx, &settled.audits).await?;
        count_audits(&mut tx, &settled.counts()).await?;
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

/// Inserts every claim of `writes` and answers, per claim in write order, whether the database
/// found it new. A multi-row insert takes its rows in order, and a row with the key of an earlier
/// one conflicts with it: a key the database returns was inserted by the first claim of it.
async fn claim(tx: &mut Tx, writes: &[Write]) -> StoreResult<Vec<bool>> {
    let claims: Vec<Claim<'_>> = writes.iter().flat_map(Write::claims).collect();
    let mut events = remember_events(tx, &claims).await?;
    let mut tokens = consume_tokens(tx, &claims).await?;
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

/// The `(integration, event_id)` keys of the event claims the database found new.
async fn remember_events(tx: &mut Tx, claims: &[Claim<'_>]) -> StoreResult<HashSet<(String, String)>> {
    let events: Vec<(String, &str, i64)> = claims
        .iter()
        .filter_map(|claim| match claim {
            Claim::Event { integration, event_id, expires_at } => {
                Some((integration.to_string(), *event_id, *expires_at))
            }
            Claim::Token { .. } => None,
        })
        .collect();
    let mut new = HashSet::new();
    if events.is_empty() {
        return Ok(new);
    }
    let sql = format!(
        "INSERT INTO webhook_events (integration_id, event_id, expires_at) VALUES {} ON CONFLICT DO NOTHING \
         RETURNING integration_id, event_id",
        values(events.len(), 3)
    );
    let mut query = sqlx::query(&sql);
    for (integration, event_id, expires_at) in &events {
        query = query.bind(integration.as_str()).bind(*event_id).bind(*expires_at);
    }
    for row in query.fetch_all(&mut *tx).await.map_err(backend)? {
        new.insert((row.try_get::<String, _>(0).map_err(backend)?, row.try_get::<String, _>(1).map_err(backend)?));
    }
    Ok(new)
}

/// The `jti`s of the token claims the database found new: the first consumption of a `jti`
/// ever, here or on any node.
async fn consume_tokens(tx: &mut Tx, claims: &[Claim<'_>]) -> StoreResult<HashSet<String>> {
    let tokens: Vec<(&str, i64, i64)> = claims
        .iter()
        .filter_map(|claim| match claim {
            Claim::Token { jti, expires_at, consumed_at } => Some((*jti, *expires_at, *consumed_at)),
            Claim::Event { .. } => None,
        })
        .collect();
    let mut new = HashSet::new();
    if tokens.is_empty() {
        return Ok(new);
    }
    let sql = format!(
        "INSERT INTO consumed_tokens (jti, expires_at, consumed_at) VALUES {} ON CONFLICT DO NOTHING RETURNING jti",
        values(tokens.len(), 3)
    );
    let mut query = sqlx::query(&sql);
    for (jti, expires_at, consumed_at) in &tokens {
        query = query.bind(*jti).bind(*expires_at).bind(*consumed_at);
    }
    for row in query.fetch_all(&mut *tx).await.map_err(backend)? {
        new.insert(row.try_get::<String, _>(0).map_err(backend)?);
    }
    Ok(new)
}

/// Opens `sessions` with one statement.
async fn insert_sessions(tx: &mut Tx, sessions: &[&Session]) -> StoreResult<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let sql = format!(concat!("INSERT INTO sessions (", session_columns!(), ") VALUES {}"), values(sessions.len(), 9));
    let mut query = sqlx::query(&sql);
    for s in sessions {
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
    query.execute(&mut *tx).await.map_err(backend)?;
    Ok(())
}

/// Appends `events` with one statement.
async fn insert_audits(tx: &mut Tx, events: &[&AuditEvent]) -> StoreResult<()> {
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
    query.execute(&mut *tx).await.map_err(backend)?;
    Ok(())
}

/// Adds `counts` to the rollup with one statement. Their keys are distinct (a multi-row upsert
/// may not touch one row twice) and in key order, so concurrent batches lock rows in one order.
async fn count_audits(tx: &mut Tx, counts: &[AuditCount]) -> StoreResult<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        concat!("INSERT INTO audit_counts (hour, kind, outcome, reason, count) VALUES {} ", count_audits_conflict!()),
        values(counts.len(), 5)
    );
    let mut query = sqlx::query(&sql);
    for c in counts {
        query = query
            .bind(c.hour)
            .bind(c.kind.as_str())
            .bind(c.outcome.map_or("", Outcome::as_str))
            .bind(c.reason.as_str())
            .bind(i64::try_from(c.count).map_err(failure)?);
    }
    query.execute(&mut *tx).await.map_err(backend)?;
    Ok(())
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
