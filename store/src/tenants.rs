//! Tenants: desired state, the status of each provisioning step, and the Authentik ids each
//! role got. One row per slug; a step's record and an id are merged into the row's JSON.

use serde_json::Value;
use sqlx::types::Json;

use crate::tx::{Exec, StoreTx, on_exec};
use crate::{Store, StoreError, on_pool};

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Tenant {
    /// Unique, URL-safe.
    pub slug: String,
    /// For people.
    pub name: String,
    /// What the tenant should have (JSON).
    pub desired: Json<Value>,
    /// Step → its record (JSON object).
    pub steps: Json<Value>,
    /// Role → Authentik object id (JSON object).
    pub authentik: Json<Value>,
    /// When it was first stored.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

const COLUMNS: &str = "slug, name, desired, steps, authentik, created_at, updated_at";

impl Store {
    /// Stores the desired state of tenant `slug` (creating it, or replacing name and desired
    /// state and keeping its steps and ids).
    pub async fn put_tenant(
        &self,
        slug: &str,
        name: &str,
        desired: &Value,
        now: i64,
    ) -> Result<Tenant, StoreError> {
        put_tenant(Exec::Pool(self), slug, name, desired, now).await
    }

    /// Tenant `slug`, if stored.
    pub async fn tenant(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM store_tenants WHERE slug = $1");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, Tenant>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(slug)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Records what became of `step` of tenant `slug` (`record` replaces the step's previous
    /// one), and, with `id`, the Authentik id of `role`.
    pub async fn record_step(
        &self,
        slug: &str,
        step: &str,
        record: &Value,
        id: Option<(&str, &str)>,
        now: i64,
    ) -> Result<Tenant, StoreError> {
        record_step(Exec::Pool(self), slug, step, record, id, now).await
    }

    /// Tenants by slug, after `after` (a page of at most `limit`).
    pub async fn tenants(&self, after: &str, limit: u32) -> Result<Vec<Tenant>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM store_tenants WHERE slug > $1 ORDER BY slug LIMIT $2");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, Tenant>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(after)
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(pool)
                .await?
        }))
    }
}

impl StoreTx {
    /// [`Store::put_tenant`], in this transaction.
    pub async fn put_tenant(
        &mut self,
        slug: &str,
        name: &str,
        desired: &Value,
        now: i64,
    ) -> Result<Tenant, StoreError> {
        put_tenant(self.exec(), slug, name, desired, now).await
    }

    /// [`Store::record_step`], in this transaction.
    pub async fn record_step(
        &mut self,
        slug: &str,
        step: &str,
        record: &Value,
        id: Option<(&str, &str)>,
        now: i64,
    ) -> Result<Tenant, StoreError> {
        record_step(self.exec(), slug, step, record, id, now).await
    }
}

async fn put_tenant(
    exec: Exec<'_>,
    slug: &str,
    name: &str,
    desired: &Value,
    now: i64,
) -> Result<Tenant, StoreError> {
    let sql = format!(
        "INSERT INTO store_tenants (slug, name, desired, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (slug) DO UPDATE SET name = excluded.name, desired = excluded.desired,
             updated_at = excluded.updated_at
         RETURNING {COLUMNS}"
    );
    Ok(on_exec!(exec, |e| {
        sqlx::query_as::<_, Tenant>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(slug)
            .bind(name)
            .bind(Json(desired))
            .bind(now)
            .fetch_one(e)
            .await?
    }))
}

async fn record_step(
    exec: Exec<'_>,
    slug: &str,
    step: &str,
    record: &Value,
    id: Option<(&str, &str)>,
    now: i64,
) -> Result<Tenant, StoreError> {
    // SQLite's json_set and PostgreSQL's jsonb_set differ; the rest is one statement.
    let sql = match exec.dialect() {
        "sqlite" => format!(
            "UPDATE store_tenants SET steps = json_set(steps, '$.' || json_quote($2), json($3)),
                 authentik = CASE WHEN $4 IS NULL THEN authentik
                                  ELSE json_set(authentik, '$.' || json_quote($4), $5) END,
                 updated_at = $6
             WHERE slug = $1 RETURNING {COLUMNS}"
        ),
        _ => format!(
            "UPDATE store_tenants SET steps = jsonb_set(steps, ARRAY[$2::text], $3::jsonb),
                 authentik = CASE WHEN $4::text IS NULL THEN authentik
                                  ELSE jsonb_set(authentik, ARRAY[$4::text], to_jsonb($5::text)) END,
                 updated_at = $6
             WHERE slug = $1 RETURNING {COLUMNS}"
        ),
    };
    let tenant = on_exec!(exec, |e| {
        sqlx::query_as::<_, Tenant>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(slug)
            .bind(step)
            .bind(Json(record))
            .bind(id.map(|(role, _)| role))
            .bind(id.map(|(_, id)| id))
            .bind(now)
            .fetch_optional(e)
            .await?
    });
    tenant.ok_or_else(|| StoreError::NotFound(format!("tenant {slug}")))
}
