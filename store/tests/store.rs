//! The store on SQLite and on the real PostgreSQL of `DEZKY_TEST_DATABASE_URL` (each test in a
//! schema of its own, dropped at the end): one body of checks, run on both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_store::testing::TestSchema;
use dezky_store::{AuditEntry, Store, StoreError};
use serde_json::json;

async fn tenants_invitations_and_runs(store: &Store) {
    // Tenants: desired state, then steps and Authentik ids merged in.
    let t = store
        .put_tenant("acme", "ACME", &json!({"domain": "acme.eu"}), 1000)
        .await
        .unwrap();
    assert_eq!((t.created_at, t.updated_at), (1000, 1000));
    store
        .record_step(
            "acme",
            "group",
            &json!({"status": "done"}),
            Some(("group", "pk-1")),
            2000,
        )
        .await
        .unwrap();
    let t = store
        .record_step(
            "acme",
            "brand",
            &json!({"status": "failed", "detail": "403"}),
            None,
            3000,
        )
        .await
        .unwrap();
    assert_eq!(
        t.steps.0,
        json!({"group": {"status": "done"}, "brand": {"status": "failed", "detail": "403"}})
    );
    assert_eq!(t.authentik.0, json!({"group": "pk-1"}));
    // Putting the desired state again keeps steps and ids.
    let t = store
        .put_tenant(
            "acme",
            "ACME Ltd",
            &json!({"domain": "acme.eu", "seats": 5}),
            4000,
        )
        .await
        .unwrap();
    assert_eq!(
        (t.name.as_str(), t.created_at, t.updated_at),
        ("ACME Ltd", 1000, 4000)
    );
    assert_eq!(t.authentik.0, json!({"group": "pk-1"}));
    assert_eq!(store.tenant("acme").await.unwrap(), Some(t));
    assert!(store.tenant("nobody").await.unwrap().is_none());
    assert!(matches!(
        store.record_step("nobody", "x", &json!({}), None, 1).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .put_tenant("beta", "Beta", &json!({}), 5000)
        .await
        .unwrap();
    let page: Vec<String> = store
        .tenants("", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(page, ["acme", "beta"]);
    assert_eq!(store.tenants("acme", 10).await.unwrap().len(), 1);

    // Invitations: one per tenant and address.
    let first = store
        .invite("inv-1", "acme", "a@acme.eu", 6000)
        .await
        .unwrap();
    let again = store
        .invite("inv-2", "acme", "a@acme.eu", 7000)
        .await
        .unwrap();
    assert_eq!(again, first);
    let sent = store
        .set_invitation_status("inv-1", "sent", 8000)
        .await
        .unwrap();
    assert_eq!((sent.status.as_str(), sent.updated_at), ("sent", 8000));
    assert_eq!(store.invitations("acme").await.unwrap(), vec![sent]);
    assert!(
        store.invite("inv-3", "nobody", "a@b.eu", 1).await.is_err(),
        "unknown tenant"
    );

    // Runs: started, then finished, in batches; an attempt that never ended stays open.
    let run =
        |attempt: i32, started_at: i64, end: Option<(i64, &str, Option<&str>)>| dezky_store::Run {
            job_id: "job-1".into(),
            attempt,
            kind: "echo".into(),
            started_at,
            finished_at: end.map(|e| e.0),
            outcome: end.map(|e| e.1.to_owned()),
            error: end.and_then(|e| e.2.map(str::to_owned)),
        };
    store.record_runs(&[run(1, 100, None)]).await.unwrap();
    store
        .record_runs(&[
            run(1, 100, Some((150, "retry", Some("503 from Authentik")))),
            run(2, 200, None),
        ])
        .await
        .unwrap();
    let runs = store.runs("job-1").await.unwrap();
    assert_eq!(
        runs,
        [
            run(1, 100, Some((150, "retry", Some("503 from Authentik")))),
            run(2, 200, None)
        ]
    );
    // A released attempt that runs again starts over.
    store.record_runs(&[run(2, 300, None)]).await.unwrap();
    assert_eq!(store.runs("job-1").await.unwrap()[1].started_at, 300);
    let many: Vec<_> = (1..=1200)
        .map(|n| run(n, 1000, Some((1001, "succeeded", None))))
        .collect();
    store.record_runs(&many).await.unwrap();
    assert_eq!(store.runs("job-1").await.unwrap().len(), 1200);
}

/// Schedules: configuration replaced, ticks only forward, the newest job kept when a tick
/// enqueues none.
async fn schedules(store: &Store) {
    let row = store
        .put_schedule(
            "seed",
            "seed-recovery-flow",
            &json!({}),
            "*/15 * * * *",
            Some(900),
            100,
        )
        .await
        .unwrap();
    assert_eq!((row.last_tick, row.last_job.as_deref()), (None, None));
    assert!(
        store
            .record_tick("seed", 0, Some(900), None, "baseline", 110)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_tick("seed", 900, Some(1800), Some("job-a"), "enqueued", 120)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_tick("seed", 900, Some(1800), Some("job-b"), "enqueued", 130)
            .await
            .unwrap(),
        "a tick is recorded once"
    );
    assert!(
        !store
            .record_tick("seed", 0, None, None, "missed", 140)
            .await
            .unwrap(),
        "never back"
    );
    assert!(
        store
            .record_tick("seed", 1800, Some(2700), None, "skipped", 150)
            .await
            .unwrap()
    );
    // A replica that pushed the same tick meanwhile: the job that exists wins; then nothing.
    assert!(
        store
            .record_tick("seed", 1800, Some(2700), Some("job-b"), "enqueued", 155)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_tick("seed", 1800, Some(2700), None, "skipped", 156)
            .await
            .unwrap()
    );
    let row = store.schedule("seed").await.unwrap().unwrap();
    assert_eq!(
        (
            row.last_tick,
            row.next_tick,
            row.last_job.as_deref(),
            row.last_outcome.as_deref()
        ),
        (Some(1800), Some(2700), Some("job-b"), Some("enqueued"))
    );
    // A new configuration keeps what the ticks did.
    let row = store
        .put_schedule(
            "seed",
            "seed-recovery-flow",
            &json!({}),
            "0 * * * *",
            Some(3600),
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        (row.expression.as_str(), row.last_tick),
        ("0 * * * *", Some(1800))
    );
    assert!(store.record_run_now("seed", "job-c", 210).await.unwrap());
    assert!(!store.record_run_now("nothing", "job-d", 210).await.unwrap());
    store
        .put_schedule(
            "reconcile",
            "reconcile-tenants",
            &json!({}),
            "0 * * * *",
            None,
            300,
        )
        .await
        .unwrap();
    let names: Vec<String> = store
        .schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["reconcile", "seed"]);
    assert_eq!(
        store
            .schedule("seed")
            .await
            .unwrap()
            .unwrap()
            .last_job
            .as_deref(),
        Some("job-c")
    );
}

async fn audit(store: &Store) {
    let entry = |at, action: &str, target: &str| AuditEntry {
        at,
        actor: "alice".into(),
        action: action.into(),
        target: target.into(),
        detail: format!("{action} done"),
    };
    store
        .record_action(&entry(1, "retry", "job-a"))
        .await
        .unwrap();
    store
        .record_action(&entry(2, "pause", "queue:q"))
        .await
        .unwrap();
    store
        .record_action(&entry(3, "discard", "job-a"))
        .await
        .unwrap();
    assert_eq!(
        store.actions("job-a", 10).await.unwrap(),
        vec![entry(3, "discard", "job-a"), entry(1, "retry", "job-a")],
        "a target's actions, newest first"
    );
    assert_eq!(
        store.actions("", 2).await.unwrap(),
        vec![entry(3, "discard", "job-a"), entry(2, "pause", "queue:q")]
    );
    assert!(store.actions("job-b", 10).await.unwrap().is_empty());
    assert_eq!(
        store.actions("queue:", 10).await.unwrap(),
        vec![entry(2, "pause", "queue:q")],
        "by a target's prefix"
    );
}

#[tokio::test]
async fn the_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.dialect(), "sqlite");
    tenants_invitations_and_runs(&store).await;
    schedules(&store).await;
    audit(&store).await;
    store.close().await;
}

#[tokio::test]
async fn the_store_on_postgres() {
    let schema = TestSchema::create().await;
    let store = Store::postgres(schema.options()).await.unwrap();
    assert_eq!(store.dialect(), "postgres");
    tenants_invitations_and_runs(&store).await;
    schedules(&store).await;
    audit(&store).await;
    store.close().await;
}
