//! Reads: get, search and counts, each bounded. A job by id is one pipeline (its hash, its args)
//! on the slot its id names. Search runs a read-only script per queue that walks the queue's lexicographic `all`
//! set newest first and filters job hashes on the server, up to a budget of jobs per request —
//! never a `SCAN`, never a walk of every job — and answers a cursor to go on. Counts are the
//! sizes of the state sets. Nothing spans queues in one call, so all of it works on a cluster;
//! calls to several queues go out together.

use std::collections::HashMap;

use futures::future::try_join_all;
use redis::Value;

use super::keys::{job_key, on_queue, queue_key, queues_key};
use super::ops::{int, text};
use super::scripts::SEARCH;
use super::{RedisQueue, storage};
use crate::error::QueueError;
use crate::model::{Job, JobFilter, JobId, JobPage, JobState, QueueCounts, RecordedError};
use crate::search_plan::MAX_PAGE;

/// Most jobs one search request examines, shared by the queues it reads, before it answers with
/// a cursor (a bound on the time a search holds Redis: the script runs alone).
const BUDGET: usize = 5000;
/// The least one queue examines per request, however many queues there are.
const MIN_QUEUE_BUDGET: usize = 200;

impl RedisQueue {
    /// Every queue in the index, sorted.
    pub(super) async fn queue_names(&self) -> Result<Vec<String>, QueueError> {
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(queues_key(self.prefix()))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        names.sort();
        Ok(names)
    }

    /// Jobs of one queue by id, in one pipeline on its slot: each job's hash, its args (from the
    /// queue's args hash) put back in as `a`; empty for a job that does not exist.
    async fn job_hashes(
        &self,
        queue: &str,
        ids: &[String],
    ) -> Result<Vec<HashMap<String, String>>, QueueError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL").arg(job_key(self.prefix(), queue, id));
        }
        pipe.cmd("HMGET")
            .arg(queue_key(self.prefix(), queue, "args"))
            .arg(ids);
        let mut answers: Vec<Value> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        let decode = |e: redis::ParsingError| QueueError::Storage(e.to_string());
        let args: Vec<Option<String>> =
            redis::from_redis_value(answers.pop().unwrap_or(Value::Nil)).map_err(decode)?;
        let mut hashes = Vec::with_capacity(ids.len());
        for (answer, args) in answers.into_iter().zip(args) {
            let mut hash: HashMap<String, String> =
                redis::from_redis_value(answer).map_err(decode)?;
            if let Some(args) = args.filter(|_| !hash.is_empty()) {
                hash.insert("a".into(), args);
            }
            hashes.push(hash);
        }
        Ok(hashes)
    }

    pub(super) async fn get_job(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        let Some(queue) = self.queue_of(id).await? else {
            return Ok(None);
        };
        let hash = self
            .job_hashes(&queue, std::slice::from_ref(&id.0))
            .await?
            .pop()
            .unwrap_or_default();
        Ok((!hash.is_empty()).then(|| job_from_hash(id, &queue, &hash, true)))
    }

    pub(super) async fn list_jobs(&self, filter: JobFilter) -> Result<JobPage, QueueError> {
        let limit = filter.limit.clamp(1, MAX_PAGE);
        if let Some(c) = &filter.cursor {
            JobId::parse(c).ok_or_else(|| QueueError::Invalid(format!("bad cursor `{c}`")))?;
        }
        let queues = match &filter.queue {
            Some(q) => vec![q.clone()],
            None => self.queue_names().await?,
        };
        let budget = (BUDGET / queues.len().max(1)).max(MIN_QUEUE_BUDGET);
        let searches = queues
            .iter()
            .map(|q| self.search_queue(q, &filter, budget, limit + 1));
        let found = try_join_all(searches).await?;
        // Every queue examined its ids down to its `last`, or to its end: matches at or above
        // the highest `last` of a queue that was cut short are complete; below it, the next
        // request looks again.
        let frontier = found
            .iter()
            .filter(|f| !f.complete)
            .filter_map(|f| f.last.clone())
            .max();
        let mut matches: Vec<(String, String)> = queues
            .iter()
            .zip(&found)
            .flat_map(|(q, f)| f.ids.iter().map(move |id| (q.clone(), id.clone())))
            .filter(|(_, id)| frontier.as_ref().is_none_or(|f| id >= f))
            .collect();
        matches.sort_by(|a, b| b.1.cmp(&a.1));
        let more = matches.len() > limit;
        matches.truncate(limit);
        let jobs = self.load_jobs(&matches).await?;
        let next_cursor = if more {
            matches.last().map(|(_, id)| id.clone())
        } else {
            frontier
        };
        Ok(JobPage { jobs, next_cursor })
    }

    /// Jobs by (queue, id), in order, one pipeline per queue; jobs pruned meanwhile are left out.
    async fn load_jobs(&self, keys: &[(String, String)]) -> Result<Vec<Job>, QueueError> {
        let mut by_queue: HashMap<&str, Vec<String>> = HashMap::new();
        for (q, id) in keys {
            by_queue.entry(q).or_default().push(id.clone());
        }
        let loaded = try_join_all(by_queue.iter().map(|(q, ids)| async move {
            let hashes = self.job_hashes(q, ids).await?;
            Ok::<_, QueueError>(
                ids.iter()
                    .zip(hashes)
                    .filter(|(_, h)| !h.is_empty())
                    .map(|(id, h)| (id.clone(), job_from_hash(&JobId(id.clone()), q, &h, false)))
                    .collect::<Vec<_>>(),
            )
        }))
        .await?;
        let mut jobs: HashMap<String, Job> = loaded.into_iter().flatten().collect();
        Ok(keys.iter().filter_map(|(_, id)| jobs.remove(id)).collect())
    }

    /// One queue's part of a search: up to `want` matching ids below the cursor, newest first.
    async fn search_queue(
        &self,
        queue: &str,
        filter: &JobFilter,
        budget: usize,
        want: usize,
    ) -> Result<QueueSearch, QueueError> {
        let max = filter
            .cursor
            .as_ref()
            .map_or_else(|| "+".to_owned(), |c| format!("({c}"));
        let mut call = on_queue(&SEARCH, self.prefix(), queue);
        call.arg("")
            .arg(max)
            .arg(budget)
            .arg(want)
            .arg(filter.state.map_or("", |s| s.as_str()))
            .arg(filter.kind.as_deref().unwrap_or(""))
            .arg(filter.tenant.as_deref().unwrap_or(""))
            .arg(filter.text.as_deref().unwrap_or(""))
            .arg(filter.enqueued_by.as_deref().unwrap_or(""));
        let answer: Vec<Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        let last = answer.first().map(text).filter(|l| !l.is_empty());
        Ok(QueueSearch {
            last,
            complete: answer.get(1).is_some_and(|v| int(v) == 1),
            ids: answer.iter().skip(2).map(text).collect(),
        })
    }

    pub(super) async fn queue_counts(&self) -> Result<Vec<QueueCounts>, QueueError> {
        let queues = self.queue_names().await?;
        let counts = queues.into_iter().map(|queue| async move {
            let mut pipe = redis::pipe();
            for state in JobState::ALL {
                pipe.cmd("ZCARD")
                    .arg(queue_key(self.prefix(), &queue, state.as_str()));
            }
            pipe.cmd("EXISTS")
                .arg(queue_key(self.prefix(), &queue, "paused"));
            let answers: Vec<Value> = pipe
                .query_async(&mut self.conn.clone())
                .await
                .map_err(storage)?;
            Ok::<_, QueueError>(QueueCounts {
                queue,
                paused: answers.last().is_some_and(|v| int(v) == 1),
                counts: JobState::ALL
                    .iter()
                    .zip(&answers)
                    .map(|(s, n)| (*s, int(n).max(0) as u64))
                    .collect(),
            })
        });
        Ok(try_join_all(counts)
            .await?
            .into_iter()
            .filter(|c| c.paused || c.counts.iter().any(|(_, n)| *n > 0))
            .collect())
    }
}

/// What one queue's search found.
struct QueueSearch {
    /// The last id it examined, if any.
    last: Option<String>,
    /// It read the queue to its end.
    complete: bool,
    /// Matching ids, newest first.
    ids: Vec<String>,
}

pub(super) fn job_from_hash(
    id: &JobId,
    queue: &str,
    h: &HashMap<String, String>,
    with_result: bool,
) -> Job {
    let get = |k: &str| h.get(k).map(String::as_str).unwrap_or("");
    let opt = |k: &str| Some(get(k).to_owned()).filter(|v| !v.is_empty());
    let num = |k: &str| get(k).parse::<i64>().unwrap_or(0);
    Job {
        id: id.clone(),
        kind: get("k").to_owned(),
        queue: queue.to_owned(),
        state: get("s").parse().unwrap_or(JobState::Dead),
        args: serde_json::from_str(get("a")).unwrap_or(serde_json::Value::Null),
        priority: num("p") as i32,
        attempt: num("n") as u32,
        max_attempts: num("m") as u32,
        snoozes: num("sn") as u32,
        tenant: opt("t"),
        enqueued_by: opt("by"),
        run_at: num("r"),
        created_at: num("c"),
        finished_at: opt("f").and_then(|f| f.parse().ok()),
        cancel_requested: get("cr") == "1",
        // The worker field is not cleared when a job leaves `running`: shown only while it runs.
        worker: opt("w").filter(|_| get("s") == "running"),
        errors: serde_json::from_str::<Vec<RecordedError>>(get("e")).unwrap_or_default(),
        result: if with_result {
            opt("res").map(|r| serde_json::from_str(&r).unwrap_or(serde_json::Value::Null))
        } else {
            None
        },
    }
}
