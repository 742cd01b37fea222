//! The invariants of a chaos run, as a pure function of what the run observed: the workload's
//! acknowledged pushes, the queue's jobs at the end, the run history, the simulator's objects, the
//! ticks each schedule should have had, and the simulator's request rate while it was
//! unavailable. Each invariant can be broken on purpose in the tests below.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::report::Report;

/// One push the API acknowledged: its `Idempotency-Key` and the job id it answered (a retry of
/// the same key is acknowledged again, and must answer the same id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The idempotency key.
    pub key: String,
    /// The job id answered.
    pub job: String,
}

/// A job as the queue holds it at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFinal {
    /// Its kind.
    pub kind: String,
    /// Its state (`succeeded`, `dead`, …).
    pub state: String,
    /// Attempts spent.
    pub attempt: u32,
    /// Who enqueued it (`scheduler:<name>` for a tick's job).
    pub enqueued_by: Option<String>,
    /// When it was due (a tick's job: its tick).
    pub run_at: i64,
    /// When it was enqueued.
    pub created_at: i64,
    /// When it finished, if it did.
    pub finished_at: Option<i64>,
}

/// The ticks of one schedule a run should have seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedTicks {
    /// The schedule's kind (its boot job, `scheduler:boot`, counts as one of its jobs).
    pub kind: String,
    /// Time between two ticks, ms. A tick's job is told by when it was enqueued (within the
    /// period after its tick): its `run_at` moves when it is retried or snoozed.
    pub period_ms: i64,
    /// Ticks each of which must be decided: enqueued once, or skipped because the schedule's
    /// previous job was still unfinished then (ms since the epoch).
    pub required: Vec<i64>,
    /// Every tick that may carry a job, `required` included (the edges of the run: a tick
    /// just before the first scheduler was up, or just as the schedulers stopped, may or may not
    /// have been enqueued — but at most once).
    pub allowed: Vec<i64>,
}

/// What a run observed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observations {
    /// Every acknowledged push, retries included.
    pub acknowledged: Vec<Ack>,
    /// Every job the queue holds at the end, by id.
    pub jobs: BTreeMap<String, JobFinal>,
    /// The attempts the run history recorded, per job id.
    pub runs: BTreeMap<String, Vec<u32>>,
    /// Kinds that keep no run history (the smoke-test kinds).
    pub kinds_without_history: BTreeSet<String>,
    /// The simulator's objects at the end (its state file).
    pub authentik: serde_json::Value,
    /// For each schedule, the ticks that fell within the run.
    pub expected_ticks: BTreeMap<String, ExpectedTicks>,
    /// The most requests the simulator answered in any one second while it was unavailable.
    pub unavailable_max_rps: Option<u32>,
    /// The most a closed gate may send in a second (one prober, one probe a second: 1, plus
    /// requests already in flight when it closed).
    pub probe_rps_bound: u32,
}

/// Checks every invariant.
pub fn check(seen: &Observations) -> Report {
    let mut report = Report::default();
    let mut answered: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ack in &seen.acknowledged {
        answered.entry(&ack.key).or_default().insert(&ack.job);
    }
    for (key, ids) in &answered {
        if ids.len() > 1 {
            report
                .keys_answered_twice
                .push(format!("{key}: {}", join(ids)));
        }
        for id in ids {
            match seen.jobs.get(*id) {
                None => report.lost.push(format!("{id} (key {key}): gone")),
                Some(job) if job.state == "dead" => {
                    report.dead.push(format!("{id} ({})", job.kind))
                }
                Some(job) if job.state != "succeeded" => {
                    report.lost.push(format!("{id} (key {key}): {}", job.state));
                }
                Some(_) => {}
            }
        }
    }
    let acknowledged: BTreeSet<&str> = answered.values().flatten().copied().collect();
    for (id, job) in &seen.jobs {
        // Acknowledged dead jobs are reported above; these are their children and ticks.
        if job.state == "dead" && !acknowledged.contains(id.as_str()) {
            report.dead.push(format!("{id} ({})", job.kind));
        }
        if job.state == "succeeded" && !seen.kinds_without_history.contains(&job.kind) {
            // A SIGKILLed worker loses the history it had not written yet (history is written
            // in batches, for people; the queue is the truth), so a run may be missing; a run
            // the queue never counted as an attempt may not be there.
            let recorded = seen.runs.get(id).cloned().unwrap_or_default();
            if recorded.iter().any(|a| *a == 0 || *a > job.attempt) {
                report.runs_mismatched.push(format!(
                    "{id}: {} attempts, runs recorded {recorded:?}",
                    job.attempt
                ));
            } else if usize::try_from(job.attempt).unwrap_or(0) > recorded.len() {
                report.runs_missing += 1;
            }
        }
    }
    report.duplicates = crate::duplicates::semantic_duplicates(&seen.authentik);
    for (schedule, expected) in &seen.expected_ticks {
        report
            .ticks_wrong
            .extend(tick_faults(schedule, expected, &seen.jobs));
    }
    if let Some(rps) = seen.unavailable_max_rps {
        report.unavailable_max_rps = Some(rps);
        if rps > seen.probe_rps_bound {
            report.probe_rate_exceeded = true;
        }
    }
    report
}

/// How `schedule`'s ticks went wrong: a tick enqueued more than once, a job for no tick, a
/// required tick neither enqueued nor skipped for an unfinished previous job.
fn tick_faults(
    schedule: &str,
    expected: &ExpectedTicks,
    jobs: &BTreeMap<String, JobFinal>,
) -> Vec<String> {
    let by = format!("scheduler:{schedule}");
    // Children of a tick's job carry its `enqueued_by` too; the tick's own job is of its kind.
    let ticks: Vec<&JobFinal> = jobs
        .values()
        .filter(|j| j.enqueued_by.as_deref() == Some(&by) && j.kind == expected.kind)
        .collect();
    // The boot job is the schedule's first job, so it can make a tick be skipped.
    let schedule_jobs: Vec<&JobFinal> = jobs
        .values()
        .filter(|j| {
            j.kind == expected.kind
                && matches!(j.enqueued_by.as_deref(), Some(b) if b == by || b == "scheduler:boot")
        })
        .collect();
    let mut enqueued: BTreeMap<i64, usize> = BTreeMap::new();
    let mut faults = Vec::new();
    for job in &ticks {
        let tick = expected
            .allowed
            .iter()
            .find(|t| **t <= job.created_at && job.created_at < **t + expected.period_ms);
        match tick {
            Some(tick) => *enqueued.entry(*tick).or_default() += 1,
            None => faults.push(format!(
                "{schedule}: a job enqueued at {} for no tick",
                job.created_at
            )),
        }
    }
    for (tick, n) in &enqueued {
        if *n > 1 {
            faults.push(format!("{schedule} at {tick}: enqueued {n} times"));
        }
    }
    for tick in &expected.required {
        let skipped = || {
            schedule_jobs
                .iter()
                .any(|j| j.created_at <= *tick && j.finished_at.is_none_or(|f| f > *tick))
        };
        if !enqueued.contains_key(tick) && !skipped() {
            faults.push(format!(
                "{schedule} at {tick}: not enqueued, and the previous job had finished"
            ));
        }
    }
    faults
}

fn join(ids: &BTreeSet<&str>) -> String {
    ids.iter().copied().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(kind: &str, state: &str, attempt: u32) -> JobFinal {
        JobFinal {
            kind: kind.into(),
            state: state.into(),
            attempt,
            enqueued_by: None,
            run_at: 0,
            created_at: 0,
            finished_at: Some(1),
        }
    }

    /// A clean run: two acknowledged jobs (one pushed twice under its key), a tick's job, the run
    /// history complete, the simulator without duplicates, the gate's rate within its bound.
    fn clean() -> Observations {
        let ack = |key: &str, job: &str| Ack {
            key: key.into(),
            job: job.into(),
        };
        let mut tick = job("reconcile-tenants", "succeeded", 1);
        tick.enqueued_by = Some("scheduler:reconcile".into());
        tick.run_at = 60_000;
        tick.created_at = 60_000;
        tick.finished_at = Some(61_000);
        Observations {
            acknowledged: vec![ack("k1", "j1"), ack("k1", "j1"), ack("k2", "j2")],
            jobs: BTreeMap::from([
                ("j1".into(), job("provision-tenant", "succeeded", 3)),
                ("j2".into(), job("sleep", "succeeded", 2)),
                ("t1".into(), tick),
            ]),
            runs: BTreeMap::from([("j1".into(), vec![1, 2, 3]), ("t1".into(), vec![1])]),
            kinds_without_history: BTreeSet::from(["sleep".into()]),
            authentik: json!({"brands": [{"domain": "acme.example"}]}),
            expected_ticks: BTreeMap::from([(
                "reconcile".into(),
                ExpectedTicks {
                    kind: "reconcile-tenants".into(),
                    period_ms: 60_000,
                    required: vec![60_000],
                    allowed: vec![60_000, 120_000],
                },
            )]),
            unavailable_max_rps: Some(1),
            probe_rps_bound: 2,
        }
    }

    #[test]
    fn a_clean_run_passes() {
        let report = check(&clean());
        assert!(report.ok(), "{report:?}");
    }

    /// A fault planted in a clean run, and how the report must show it.
    type Plant = (&'static str, fn(&mut Observations), fn(&Report) -> bool);

    fn set_state(seen: &mut Observations, id: &str, state: &str) {
        if let Some(job) = seen.jobs.get_mut(id) {
            job.state = state.into();
        }
    }

    #[test]
    fn each_planted_fault_is_reported() {
        let plants: [Plant; 10] = [
            (
                "an acknowledged job deleted",
                |o| {
                    o.jobs.remove("j2");
                },
                |r| r.lost.len() == 1,
            ),
            (
                "an acknowledged job left queued",
                |o| set_state(o, "j2", "available"),
                |r| r.lost.len() == 1,
            ),
            (
                "a job dead",
                |o| set_state(o, "j1", "dead"),
                |r| r.dead.len() == 1,
            ),
            (
                "a key answered with two ids",
                |o| {
                    o.acknowledged.push(Ack {
                        key: "k2".into(),
                        job: "j3".into(),
                    });
                    o.jobs.insert("j3".into(), job("sleep", "succeeded", 1));
                },
                |r| r.keys_answered_twice.len() == 1,
            ),
            (
                "a duplicate object",
                |o| {
                    if let Some(brands) = o.authentik["brands"].as_array_mut() {
                        brands.push(json!({"domain": "acme.example"}));
                    }
                },
                |r| r.duplicates.len() == 1,
            ),
            (
                "a tick enqueued twice",
                |o| {
                    let twin = o.jobs["t1"].clone();
                    o.jobs.insert("t2".into(), twin);
                    o.runs.insert("t2".into(), vec![1]);
                },
                |r| r.ticks_wrong.len() == 1,
            ),
            (
                "a tick not enqueued",
                |o| {
                    if let Some(ticks) = o.expected_ticks.get_mut("reconcile") {
                        ticks.required.push(120_000);
                    }
                },
                |r| r.ticks_wrong.len() == 1,
            ),
            (
                "a run the queue did not count as an attempt",
                |o| {
                    o.runs.insert("j1".into(), vec![1, 2, 3, 4]);
                },
                |r| r.runs_mismatched.len() == 1,
            ),
            (
                "a tick's job at no tick",
                |o| {
                    if let Some(t) = o.jobs.get_mut("t1") {
                        t.created_at = 10_000;
                    }
                },
                |r| r.ticks_wrong.iter().any(|t| t.contains("for no tick")),
            ),
            (
                "a closed gate let requests through",
                |o| o.unavailable_max_rps = Some(40),
                |r| r.probe_rate_exceeded,
            ),
        ];
        for (what, plant, caught) in plants {
            let mut seen = clean();
            plant(&mut seen);
            let report = check(&seen);
            assert!(!report.ok(), "{what}: the checker passed it");
            assert!(caught(&report), "{what}: reported as {report:?}");
        }
    }
}
