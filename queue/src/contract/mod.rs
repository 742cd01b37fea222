//! The queue contract as tests, written once and run against every backend (River's driver
//! tests are the model). A backend's test file provides a [`Factory`] and expands
//! [`queue_contract_tests!`](crate::queue_contract_tests), which makes one `#[tokio::test]` per case.
//! Time is a [`ManualClock`]: expiry and backoff are tested by moving it, never by waiting.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test suite: a failed step panics"
)]

mod admin;
mod dedup;
pub mod faulty;
mod in_tx;
mod leases;
mod locks;
pub mod model;
pub mod model_test;
mod ordering;
mod outcomes;
mod overview;
pub mod postgres_support;
pub mod redis_prefix;
mod scale;
mod search;
pub mod sqlite_support;
mod stops;

use std::time::Duration;

pub use futures::future::BoxFuture;

pub use admin::*;
pub use dedup::*;
pub use in_tx::*;
pub use leases::*;
pub use locks::*;
pub use ordering::*;
pub use outcomes::*;
pub use overview::*;
pub use scale::*;
pub use search::*;
pub use stops::*;

use crate::DynQueue;
use crate::backoff::RetryPolicy;
use crate::clock::ManualClock;
use crate::model::{FetchRequest, Fetched, JobState, Lease, LeasedJob, NewJob, Outcome};

/// What a case may ask of the backend it runs on.
#[derive(Debug, Clone)]
pub struct HarnessConfig {
    /// The retry policy the backend must use.
    pub retry: RetryPolicy,
    /// The most scheduled jobs one fetch may promote.
    pub promote_limit: usize,
}

impl Default for HarnessConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(60),
            },
            promote_limit: 500,
        }
    }
}

/// A fresh, isolated backend (own file, own key prefix) on a manual clock.
#[derive(Debug)]
pub struct Harness {
    /// The backend under test.
    pub queue: DynQueue,
    /// Its clock.
    pub clock: ManualClock,
    /// Whatever must live as long as the backend (a temp dir, a key-prefix cleaner).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Makes a [`Harness`].
pub type Factory = dyn Fn(HarnessConfig) -> BoxFuture<'static, Harness> + Send + Sync;

/// The lease every case uses: long, so only the clock expires it.
pub const TTL: Duration = Duration::from_secs(30);

/// A fetch request for `queue`.
pub fn req(queue: &str, limit: usize) -> FetchRequest {
    FetchRequest {
        queue: queue.into(),
        worker: "contract-worker".into(),
        limit,
        lease_ttl: TTL,
    }
}

/// Fetches from `queue`, panicking on a storage error.
pub async fn fetch(h: &Harness, queue: &str, limit: usize) -> Fetched {
    h.queue.fetch(req(queue, limit)).await.expect("fetch")
}

/// Fetches exactly one job from `queue`.
pub async fn fetch_one(h: &Harness, queue: &str) -> LeasedJob {
    let mut got = fetch(h, queue, 1).await.jobs;
    assert_eq!(got.len(), 1, "expected one job from {queue}");
    got.remove(0)
}

/// Completes `lease` with a null result, answering the state it left the job in.
pub async fn succeed(h: &Harness, lease: &Lease) -> JobState {
    h.queue
        .complete(lease, Outcome::Succeeded(serde_json::Value::Null))
        .await
        .expect("complete")
}

/// Completes `lease` with a permanent failure, answering the state it left the job in (`dead`).
pub async fn abort(h: &Harness, lease: &Lease) -> JobState {
    h.queue
        .complete(
            lease,
            Outcome::Abort(crate::model::AttemptFailure::new("permanent", "no")),
        )
        .await
        .expect("complete")
}

/// A job of kind `kind` with `{"n": n}` as args.
pub fn job(kind: &str, n: i64) -> NewJob {
    NewJob::new(kind, serde_json::json!({ "n": n }))
}

/// Expands to the cases that never move the clock, for a backend on its server's own time (the
/// production setting), one `#[tokio::test]` each.
#[macro_export]
macro_rules! queue_contract_tests_without_time {
    ($factory:path) => {
        $crate::queue_contract_tests!(@cases $factory;
            push_then_get_returns_the_job,
            unknown_ids_are_none,
            invalid_pushes_are_refused,
            bulk_push_spanning_queues_is_refused,
            paused_queue_is_not_fetched_until_resumed,
            success_records_the_result,
            abort_is_dead_at_once,
            complete_many_answers_each_attempt,
            dedup_returns_the_existing_job,
            concurrent_dedup_pushes_make_one_job,
            dedup_keys_are_per_queue,
            a_retried_job_does_not_take_back_a_key_another_job_took,
            renew_reports_lost_and_cancel_requested,
            release_refunds_the_attempt,
            racing_workers_get_one_lease_each_job,
            retry_now_clears_the_cancel_request,
            cancel_queued_and_running,
            discard_records_the_reason,
            retry_now_revives_a_dead_job,
            list_filters_and_pages,
            counts_per_queue_and_state,
            push_wakes_an_idle_worker,
            search_finds_a_rare_text_in_the_oldest_job,
            search_pages_combined_filters_across_the_budget,
            a_lock_has_one_holder_until_released,
            locks_are_per_key,
            racing_takers_get_one_lock,
            invalid_locks_are_refused,
            delete_removes_only_finished_jobs,
            bulk_dead_retries_and_deletes_in_bounded_batches,
            a_push_in_a_transaction_stands_or_falls_with_it,
            a_completion_in_a_transaction_is_fenced_and_stands_or_falls_with_it
        );
    };
}

/// Expands to one `#[tokio::test]` per contract case, each calling `$factory` for a fresh
/// harness. `$factory` is `async fn(HarnessConfig) -> Harness`.
#[macro_export]
macro_rules! queue_contract_tests {
    ($factory:path) => {
        $crate::queue_contract_tests!(@cases $factory;
            push_then_get_returns_the_job,
            unknown_ids_are_none,
            invalid_pushes_are_refused,
            fetch_orders_by_priority_then_run_at_then_fifo,
            fetch_counts_the_attempt_and_respects_the_limit,
            future_jobs_wait_until_due,
            paused_queue_is_not_fetched_until_resumed,
            success_records_the_result,
            retry_backs_off_then_goes_dead_at_max_attempts,
            retry_after_replaces_backoff,
            snooze_does_not_spend_the_attempt,
            blocked_records_why_without_spending_the_attempt,
            abort_is_dead_at_once,
            complete_many_answers_each_attempt,
            expired_lease_returns_the_job_and_fences_the_old_worker,
            expired_lease_on_last_attempt_is_dead,
            renewal_keeps_the_lease,
            renew_reports_lost_and_cancel_requested,
            release_refunds_the_attempt,
            dedup_returns_the_existing_job,
            dedup_window_outlives_the_job,
            concurrent_dedup_pushes_make_one_job,
            racing_workers_get_one_lease_each_job,
            cancel_queued_and_running,
            discard_records_the_reason,
            retry_now_revives_a_dead_job,
            list_filters_and_pages,
            search_finds_a_rare_text_in_the_oldest_job,
            search_pages_combined_filters_across_the_budget,
            counts_per_queue_and_state,
            retention_prunes_finished_jobs,
            push_wakes_an_idle_worker,
            promotion_is_bounded_with_a_large_backlog,
            cancelled_without_a_request_is_refused,
            a_cancel_request_wins_over_retry_and_snooze,
            retry_now_clears_the_cancel_request,
            bulk_push_spanning_queues_is_refused,
            dedup_keys_are_per_queue,
            dedup_window_outlives_retention,
            a_lock_has_one_holder_until_released,
            a_lock_expires_and_fences_its_old_holder,
            locks_are_per_key,
            racing_takers_get_one_lock,
            invalid_locks_are_refused,
            a_retried_job_does_not_take_back_a_key_another_job_took,
            activity_reports_the_oldest_wait_and_recent_endings,
            delete_removes_only_finished_jobs,
            bulk_dead_retries_and_deletes_in_bounded_batches,
            a_push_in_a_transaction_stands_or_falls_with_it,
            a_completion_in_a_transaction_is_fenced_and_stands_or_falls_with_it
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory = |c: $crate::contract::HarnessConfig| -> $crate::contract::BoxFuture<'static, $crate::contract::Harness> {
                    Box::pin($factory(c))
                };
                $crate::contract::$case(&factory).await;
            }
        )*
    };
}
