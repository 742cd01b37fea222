//! A call by id costs one round trip to Redis however many queues exist: ids carry their queue,
//! so `get`, retry, discard and cancel go straight to the queue's slot. Counted on the backend's
//! own connection, with 100 queues, on one Redis and on the cluster.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_queue::contract::redis_prefix::{queue_at, redis_cluster_url, redis_url};
use dezky_queue::redis::RedisQueue;
use dezky_queue::{JobId, JobState, NewJob, QueueBackend};

const QUEUES: usize = 100;

async fn calls_by_id_cost_one_round_trip(url: &str) {
    let (queue, _guard) = queue_at(url).await;
    let mut ids = Vec::new();
    for n in 0..QUEUES {
        let mut job = NewJob::new("echo", serde_json::json!({ "n": n }));
        job.queue = Some(format!("q{n}"));
        ids.push(queue.push(job).await.unwrap().id);
    }
    // The last queue's job: the one a probe of every queue in order would find last.
    let id = ids.last().unwrap().clone();

    let trips = |queue: &RedisQueue| queue.round_trips();
    let before = trips(&queue);
    let job = queue.get(&id).await.unwrap().expect("the job");
    assert_eq!(job.queue, format!("q{}", QUEUES - 1));
    assert_eq!(trips(&queue) - before, 1, "get");

    let before = trips(&queue);
    assert_eq!(queue.cancel(&id).await.unwrap().state, JobState::Cancelled);
    assert_eq!(trips(&queue) - before, 1, "cancel");

    let before = trips(&queue);
    assert_eq!(
        queue.retry_now(&id).await.unwrap().state,
        JobState::Available
    );
    assert_eq!(trips(&queue) - before, 1, "retry");

    let before = trips(&queue);
    assert_eq!(
        queue.discard(&id, "test").await.unwrap().state,
        JobState::Dead
    );
    assert_eq!(trips(&queue) - before, 1, "discard");

    // An id of a queue that does not exist: one round trip, and nothing found.
    let stranger = JobId::parse(&format!("{}.nowhere", &id.as_str()[..26])).unwrap();
    let before = trips(&queue);
    assert!(queue.get(&stranger).await.unwrap().is_none());
    assert_eq!(trips(&queue) - before, 1, "get of an unknown id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_by_id_is_one_round_trip_with_100_queues() {
    calls_by_id_cost_one_round_trip(&redis_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_by_id_is_one_round_trip_with_100_queues_on_a_cluster() {
    calls_by_id_cost_one_round_trip(&redis_cluster_url()).await;
}
