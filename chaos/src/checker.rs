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
    /// For each schedule, the ticks that fell within the run (ms since the epoch).
    pub expected_ticks: BTreeMap<String, Vec<i64>>,
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
            let recorded = seen.runs.get(id).cloned().unwrap_or_default();
            let wanted: Vec<u32> = (1..=job.attempt).collect();
            let mut sorted = recorded.clone();
            sorted.sort_unstable();
            if sorted != wanted {
                report.runs_mismatched.push(format!(
                    "{id}: {} attempts, runs recorded {recorded:?}",
                    job.attempt
                ));
            }
        }
    }
    report.duplicates = crate::duplicates::semantic_duplicates(&seen.authentik);
    for (schedule, ticks) in &seen.expected_ticks {
        let by = format!("scheduler:{schedule}");
        let mut enqueued: BTreeMap<i64, usize> = BTreeMap::new();
        for job in seen
            .jobs
            .values()
            .filter(|j| j.enqueued_by.as_deref() == Some(&by))
        {
            *enqueued.entry(job.run_at).or_default() += 1;
        }
        for tick in ticks {
            match enqueued.get(tick).copied().unwrap_or(0) {
                1 => {}
                0 => report
                    .ticks_wrong
                    .push(format!("{schedule} at {tick}: not enqueued")),
                n => report
                    .ticks_wrong
                    .push(format!("{schedule} at {tick}: enqueued {n} times")),
            }
        }
        for (tick, n) in &enqueued {
            if !ticks.contains(tick) {
                report
                    .ticks_wrong
                    .push(format!("{schedule} at {tick}: {n} jobs for no tick"));
            }
        }
    }
    if let Some(rps) = seen.unavailable_max_rps {
        report.unavailable_max_rps = Some(rps);
        if rps > seen.probe_rps_bound {
            report.probe_rate_exceeded = true;
        }
    }
    report
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
            expected_ticks: BTreeMap::from([("reconcile".into(), vec![60_000])]),
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
        let plants: [Plant; 9] = [
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
                        ticks.push(120_000);
                    }
                },
                |r| r.ticks_wrong.len() == 1,
            ),
            (
                "an attempt without its run",
                |o| {
                    o.runs.insert("j1".into(), vec![1, 3]);
                },
                |r| r.runs_mismatched.len() == 1,
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
