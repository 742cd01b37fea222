//! Sealed secret results on SQLite and on the real PostgreSQL: sealed, opened under the current
//! or an old key, bound to their job, hidden once their time is up and then erased.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;
use std::time::Duration;

use dezky_queue::ManualClock;
use dezky_store::testing::TestSchema;
use dezky_store::{SecretKeys, SecretVault, Store};
use serde_json::json;

async fn sealed_opened_rotated_and_erased(store: &Store) {
    let clock = ManualClock::new(1_000_000);
    let old_key = SecretKeys::generate_hex();
    let vault = |current: &str, old: &[&str]| {
        SecretVault::new(
            store.clone(),
            SecretKeys::from_hex(current, old).unwrap(),
            Duration::from_secs(60),
            Arc::new(clock.clone()),
        )
    };
    let before = vault(&old_key, &[]);
    let secret = json!({"recovery_link": "https://auth.example.eu/recovery/abc"});
    before.seal("job-1", &secret).await.unwrap();
    assert_eq!(before.open("job-1").await.unwrap(), Some(secret.clone()));
    assert!(before.holds("job-1").await.unwrap());
    assert_eq!(before.open("job-2").await.unwrap(), None);

    // Stored sealed: the row does not hold the text.
    let raw: Vec<u8> = match store {
        Store::Sqlite(pool) => {
            sqlx::query_scalar("SELECT sealed FROM store_secrets WHERE job_id = 'job-1'")
                .fetch_one(pool)
                .await
                .unwrap()
        }
        Store::Postgres(pool) => {
            sqlx::query_scalar("SELECT sealed FROM store_secrets WHERE job_id = 'job-1'")
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    assert!(!String::from_utf8_lossy(&raw).contains("recovery"));

    // Rotation: a new key opens nothing sealed before unless the old key is kept.
    let new_key = SecretKeys::generate_hex();
    assert!(vault(&new_key, &[]).open("job-1").await.is_err());
    let rotated = vault(&new_key, &[&old_key]);
    assert_eq!(rotated.open("job-1").await.unwrap(), Some(secret.clone()));

    // Bound to its job: a sealed secret copied to another job does not open.
    let copy = "INSERT INTO store_secrets (job_id, sealed, expires_at)
                SELECT 'job-3', sealed, expires_at FROM store_secrets WHERE job_id = 'job-1'";
    match store {
        Store::Sqlite(pool) => sqlx::query(copy).execute(pool).await.map(drop).unwrap(),
        Store::Postgres(pool) => sqlx::query(copy).execute(pool).await.map(drop).unwrap(),
    }
    assert!(rotated.open("job-3").await.is_err());

    // Its time up: hidden at once, erased by the sweep.
    rotated.seal("job-4", &json!("later")).await.unwrap();
    clock.advance(Duration::from_secs(60));
    assert_eq!(rotated.open("job-1").await.unwrap(), None);
    assert!(!rotated.holds("job-4").await.unwrap());
    assert_eq!(rotated.stored().await.unwrap(), 3);
    assert_eq!(rotated.erase_expired().await.unwrap(), 3);
    assert_eq!(rotated.stored().await.unwrap(), 0);
}

#[tokio::test]
async fn secrets_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::connect(&url).await.unwrap();
    sealed_opened_rotated_and_erased(&store).await;
    store.close().await;
}

#[tokio::test]
async fn secrets_on_postgres() {
    let schema = TestSchema::create().await;
    let store = Store::postgres(schema.options()).await.unwrap();
    sealed_opened_rotated_and_erased(&store).await;
    store.close().await;
}
