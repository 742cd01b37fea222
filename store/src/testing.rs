//! PostgreSQL for tests (feature `testing`): the server `dezky_test_services` finds (the one of
//! `DEZKY_TEST_DATABASE_URL`, else a container when a Docker engine answers, else the local
//! one), and a schema of each test's own, so tests run in parallel on one database.

#![allow(
    clippy::expect_used,
    reason = "test support: a failed set-up step panics"
)]

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// The test PostgreSQL (`DEZKY_TEST_DATABASE_URL`, else a container or the local one: see
/// `dezky_test_services`).
pub fn postgres_url() -> String {
    dezky_test_services::postgres_url()
}

/// A fresh schema on the test PostgreSQL; [`TestSchema::drop`] removes it with all it holds.
#[derive(Debug)]
pub struct TestSchema {
    /// Its name (`dzt_<ulid>`).
    pub name: String,
    admin: sqlx::PgPool,
}

impl TestSchema {
    /// Creates the schema.
    pub async fn create() -> Self {
        let name = format!("dzt_{}", ulid::Ulid::new().to_string().to_lowercase());
        let admin = sqlx::PgPool::connect(&postgres_url())
            .await
            .expect("connect to the test PostgreSQL (DEZKY_TEST_DATABASE_URL)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .expect("create the test schema");
        Self { name, admin }
    }

    /// Connection options whose every table lives in the schema.
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&postgres_url())
            .expect("DEZKY_TEST_DATABASE_URL")
            .options([("search_path", self.name.as_str())])
    }

    /// The same as a URL, for a process started with `DEZKY_DATABASE_URL`.
    pub fn url(&self) -> String {
        let url = postgres_url();
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{}", self.name)
    }

    /// The pool the schema was made with, for checks across schemas.
    pub fn admin(&self) -> &sqlx::PgPool {
        &self.admin
    }

    /// Drops the schema and what it holds.
    pub async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("drop the test schema");
        self.admin.close().await;
    }
}
