//! Reads: get, search and counts. Search pages through each queue's lexicographic `all` set
//! newest first and filters job hashes in bounded rounds — never a `SCAN`, never a walk of every
//! job — answering a cursor to go on when its budget runs out.

use std::collections::HashMap;

use redis::Value;

use super::ops::int;
use super::{RedisQueue, storage};
use crate::error::QueueError;
use crate::model::{Job, JobFilter, JobId, JobPage, JobState, QueueCounts, RecordedError};

/// Ids read from each queue per search round.
const ROUND: usize = 200;
/// Most jobs one search request examines before answering with a cursor.
const BUDGET: usize = 2000;
/// The largest page.
const MAX_PAGE: usize = 500;

impl RedisQueue {
    /// Every queue in the index, sorted.
    pub(super) async fn queue_names(&self) -> Result<Vec<String>, QueueError> {
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.queues_key())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        names.sort();
        Ok(names)
    }

    async fn job_hashes(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<HashMap<String, String>>, QueueError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (queue, id) in keys {
            pipe.cmd("HGETALL")
                .arg(format!("{}:j:{id}", self.base(queue)));
        }
        pipe.query_async(&mut self.conn.clone())
            .await
            .map_err(storage)
    }

    pub(super) async fn get_job(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        let queues = self.queue_names().await?;
        let keys: Vec<(String, String)> =
            queues.iter().map(|q| (q.clone(), id.0.clone())).collect();
        let hashes = self.job_hashes(&keys).await?;
        Ok(queues
            .iter()
            .zip(hashes)
            .find(|(_, h)| !h.is_empty())
            .map(|(q, h)| job_from_hash(id, q, &h, true)))
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
        let mut cursor = filter.cursor.clone();
        let mut matches: Vec<Job> = Vec::new();
        let (mut examined, mut exhausted) = (0, false);
        while matches.len() <= limit && examined < BUDGET {
            let round = self.next_round(&queues, cursor.as_deref()).await?;
            if round.ids.is_empty() {
                exhausted = true;
                break;
            }
            let hashes = self.job_hashes(&round.ids).await?;
            for ((queue, id), hash) in round.ids.iter().zip(hashes) {
                if hash.is_empty() {
                    continue; // pruned between the two reads
                }
                let job = job_from_hash(&JobId(id.clone()), queue, &hash, false);
                if matches_filter(&job, &filter) {
                    matches.push(job);
                }
            }
            examined += round.ids.len();
            cursor = round.ids.last().map(|(_, id)| id.clone());
            if round.complete {
                exhausted = true;
                break;
            }
        }
        let next_cursor = if matches.len() > limit {
            matches.truncate(limit);
            matches.last().map(|j| j.id.0.clone())
        } else if exhausted {
            None
        } else {
            cursor
        };
        Ok(JobPage {
            jobs: matches,
            next_cursor,
        })
    }

    /// The next ids, newest first, below `cursor`, merged across `queues`: only as far as every
    /// queue's read reaches, so no queue's ids are skipped.
    async fn next_round(
        &self,
        queues: &[String],
        cursor: Option<&str>,
    ) -> Result<Round, QueueError> {
        if queues.is_empty() {
            return Ok(Round {
                ids: Vec::new(),
                complete: true,
            });
        }
        let max = cursor.map_or_else(|| "+".to_owned(), |c| format!("({c}"));
        let mut pipe = redis::pipe();
        for q in queues {
            pipe.cmd("ZRANGE")
                .arg(format!("{}:all", self.base(q)))
                .arg(&max)
                .arg("-")
                .arg("BYLEX")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(ROUND);
        }
        let per_queue: Vec<Vec<String>> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        // The lowest id we may go down to: the last id of every queue whose read was cut short.
        let frontier = per_queue
            .iter()
            .filter(|ids| ids.len() == ROUND)
            .filter_map(|ids| ids.last())
            .max()
            .cloned();
        let mut ids: Vec<(String, String)> = queues
            .iter()
            .zip(&per_queue)
            .flat_map(|(q, ids)| ids.iter().map(move |id| (q.clone(), id.clone())))
            .filter(|(_, id)| frontier.as_ref().is_none_or(|f| id >= f))
            .collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1));
        Ok(Round {
            ids,
            complete: frontier.is_none(),
        })
    }

    pub(super) async fn queue_counts(&self) -> Result<Vec<QueueCounts>, QueueError> {
        let queues = self.queue_names().await?;
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            let base = self.base(q);
            for state in JobState::ALL {
                pipe.cmd("ZCARD").arg(format!("{base}:{state}"));
            }
            pipe.cmd("EXISTS").arg(format!("{base}:paused"));
        }
        let answers: Vec<Value> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        let per_queue = JobState::ALL.len() + 1;
        Ok(queues
            .into_iter()
            .zip(answers.chunks(per_queue))
            .map(|(queue, a)| QueueCounts {
                queue,
                paused: a.last().is_some_and(|v| int(v) == 1),
                counts: JobState::ALL
                    .iter()
                    .zip(a)
                    .map(|(s, n)| (*s, int(n).max(0) as u64))
                    .collect(),
            })
            .filter(|c| c.paused || c.counts.iter().any(|(_, n)| *n > 0))
            .collect())
    }
}

struct Round {
    /// (queue, id), newest first.
    ids: Vec<(String, String)>,
    /// Every queue was read to its end.
    complete: bool,
}

fn matches_filter(job: &Job, filter: &JobFilter) -> bool {
    filter.state.is_none_or(|s| job.state == s)
        && filter.kind.as_ref().is_none_or(|k| &job.kind == k)
        && filter
            .tenant
            .as_ref()
            .is_none_or(|t| job.tenant.as_ref() == Some(t))
        && filter
            .text
            .as_ref()
            .filter(|t| !t.is_empty())
            .is_none_or(|t| job.args.to_string().contains(t.as_str()))
}

fn job_from_hash(id: &JobId, queue: &str, h: &HashMap<String, String>, with_result: bool) -> Job {
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
