//! How pages print things: times, durations, a job's row, the context every page shares.

use std::time::Duration;

use dezky_queue::Job;
use minijinja::{Value, context};
use serde::Serialize;

use super::session::Signed;

/// A time for people: `2026-11-30 10:02:03 UTC`; empty for none.
pub fn when(ms: Option<i64>) -> String {
    ms.map(|ms| {
        let text = dezky_queue::clock::format_ms(ms);
        let text = text
            .split('.')
            .next()
            .unwrap_or(&text)
            .trim_end_matches('Z');
        format!("{} UTC", text.replacen('T', " ", 1))
    })
    .unwrap_or_default()
}

/// A duration for people: `850 ms`, `42 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// `n` of `noun`, plural when not one: `1 request`, `3 requests`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A job as a row of a list.
#[derive(Debug, Serialize)]
pub struct JobRow {
    id: String,
    kind: String,
    queue: String,
    state: &'static str,
    tenant: String,
    attempt: u32,
    max_attempts: u32,
    created_at: String,
    run_at: String,
}

impl From<&Job> for JobRow {
    fn from(job: &Job) -> Self {
        Self {
            id: job.id.0.clone(),
            kind: job.kind.clone(),
            queue: job.queue.clone(),
            state: job.state.as_str(),
            tenant: job.tenant.clone().unwrap_or_default(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            created_at: when(Some(job.created_at)),
            run_at: when(Some(job.run_at)),
        }
    }
}

/// What every signed-in page's layout needs.
pub fn base(signed: &Signed, title: &str, page: &str) -> Value {
    context! {
        title => title,
        page => page,
        actor => signed.session.name,
        csrf => signed.csrf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans_read_well() {
        assert_eq!(when(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(None), "");
        assert_eq!(span(Duration::from_millis(850)), "850 ms");
        assert_eq!(span(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(span(Duration::from_secs(7800)), "2 h 10 min");
        assert_eq!(span(Duration::from_secs(3 * 86400 + 4 * 3600)), "3 d 4 h");
    }
}
