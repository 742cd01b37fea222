//! Jobs written by the previous Redis layout still run and show after an upgrade: their ids are
//! plain ULIDs (no queue: a call by id looks in every queue) and their args sit in their own hash
//! (not the queue's args hash). A job is written here by hand exactly as that layout did.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::time::Duration;

use dezky_queue::contract::redis_prefix::{fresh_prefix, redis_url};
use dezky_queue::redis::{RedisQueue, RedisQueueConfig};
use dezky_queue::{
    AttemptFailure, Clock, FetchRequest, JobFilter, JobId, JobState, Outcome, QueueBackend,
    SystemClock,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_the_previous_layout_run_and_show() {
    let (prefix, _guard) = fresh_prefix();
    let queue = RedisQueue::connect(
        &redis_url(),
        RedisQueueConfig {
            prefix: prefix.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let id = JobId::generate();
    assert!(id.queue().is_none());
    let now = SystemClock.now_ms();
    let base = format!("{prefix}:{{legacy}}");
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(format!("{base}:j:{id}"))
        .arg(&[
            ("k", "echo"),
            ("a", r#"{"old":"layout"}"#),
            ("p", "0"),
            ("r", &now.to_string()),
            ("n", "0"),
            ("m", "3"),
            ("s", "available"),
            ("c", &now.to_string()),
        ])
        .ignore()
        .cmd("ZADD")
        .arg(format!("{base}:available"))
        .arg(1000_i64 * 4_398_046_511_104 + now)
        .arg(id.as_str())
        .ignore()
        .cmd("ZADD")
        .arg(format!("{base}:all"))
        .arg(0)
        .arg(id.as_str())
        .ignore()
        .cmd("SADD")
        .arg(format!("{prefix}:queues"))
        .arg("legacy")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();

    let job = queue
        .get(&id)
        .await
        .unwrap()
        .expect("found by its plain id");
    assert_eq!(job.args, serde_json::json!({"old": "layout"}));
    let page = queue
        .list(JobFilter {
            text: Some("layout".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 1, "search finds it by its args");
    let fetch = || {
        queue.fetch(FetchRequest {
            queue: "legacy".into(),
            worker: "w".into(),
            limit: 1,
            lease_ttl: Duration::from_secs(30),
        })
    };
    let leased = fetch().await.unwrap().jobs;
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].args, serde_json::json!({"old": "layout"}));
    let failure = AttemptFailure {
        class: "test".into(),
        message: "again".into(),
    };
    let state = queue
        .complete(
            &leased[0].lease,
            Outcome::Retry {
                error: failure,
                retry_after: Some(Duration::from_secs(3600)),
            },
        )
        .await
        .unwrap();
    assert_eq!(state, JobState::Scheduled);
    // An admin call by the plain id finds the job too.
    assert_eq!(
        queue.retry_now(&id).await.unwrap().state,
        JobState::Available
    );
    let leased = fetch().await.unwrap().jobs;
    assert_eq!(leased[0].args, serde_json::json!({"old": "layout"}));
    let state = queue
        .complete(
            &leased[0].lease,
            Outcome::Succeeded(serde_json::Value::Null),
        )
        .await
        .unwrap();
    assert_eq!(state, JobState::Succeeded);
}
