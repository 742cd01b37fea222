//! The write operations: each one `EVALSHA` on one queue's keys.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::future::try_join_all;
use redis::Value;

use super::keys::{job_key, on_queue, queues_key};
use super::read::job_from_hash;
use super::scripts::{ADMIN, COMPLETE, FETCH, PUSH, RELEASE, RENEW};
use super::{RedisQueue, storage};
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{
    FetchRequest, Fetched, FinishedWithin, Job, JobId, JobState, Lease, LeasedJob, NewJob, Outcome,
    Pushed, QueueActivity, Renewed, Retention,
};
use crate::validate::{validate_bulk, validate_queue_name};

/// Most completions one script call takes.
const COMPLETE_CHUNK: usize = 1000;

impl RedisQueue {
    /// Registers `queue` in the queue index (once per process).
    pub(super) async fn register_queue(&self, queue: &str) -> Result<(), QueueError> {
        let known = self
            .known_queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(queue);
        if !known {
            redis::cmd("SADD")
                .arg(queues_key(self.prefix()))
                .arg(queue)
                .query_async::<i64>(&mut self.conn.clone())
                .await
                .map_err(storage)?;
            self.known_queues
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(queue.to_owned());
        }
        Ok(())
    }

    pub(super) async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError> {
        validate_bulk(&jobs)?;
        // One queue (validated), so one script call on one slot: all or nothing.
        let Some(queue) = jobs.first().map(|j| j.queue_name().to_owned()) else {
            return Ok(Vec::new());
        };
        self.register_queue(&queue).await?;
        let ids: Vec<JobId> = jobs.iter().map(|_| JobId::generate_in(&queue)).collect();
        self.push_with_ids(&queue, &jobs, &ids).await
    }

    /// Pushes `jobs` to `queue` as `ids`: one script call, which a retry after a lost reply may
    /// repeat without writing any job twice.
    async fn push_with_ids(
        &self,
        queue: &str,
        jobs: &[NewJob],
        ids: &[JobId],
    ) -> Result<Vec<Pushed>, QueueError> {
        let mut call = on_queue(&PUSH, self.prefix(), queue);
        call.arg(self.now_arg());
        for (job, id) in jobs.iter().zip(ids) {
            let dedup = job.dedup.as_ref();
            call.arg(id.as_str())
                .arg(&job.kind)
                .arg(
                    serde_json::to_string(&job.args)
                        .map_err(|e| QueueError::Invalid(e.to_string()))?,
                )
                .arg(job.priority)
                .arg(
                    job.run_at
                        .map_or_else(String::new, |r| r.max(0).to_string()),
                )
                .arg(job.max_attempts)
                .arg(job.tenant.as_deref().unwrap_or(""))
                .arg(job.enqueued_by.as_deref().unwrap_or(""))
                .arg(dedup.map_or("", |d| d.key.as_str()))
                .arg(dedup.map_or(0, |d| duration_ms(d.window)))
                .arg(dedup.and_then(|d| d.fingerprint.as_deref()).unwrap_or(""));
        }
        let answer: Vec<Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        self.hub.notify(queue);
        if answer.len() != jobs.len() * 3 {
            return Err(QueueError::Storage("push answered too little".into()));
        }
        Ok(answer
            .chunks(3)
            .map(|chunk| {
                let fingerprint = text(&chunk[2]);
                Pushed {
                    id: JobId(text(&chunk[0])),
                    duplicate: int(&chunk[1]) == 1,
                    existing_fingerprint: (!fingerprint.is_empty()).then_some(fingerprint),
                }
            })
            .collect())
    }

    pub(super) async fn fetch_leases(&self, req: FetchRequest) -> Result<Fetched, QueueError> {
        let limit = req.limit.max(1);
        let mut call = on_queue(&FETCH, self.prefix(), &req.queue);
        call.arg(self.now_arg())
            .arg(limit)
            .arg(duration_ms(req.lease_ttl))
            .arg(&req.worker)
            .arg(self.config.promote_limit)
            .arg(self.config.rescue_limit);
        for _ in 0..limit {
            call.arg(rand::random::<i64>() & i64::MAX);
        }
        let answer: Vec<Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        let (head, rows) = answer.split_at(2.min(answer.len()));
        let mut fetched = Fetched {
            jobs: Vec::with_capacity(rows.len() / 9),
            rescued: head.first().map_or(0, |v| int(v) as usize),
            promoted: head.get(1).map_or(0, |v| int(v) as usize),
        };
        for r in rows.chunks(9) {
            let attempt = int(&r[4]) as u32;
            fetched.jobs.push(LeasedJob {
                lease: Lease {
                    id: JobId(text(&r[0])),
                    queue: req.queue.clone(),
                    token: int(&r[1]),
                    attempt,
                },
                kind: text(&r[2]),
                queue: req.queue.clone(),
                args: serde_json::from_str(&text(&r[3])).unwrap_or(serde_json::Value::Null),
                max_attempts: int(&r[5]) as u32,
                tenant: Some(text(&r[6])).filter(|t| !t.is_empty()),
                priority: int(&r[7]) as i32,
                run_at: int(&r[8]),
            });
        }
        Ok(fetched)
    }

    /// Which queue holds the job: the one its id carries, or for an id made before ids carried
    /// their queue, the first queue of the index that has it (a look-up per queue).
    pub(super) async fn queue_of(&self, id: &JobId) -> Result<Option<String>, QueueError> {
        if let Some(queue) = id.queue() {
            return Ok(Some(queue.to_owned()));
        }
        for queue in self.queue_names().await? {
            let exists: bool = redis::cmd("EXISTS")
                .arg(job_key(self.prefix(), &queue, id.as_str()))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(storage)?;
            if exists {
                return Ok(Some(queue));
            }
        }
        Ok(None)
    }

    pub(super) async fn complete_lease(
        &self,
        lease: &Lease,
        outcome: Outcome,
    ) -> Result<JobState, QueueError> {
        let mut answers = self.complete_leases(&[(lease.clone(), outcome)]).await?;
        answers
            .pop()
            .unwrap_or_else(|| Err(QueueError::Storage("complete answered nothing".into())))
    }

    /// Completes attempts, one script call per queue.
    pub(super) async fn complete_leases(
        &self,
        items: &[(Lease, Outcome)],
    ) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
        let mut by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (lease, _)) in items.iter().enumerate() {
            by_queue.entry(lease.queue.as_str()).or_default().push(i);
        }
        let mut out: Vec<Result<JobState, QueueError>> = items
            .iter()
            .map(|(l, _)| Err(QueueError::LeaseLost(l.id.0.clone())))
            .collect();
        // One script call per queue and chunk (Lua's `unpack` takes a few thousand values).
        let calls = by_queue.into_iter().flat_map(|(queue, indexes)| {
            indexes
                .chunks(COMPLETE_CHUNK)
                .map(|c| (queue, c.to_vec()))
                .collect::<Vec<_>>()
        });
        for (queue, indexes) in calls {
            let mut call = on_queue(&COMPLETE, self.prefix(), queue);
            call.arg(self.now_arg());
            for &i in &indexes {
                let (lease, outcome) = &items[i];
                call.arg(lease.id.as_str()).arg(lease.token);
                match outcome {
                    Outcome::Succeeded(result) => {
                        let result = serde_json::to_string(result)
                            .map_err(|e| QueueError::Invalid(e.to_string()))?;
                        call.arg("ok").arg(result).arg("").arg("");
                    }
                    Outcome::Retry { error, retry_after } => {
                        let delay = retry_after
                            .unwrap_or_else(|| self.config.retry.jittered(lease.attempt));
                        call.arg("retry")
                            .arg(duration_ms(delay))
                            .arg(&error.class)
                            .arg(&error.message);
                    }
                    Outcome::Snooze(delay) => {
                        call.arg("snooze").arg(duration_ms(*delay)).arg("").arg("");
                    }
                    Outcome::Blocked { delay, reason } => {
                        call.arg("blocked")
                            .arg(duration_ms(*delay))
                            .arg(&reason.class)
                            .arg(&reason.message);
                    }
                    Outcome::Abort(error) => {
                        call.arg("abort")
                            .arg(&error.class)
                            .arg(&error.message)
                            .arg("");
                    }
                    Outcome::Cancelled => {
                        call.arg("cancelled").arg("").arg("").arg("");
                    }
                }
            }
            let states: Vec<Option<String>> = call
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(storage)?;
            let mut rescheduled = false;
            for (&i, state) in indexes.iter().zip(states) {
                match state.as_deref() {
                    None => {}
                    Some("refused") => {
                        out[i] = Err(QueueError::InvalidState {
                            id: items[i].0.id.0.clone(),
                            state: JobState::Running.to_string(),
                            reason: crate::machine::NO_CANCEL_REQUEST,
                        })
                    }
                    Some(state) => {
                        rescheduled |= state == "scheduled";
                        out[i] = state.parse().map_err(QueueError::Storage);
                    }
                }
            }
            if rescheduled {
                // A zero snooze or retry may be due at once; idle workers should look.
                self.hub.notify(queue);
            }
        }
        Ok(out)
    }

    pub(super) async fn renew_leases(
        &self,
        leases: &[Lease],
        ttl: Duration,
    ) -> Result<Renewed, QueueError> {
        let mut renewed = Renewed::default();
        for (queue, group) in group_by_queue(leases) {
            let mut call = on_queue(&RENEW, self.prefix(), &queue);
            call.arg(self.now_arg()).arg(duration_ms(ttl));
            for lease in &group {
                call.arg(lease.id.as_str()).arg(lease.token);
            }
            let (lost, cancel): (Vec<usize>, Vec<usize>) = call
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(storage)?;
            renewed.lost.extend(
                lost.iter()
                    .filter_map(|i| group.get(i.wrapping_sub(1)).cloned()),
            );
            renewed.cancel_requested.extend(
                cancel
                    .iter()
                    .filter_map(|i| group.get(i.wrapping_sub(1)).cloned()),
            );
        }
        Ok(renewed)
    }

    pub(super) async fn release_leases(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        let mut released = 0;
        for (queue, group) in group_by_queue(leases) {
            let mut call = on_queue(&RELEASE, self.prefix(), &queue);
            call.arg(self.now_arg());
            for lease in &group {
                call.arg(lease.id.as_str()).arg(lease.token);
            }
            let n: usize = call
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(storage)?;
            released += n;
            self.hub.notify(&queue);
        }
        Ok(released)
    }

    async fn admin(&self, queue: &str, op: &str, args: &[String]) -> Result<Value, QueueError> {
        let mut call = on_queue(&ADMIN, self.prefix(), queue);
        call.arg(self.now_arg()).arg(op);
        for a in args {
            call.arg(a);
        }
        call.invoke_async(&mut self.conn.clone())
            .await
            .map_err(storage)
    }

    pub(super) async fn rescue_all(&self, limit: usize) -> Result<usize, QueueError> {
        let mut rescued = 0;
        for queue in self.queue_names().await? {
            if rescued >= limit {
                break;
            }
            rescued += int(&self
                .admin(&queue, "rescue", &[(limit - rescued).to_string()])
                .await?) as usize;
        }
        Ok(rescued)
    }

    pub(super) async fn job_admin(
        &self,
        id: &JobId,
        op: &str,
        arg: &str,
        reason: &'static str,
    ) -> Result<Job, QueueError> {
        let queue = self
            .queue_of(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.0.clone()))?;
        let answer = self
            .admin(&queue, op, &[id.0.clone(), arg.to_owned()])
            .await?;
        let parts = match answer {
            Value::Array(parts) => parts,
            other => {
                return Err(QueueError::Storage(format!(
                    "unexpected admin answer {other:?}"
                )));
            }
        };
        match parts.first().map(text).as_deref() {
            Some("ok") => {
                if op == "retry" {
                    self.hub.notify(&queue);
                }
                Ok(job_from_hash(id, &queue, &hash_of(&parts[2..]), true))
            }
            Some("refused") => Err(QueueError::InvalidState {
                id: id.0.clone(),
                state: parts.get(1).map(text).unwrap_or_default(),
                reason,
            }),
            _ => Err(QueueError::NotFound(id.0.clone())),
        }
    }

    pub(super) async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        validate_queue_name(queue)?;
        self.register_queue(queue).await?;
        self.admin(queue, if paused { "pause" } else { "resume" }, &[])
            .await?;
        if !paused {
            self.hub.notify(queue);
        }
        Ok(())
    }

    pub(super) async fn prune_finished(
        &self,
        retention: Retention,
        limit: usize,
    ) -> Result<usize, QueueError> {
        let mut pruned = 0;
        for queue in self.queue_names().await? {
            if pruned >= limit {
                break;
            }
            let args = [
                duration_ms(retention.succeeded).to_string(),
                duration_ms(retention.dead).to_string(),
                (limit - pruned).to_string(),
            ];
            pruned += int(&self.admin(&queue, "prune", &args).await?) as usize;
        }
        Ok(pruned)
    }
}

impl RedisQueue {
    pub(super) async fn queue_activity(
        &self,
        windows: &[Duration],
    ) -> Result<Vec<QueueActivity>, QueueError> {
        let args: Vec<String> = windows
            .iter()
            .map(|w| duration_ms(*w).to_string())
            .collect();
        let queues = self.queue_names().await?;
        let answers = try_join_all(queues.into_iter().map(|queue| async {
            let answer = self.admin(&queue, "activity", &args).await?;
            Ok::<_, QueueError>((queue, answer))
        }))
        .await?;
        let mut out = Vec::new();
        for (queue, answer) in answers {
            let Value::Array(n) = answer else {
                return Err(QueueError::Storage(format!(
                    "unexpected activity answer {answer:?}"
                )));
            };
            let n: Vec<i64> = n.iter().map(int).collect();
            // Only the queues `counts` lists: with jobs, or paused.
            if n.len() < 3 + 2 * windows.len() || (n[0] == 0 && n[1] == 0) {
                continue;
            }
            out.push(QueueActivity {
                queue,
                oldest_available_age: (n[2] >= 0).then(|| Duration::from_millis(n[2] as u64)),
                finished: windows
                    .iter()
                    .zip(n[3..].chunks_exact(2))
                    .map(|(window, c)| FinishedWithin {
                        window: *window,
                        succeeded: c[0].max(0) as u64,
                        dead: c[1].max(0) as u64,
                    })
                    .collect(),
            });
        }
        out.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(out)
    }
}

/// A flat `field, value, …` reply as a map.
pub(super) fn hash_of(flat: &[Value]) -> HashMap<String, String> {
    flat.chunks_exact(2)
        .map(|pair| (text(&pair[0]), text(&pair[1])))
        .collect()
}

/// Leases by queue.
fn group_by_queue(leases: &[Lease]) -> BTreeMap<String, Vec<Lease>> {
    let mut groups: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
    for lease in leases {
        groups
            .entry(lease.queue.clone())
            .or_default()
            .push(lease.clone());
    }
    groups
}

/// A Redis reply as text ('' for nil).
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// A Redis reply as an integer (0 when it is not one).
pub(super) fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => text(other).parse().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a failed step panics")]

    use super::*;
    use crate::QueueBackend;
    use crate::contract::redis_prefix::{fresh_prefix, redis_url};
    use crate::model::Dedup;
    use crate::redis::RedisQueueConfig;

    /// A push script call repeated with the same ids (a retry after its reply was lost) writes no
    /// job twice and answers as the first did — with and without dedup keys.
    #[tokio::test]
    async fn a_repeated_push_call_writes_nothing_twice() {
        let (prefix, _guard) = fresh_prefix();
        let queue = RedisQueue::connect(
            &redis_url(),
            RedisQueueConfig {
                prefix,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        for with_dedup in [false, true] {
            let name = format!("replay-{with_dedup}");
            let jobs: Vec<NewJob> = (0..3)
                .map(|n| {
                    let mut job = NewJob::new("echo", serde_json::json!({ "n": n }));
                    job.queue = Some(name.clone());
                    job.dedup = (with_dedup || n == 1).then(|| Dedup {
                        key: format!("k{}", n % 2),
                        window: Duration::from_secs(60),
                        fingerprint: None,
                    });
                    job
                })
                .collect();
            let ids: Vec<JobId> = jobs.iter().map(|_| JobId::generate_in(&name)).collect();
            queue.register_queue(&name).await.unwrap();
            let first = queue.push_with_ids(&name, &jobs, &ids).await.unwrap();
            // The first job is leased meanwhile: a rewrite would make it available again.
            let leased = queue
                .fetch(FetchRequest {
                    queue: name.clone(),
                    worker: "w".into(),
                    limit: 1,
                    lease_ttl: Duration::from_secs(30),
                })
                .await
                .unwrap();
            assert_eq!(leased.jobs.len(), 1);
            let again = queue.push_with_ids(&name, &jobs, &ids).await.unwrap();
            assert_eq!(
                again, first,
                "answers of the repeated call (dedup: {with_dedup})"
            );
            let counts = queue.counts().await.unwrap();
            let c = counts.iter().find(|c| c.queue == name).unwrap();
            let fresh = first.iter().filter(|p| !p.duplicate).count() as u64;
            assert_eq!(c.get(JobState::Running), 1, "dedup: {with_dedup}");
            assert_eq!(c.get(JobState::Available), fresh - 1, "dedup: {with_dedup}");
        }
    }
}
