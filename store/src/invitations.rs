//! Invitations of operators to a tenant: who, and how far the invitation got. Never the
//! recovery link or password it carried: those are secret results of the job that sent it.

use crate::{Store, StoreError, on_pool};

/// An invitation as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Invitation {
    /// Unique.
    pub id: String,
    /// The tenant's slug.
    pub tenant: String,
    /// Whom it invites.
    pub email: String,
    /// How far it got (`pending`, `sent`, `accepted`, `failed`, …).
    pub status: String,
    /// When it was first stored.
    pub created_at: i64,
    /// When its status last changed.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, tenant, email, status, created_at, updated_at";

impl Store {
    /// Stores an invitation of `email` to `tenant` as `pending`, or answers the one already
    /// there (one per tenant and address).
    pub async fn invite(
        &self,
        id: &str,
        tenant: &str,
        email: &str,
        now: i64,
    ) -> Result<Invitation, StoreError> {
        let insert =
            "INSERT INTO store_invitations (id, tenant, email, status, created_at, updated_at)
             VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (tenant, email) DO NOTHING";
        let select =
            format!("SELECT {COLUMNS} FROM store_invitations WHERE tenant = $1 AND email = $2");
        Ok(on_pool!(self, |pool| {
            sqlx::query(insert)
                .bind(id)
                .bind(tenant)
                .bind(email)
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query_as::<_, Invitation>(sqlx::AssertSqlSafe(select.clone()))
                .bind(tenant)
                .bind(email)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Sets the status of invitation `id`.
    pub async fn set_invitation_status(
        &self,
        id: &str,
        status: &str,
        now: i64,
    ) -> Result<Invitation, StoreError> {
        let sql = format!(
            "UPDATE store_invitations SET status = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}"
        );
        on_pool!(self, |pool| {
            sqlx::query_as::<_, Invitation>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(status)
                .bind(now)
                .fetch_optional(pool)
                .await?
        })
        .ok_or_else(|| StoreError::NotFound(format!("invitation {id}")))
    }

    /// The invitations of `tenant`, by address.
    pub async fn invitations(&self, tenant: &str) -> Result<Vec<Invitation>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM store_invitations WHERE tenant = $1 ORDER BY email");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, Invitation>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(tenant)
                .fetch_all(pool)
                .await?
        }))
    }
}
