//! What a chaos run found: every broken invariant by name, and the run's figures; as one JSON
//! document (`serde`) and as a Markdown table for people and the README.

use serde::{Deserialize, Serialize};

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
    /// Succeeded jobs whose run history does not hold each attempt once.
    pub runs_mismatched: Vec<String>,
    /// The most requests Authentik saw in a second while unavailable.
    pub unavailable_max_rps: Option<u32>,
    /// Whether that exceeded the gate's bound.
    pub probe_rate_exceeded: bool,
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
            ("runs ≠ attempts", &self.runs_mismatched),
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
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
