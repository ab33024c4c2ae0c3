//! Users, and ending their sessions when they are disabled.

use async_trait::async_trait;
use handoff_core::ids::{OrganizationId, UserId};
use handoff_core::model::{PageRequest, StatusSetter, User, UserStatus};
use handoff_core::store::{StatusChange, StoreResult, Users};

use super::rows::user;
use super::{page_limit, SqlStore};
use crate::{backend, conflict_or_backend};

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
        .execute(&mut tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut tx)
                .await
                .map_err(backend)?
                .is_some();
            tx.rollback().await.map_err(backend)?;
            return Ok(if exists { StatusChange::OperatorDisabled } else { StatusChange::NotFound });
        }
        if status == UserStatus::Disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.to_string())
                .execute(&mut tx)
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
