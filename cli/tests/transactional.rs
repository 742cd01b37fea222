//! Transactional enqueue and completion, with the real binary killed between the store's write
//! and the queue's (`DEZKY_CRASH_POINT`, an abort: what a SIGKILL or a power cut does there).
//!
//! - Enqueue: `POST /v1/tenants` stores the tenant and pushes its `provision-tenant`. With the
//!   queue elsewhere (Redis) the process dies with the tenant stored and no job for it; with the
//!   queue in the store's database (SQLite, PostgreSQL) it leaves neither.
//! - Completion: a `settle` job records a tenant step, seals a secret and enqueues two children,
//!   then succeeds. With the queue elsewhere the process dies with all three written and the job
//!   still running; in the store's database, with none of them. Either way a worker started
//!   afterwards runs the job again once its lease expires, and it ends with exactly one of each.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{PORTAL_TOKEN, Process, enqueue_at, free_port, poll_until, start_binary, wait_ready};
use dezky_queue::contract::postgres_support::TestSchema;
use dezky_queue::contract::redis_prefix::{PrefixGuard, fresh_prefix, redis_url};
use dezky_queue::{DynQueue, JobFilter, JobState};
use dezky_store::Store;
use serde_json::json;

/// Where queue and store live.
enum Setup {
    /// Queue on Redis (under a prefix its guard deletes), store in a SQLite file: two systems.
    Split {
        dir: tempfile::TempDir,
        prefix: String,
        _guard: PrefixGuard,
    },
    /// Both in one SQLite file.
    SharedSqlite(tempfile::TempDir),
    /// Both in one PostgreSQL schema.
    SharedPostgres(TestSchema),
}

impl Setup {
    fn split() -> Self {
        let (prefix, guard) = fresh_prefix();
        Setup::Split {
            dir: tempfile::tempdir().unwrap(),
            prefix,
            _guard: guard,
        }
    }

    fn shared_sqlite() -> Self {
        Setup::SharedSqlite(tempfile::tempdir().unwrap())
    }

    async fn shared_postgres() -> Self {
        Setup::SharedPostgres(TestSchema::create().await)
    }

    /// Where the store is (and the queue, when shared).
    fn database_url(&self) -> String {
        match self {
            Setup::Split { dir, .. } | Setup::SharedSqlite(dir) => sqlite_url(dir),
            Setup::SharedPostgres(schema) => schema.url(),
        }
    }

    /// The process's settings for this setup.
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DEZKY_LEASE_TTL_SECS", "2".to_owned()),
            ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
            ("DEZKY_ENABLE_TEST_KINDS", "true".to_owned()),
            ("DEZKY_SECRET_KEY", "5e".repeat(32)),
            ("DEZKY_DATABASE_URL", self.database_url()),
        ];
        match self {
            Setup::Split { prefix, .. } => {
                env.push(("DEZKY_REDIS_URL", redis_url()));
                env.push(("DEZKY_REDIS_PREFIX", prefix.clone()));
            }
            Setup::SharedSqlite(_) => {}
            Setup::SharedPostgres(_) => env.push(("DEZKY_QUEUE", "postgres".to_owned())),
        }
        env
    }

    /// The store and the queue, as the test reads them.
    async fn open(&self) -> (Store, DynQueue) {
        let store = Store::connect(&self.database_url()).await.unwrap();
        let queue: DynQueue = match self {
            Setup::Split { prefix, .. } => std::sync::Arc::new(
                dezky_queue::redis::RedisQueue::connect_default(&redis_url(), prefix)
                    .await
                    .unwrap(),
            ),
            Setup::SharedSqlite(dir) => std::sync::Arc::new(
                dezky_queue::sqlite::SqliteQueue::open_default(&sqlite_url(dir))
                    .await
                    .unwrap(),
            ),
            Setup::SharedPostgres(schema) => std::sync::Arc::new(
                dezky_queue::postgres::PostgresQueue::open_with(
                    schema.options(),
                    Default::default(),
                )
                .await
                .unwrap(),
            ),
        };
        (store, queue)
    }

    /// Starts `run` with `env` on top, answering once it is ready.
    async fn start(
        &self,
        client: &reqwest::Client,
        extra: &[(&'static str, String)],
    ) -> (u16, Process) {
        let port = free_port();
        let mut env = self.env();
        env.extend(extra.iter().cloned());
        let process = Process(start_binary(port, &env));
        assert!(wait_ready(client, port).await, "dezky-jobs did not come up");
        (port, process)
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("jobs.db").display())
}

/// Waits until `process` died (→ `true`), at most 30 s.
async fn died(process: &mut Process) -> bool {
    poll_until(Duration::from_secs(30), || {
        let exited = process.0.try_wait().ok().flatten().is_some();
        async move { exited }
    })
    .await
}

/// Jobs of `kind`, in any state.
async fn jobs_of(queue: &DynQueue, kind: &str) -> Vec<dezky_queue::Job> {
    queue
        .list(JobFilter {
            kind: Some(kind.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .jobs
}

/// Whether job `id` has a sealed secret (without opening it).
async fn secret_sealed(store: &Store, id: &str) -> bool {
    const SQL: &str = "SELECT count(*) FROM store_secrets WHERE job_id = $1";
    let n: i64 = match store {
        Store::Sqlite(pool) => sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await,
        Store::Postgres(pool) => sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await,
    }
    .unwrap();
    n > 0
}

/// Kills the process between the tenant's write and its job's push; answers whether the tenant
/// was stored and how many provisioning jobs exist.
async fn crash_between_store_and_push(setup: &Setup) -> (bool, usize) {
    let client = common::http();
    let (port, mut process) = setup
        .start(&client, &[("DEZKY_CRASH_POINT", "enqueue:stored".into())])
        .await;
    let answer = client
        .post(format!("http://127.0.0.1:{port}/v1/tenants"))
        .bearer_auth(PORTAL_TOKEN)
        .json(&json!({
            "slug": "acme",
            "name": "Acme",
            "domain": "acme.example.eu",
            "redirect_uris": ["https://acme.example.eu/cb"],
        }))
        .send()
        .await;
    assert!(
        answer.is_err(),
        "the process died before answering: {answer:?}"
    );
    assert!(
        died(&mut process).await,
        "the process reached its crash point"
    );
    let (store, queue) = setup.open().await;
    let stored = store.tenant("acme").await.unwrap().is_some();
    (stored, jobs_of(&queue, "provision-tenant").await.len())
}

#[tokio::test]
async fn enqueue_split_leaves_a_tenant_without_its_job() {
    let setup = Setup::split();
    assert_eq!(crash_between_store_and_push(&setup).await, (true, 0));
}

#[tokio::test]
async fn enqueue_shared_sqlite_leaves_neither() {
    let setup = Setup::shared_sqlite();
    assert_eq!(crash_between_store_and_push(&setup).await, (false, 0));
}

#[tokio::test]
async fn enqueue_shared_postgres_leaves_neither() {
    let setup = Setup::shared_postgres().await;
    assert_eq!(crash_between_store_and_push(&setup).await, (false, 0));
}

/// What a `settle` job had written: its step, its secret, its children, and its state.
#[derive(Debug, PartialEq)]
struct Written {
    step: bool,
    secret: bool,
    children: usize,
    state: JobState,
}

async fn written(setup: &Setup, id: &str) -> Written {
    let (store, queue) = setup.open().await;
    let tenant = store.tenant("acme").await.unwrap().expect("the tenant");
    Written {
        step: tenant.steps.0.get("settled").is_some(),
        secret: secret_sealed(&store, id).await,
        children: jobs_of(&queue, "echo").await.len(),
        state: queue
            .get(&dezky_queue::JobId(id.to_owned()))
            .await
            .unwrap()
            .expect("the job")
            .state,
    }
}

/// Kills the process between a successful attempt's store writes and its completion; answers
/// what that left, then what a worker started afterwards made of it.
async fn crash_between_writes_and_completion(setup: &Setup) -> (Written, Written) {
    let client = common::http();
    let (store, _) = setup.open().await;
    store
        .put_tenant("acme", "Acme", &json!({}), 0)
        .await
        .unwrap();
    let (port, mut process) = setup
        .start(&client, &[("DEZKY_CRASH_POINT", "complete:stored".into())])
        .await;
    let id = enqueue_at(
        &client,
        port,
        json!({ "kind": "settle", "args": { "slug": "acme", "children": 2 } }),
    )
    .await
    .0;
    assert!(
        died(&mut process).await,
        "the process reached its crash point"
    );
    let after_crash = written(setup, &id).await;

    let (port, _process) = setup.start(&client, &[]).await;
    assert!(
        common::all_succeed(
            &client,
            port,
            std::slice::from_ref(&id),
            Duration::from_secs(30)
        )
        .await,
        "the job ran again once its lease expired, and succeeded"
    );
    (after_crash, written(setup, &id).await)
}

const NOTHING_YET: Written = Written {
    step: false,
    secret: false,
    children: 0,
    state: JobState::Running,
};

const DONE_ONCE: Written = Written {
    step: true,
    secret: true,
    children: 2,
    state: JobState::Succeeded,
};

#[tokio::test]
async fn completion_split_leaves_writes_without_the_completion() {
    let setup = Setup::split();
    let (after_crash, after_rerun) = crash_between_writes_and_completion(&setup).await;
    assert_eq!(
        after_crash,
        Written {
            step: true,
            secret: true,
            children: 2,
            state: JobState::Running,
        },
        "written, yet the job is not done"
    );
    assert_eq!(after_rerun, DONE_ONCE);
}

#[tokio::test]
async fn completion_shared_sqlite_commits_all_or_nothing() {
    let setup = Setup::shared_sqlite();
    let (after_crash, after_rerun) = crash_between_writes_and_completion(&setup).await;
    assert_eq!(after_crash, NOTHING_YET);
    assert_eq!(after_rerun, DONE_ONCE);
}

#[tokio::test]
async fn completion_shared_postgres_commits_all_or_nothing() {
    let setup = Setup::shared_postgres().await;
    let (after_crash, after_rerun) = crash_between_writes_and_completion(&setup).await;
    assert_eq!(after_crash, NOTHING_YET);
    assert_eq!(after_rerun, DONE_ONCE);
}
