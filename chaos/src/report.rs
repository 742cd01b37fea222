//! What a chaos run found: every broken invariant by name, and the run's figures; as one JSON
//! document (`serde`) and as a Markdown table for people and the README.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::topology::QueueKind;

/// The checker's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Acknowledged pushes whose job is gone or never succeeded.
    pub lost: Vec<String>,
    /// Jobs that died (the workload expects none to).
    pub dead: Vec<String>,
    /// Idempotency keys acknowledged with more than one job id.
    pub keys_answered_twice: Vec<String>,
    /// Semantic duplicates in Authentik.
    pub duplicates: Vec<String>,
    /// Ticks not enqueued exactly once, and tick jobs of no tick.
    pub ticks_wrong: Vec<String>,
    /// Succeeded jobs whose run history holds a run the queue never counted as an attempt.
    pub runs_mismatched: Vec<String>,
    /// Succeeded jobs whose run history misses an attempt (a SIGKILLed worker's unwritten
    /// history): counted, not an invariant.
    pub runs_missing: usize,
    /// The most requests Authentik saw in a second while unavailable.
    pub unavailable_max_rps: Option<u32>,
    /// Whether that exceeded the gate's bound.
    pub probe_rate_exceeded: bool,
    /// The run's figures (none for a check of planted observations).
    pub figures: Option<Figures>,
    /// Timing figures past their bound (gated in long runs only).
    pub timing_exceeded: Vec<String>,
}

/// A run's figures: what it did, how long recovery and the drain took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// The queue's backend.
    pub queue: QueueKind,
    /// The run's seed.
    pub seed: u64,
    /// How long the faults went on, seconds.
    pub fault_secs: u64,
    /// Faults carried out.
    pub faults: usize,
    /// Jobs acknowledged.
    pub acknowledged: usize,
    /// Jobs in the queue at the end (ticks and children included).
    pub jobs: usize,
    /// Pushes sent again after a connection error, a timeout or a 5xx.
    pub resent: u64,
    /// Pushes never acknowledged (given up after two minutes).
    pub unacknowledged: u64,
    /// Pushes refused with a 4xx (a workload bug).
    pub refused: Vec<String>,
    /// Worker kills that held jobs, each timed until its jobs were back.
    pub worker_kills_recovered: usize,
    /// Time from a worker's SIGKILL until none of its jobs was held by it any more, ms.
    pub recovery_p50_ms: Option<u64>,
    /// Likewise, 99th percentile.
    pub recovery_p99_ms: Option<u64>,
    /// Time from healing until every acknowledged job finished, ms (none: not within the
    /// deadline).
    pub drain_ms: Option<u64>,
    /// Each stretch of Authentik's unavailability.
    pub unavailable: Vec<UnavailableWindow>,
}

/// What Authentik saw while it was unavailable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnavailableWindow {
    /// How long, seconds.
    pub seconds: u64,
    /// Requests it answered 503 in that time (whole seconds: the first and the last are not
    /// counted, they hold the open gate's traffic too).
    pub requests: u64,
    /// The most in any one second, once the gate had had three seconds to close (none: the
    /// window was too short to tell).
    pub max_rps: Option<u32>,
    /// Requests in each second of the window, in order.
    pub per_second: Vec<u64>,
}

/// Seconds after the first 503 that the gate may take to close everywhere: requests in flight
/// and each process's first failure land there.
const GATE_CLOSING_SECS: u64 = 3;

impl UnavailableWindow {
    /// The window from `from_ms` to `to_ms`, from the simulator's requests per second.
    pub fn from_stats(from_ms: i64, to_ms: i64, per_second: &BTreeMap<u64, u64>) -> Self {
        let secs = |ms: i64| u64::try_from(ms / 1000).unwrap_or(0);
        let (from, to) = (secs(from_ms), secs(to_ms));
        // Whole seconds only: the first and last are shared with the open gate's traffic.
        let requests = per_second.range(from + 1..to).map(|(_, n)| n).sum();
        let settled = (from + 1 + GATE_CLOSING_SECS)..to;
        let max_rps = (!settled.is_empty()).then(|| {
            settled
                .map(|s| per_second.get(&s).copied().unwrap_or(0))
                .max()
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
        });
        Self {
            seconds: to.saturating_sub(from),
            requests,
            max_rps,
            per_second: (from..=to)
                .map(|s| per_second.get(&s).copied().unwrap_or(0))
                .collect(),
        }
    }
}

impl Report {
    /// Whether every invariant held.
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.dead.is_empty()
            && self.keys_answered_twice.is_empty()
            && self.duplicates.is_empty()
            && self.ticks_wrong.is_empty()
            && self.runs_mismatched.is_empty()
            && !self.probe_rate_exceeded
            && self.timing_exceeded.is_empty()
    }

    /// The findings as a Markdown table: one row per invariant, its count and verdict.
    pub fn markdown(&self) -> String {
        let verdict = |ok: bool| if ok { "ok" } else { "**broken**" };
        let mut out = String::from("| invariant | found | verdict |\n|---|---|---|\n");
        for (name, found) in [
            ("lost", &self.lost),
            ("dead", &self.dead),
            ("keys answered twice", &self.keys_answered_twice),
            ("semantic duplicates", &self.duplicates),
            ("ticks not exactly once", &self.ticks_wrong),
            ("runs the queue never counted", &self.runs_mismatched),
        ] {
            out.push_str(&format!(
                "| {name} | {} | {} |\n",
                found.len(),
                verdict(found.is_empty())
            ));
        }
        let rate = self
            .unavailable_max_rps
            .map_or_else(|| "—".to_owned(), |r| format!("{r}/s"));
        out.push_str(&format!(
            "| requests/s while Authentik was unavailable | {rate} | {} |\n",
            verdict(!self.probe_rate_exceeded)
        ));
        for exceeded in &self.timing_exceeded {
            out.push_str(&format!("| {exceeded} | | **broken** |\n"));
        }
        if let Some(f) = &self.figures {
            out.push_str(&f.markdown(self.runs_missing));
        }
        out
    }
}

impl Figures {
    /// The figures as a second table.
    fn markdown(&self, runs_missing: usize) -> String {
        let ms = |v: Option<u64>| {
            v.map_or_else(|| "—".to_owned(), |v| format!("{:.1} s", v as f64 / 1000.0))
        };
        let unavailable: Vec<String> = self
            .unavailable
            .iter()
            .map(|w| {
                let rate = w.max_rps.map_or_else(|| "—".to_owned(), |r| r.to_string());
                format!(
                    "{} s: {} requests, at most {rate}/s once closed",
                    w.seconds, w.requests
                )
            })
            .collect();
        let rows = [
            ("queue", format!("{:?}", self.queue).to_lowercase()),
            ("seed", self.seed.to_string()),
            (
                "faults",
                format!("{} in {} s", self.faults, self.fault_secs),
            ),
            ("pushes acknowledged", self.acknowledged.to_string()),
            (
                "jobs at the end (ticks, children included)",
                self.jobs.to_string(),
            ),
            (
                "pushes sent again (connection error, 5xx)",
                self.resent.to_string(),
            ),
            ("pushes never acknowledged", self.unacknowledged.to_string()),
            ("pushes refused (4xx)", self.refused.len().to_string()),
            (
                "worker kills holding jobs",
                self.worker_kills_recovered.to_string(),
            ),
            (
                "recovery after a worker kill, p50",
                ms(self.recovery_p50_ms),
            ),
            (
                "recovery after a worker kill, p99",
                ms(self.recovery_p99_ms),
            ),
            ("drain after healing", ms(self.drain_ms)),
            ("Authentik unavailable", unavailable.join("; ")),
            (
                "attempts missing from the run history (SIGKILL)",
                runs_missing.to_string(),
            ),
        ];
        let mut out = String::from("\n| figure | value |\n|---|---|\n");
        for (name, value) in rows {
            out.push_str(&format!("| {name} | {value} |\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_is_judged_once_it_had_time_to_close() {
        // 1000 s to 1010 s: 40 requests in the first seconds, then 1 a second.
        let mut per_second: BTreeMap<u64, u64> = (1000..=1010).map(|s| (s, 1)).collect();
        per_second.insert(1000, 30);
        per_second.insert(1001, 10);
        per_second.insert(1011, 50);
        let w = UnavailableWindow::from_stats(1_000_400, 1_010_200, &per_second);
        assert_eq!(w.seconds, 10);
        assert_eq!(w.requests, 10 + 8);
        assert_eq!(w.max_rps, Some(1));
        per_second.insert(1006, 9);
        let w = UnavailableWindow::from_stats(1_000_400, 1_010_200, &per_second);
        assert_eq!(w.max_rps, Some(9));
    }

    #[test]
    fn the_table_names_what_broke() {
        let report = Report {
            lost: vec!["j1".into()],
            unavailable_max_rps: Some(1),
            ..Report::default()
        };
        let table = report.markdown();
        assert!(table.contains("| lost | 1 | **broken** |"), "{table}");
        assert!(table.contains("| dead | 0 | ok |"));
        assert!(table.contains("| 1/s | ok |"));
        let json = serde_json::to_string(&report).unwrap_or_default();
        assert!(json.contains("\"lost\":[\"j1\"]"));
    }
}
