//! Reading the audit log (it is appended to through the journal).

use async_trait::async_trait;
use handoff_core::model::{AuditFilter, AuditRecord};
use handoff_core::store::{Audit, StoreResult};

use super::rows::audit_record;
use super::SqlStore;
use crate::backend;

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
            ("reason", f.reason.clone()),
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
        // 1001: a page of the largest size (1000) and one more, to know whether another follows.
        query
            .bind(i64::from(f.limit.clamp(1, 1001)))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(audit_record)
            .collect()
    }
}
