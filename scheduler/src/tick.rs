//! What a schedule should do now: the one rule every scheduler replica applies, a pure function
//! of the expression, the newest tick already dealt with (from the store), the time and the
//! missed-tick policy.

use crate::cron::CronExpr;

/// What to do with ticks no scheduler was running for (`DEZKY_MISSED_TICKS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTicks {
    /// Run once on recovery, for the newest missed tick — never a burst of back-ticks.
    #[default]
    Once,
    /// Record them missed; the next tick on time runs.
    Skip,
}

/// What a schedule does at a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing: the newest tick is dealt with already.
    Nothing,
    /// The schedule is new: take `tick`, the newest one, as dealt with, so the first job is the
    /// next tick's (seeding on boot covers the start).
    Baseline {
        /// The newest tick at or before now.
        tick: i64,
    },
    /// Run tick `tick` (on time, or the newest of those missed, with [`MissedTicks::Once`]).
    Run {
        /// The tick.
        tick: i64,
        /// Whether it is a missed tick run late.
        late: bool,
    },
    /// Record tick `tick` missed ([`MissedTicks::Skip`]).
    Missed {
        /// The tick.
        tick: i64,
    },
}

/// What schedule `expr` should do at `now`, when `last` is the newest tick dealt with and this
/// scheduler has been passing since `alive_since` (none: not yet). A tick was missed only when
/// no scheduler ran at its time: this one was not running yet then, and more than `grace_ms`
/// have passed since it (a replica that was running would have dealt with it by then). A slow
/// pass of a running scheduler never makes a tick missed.
pub fn due(
    expr: &CronExpr,
    last: Option<i64>,
    now: i64,
    alive_since: Option<i64>,
    grace_ms: i64,
    missed: MissedTicks,
) -> Due {
    let Some(tick) = expr.latest_at_or_before(now) else {
        return Due::Nothing;
    };
    let Some(last) = last else {
        return Due::Baseline { tick };
    };
    if last >= tick {
        return Due::Nothing;
    }
    let was_running = alive_since.is_some_and(|since| since <= tick);
    let late = !was_running && now - tick > grace_ms;
    match (late, missed) {
        (false, _) => Due::Run { tick, late: false },
        (true, MissedTicks::Once) => Due::Run { tick, late: true },
        (true, MissedTicks::Skip) => Due::Missed { tick },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn every_minute() -> CronExpr {
        CronExpr::parse("* * * * *").unwrap()
    }

    #[test]
    fn a_tick_runs_once_and_then_nothing_until_the_next() {
        let e = every_minute();
        let t0 = 1_800_000_000_000; // a whole minute
        assert_eq!(
            due(&e, None, t0 + 10, None, 2_000, MissedTicks::Once),
            Due::Baseline { tick: t0 }
        );
        assert_eq!(
            due(&e, Some(t0), t0 + 30_000, None, 2_000, MissedTicks::Once),
            Due::Nothing
        );
        let t1 = t0 + MINUTE;
        assert_eq!(
            due(&e, Some(t0), t1 + 500, None, 2_000, MissedTicks::Once),
            Due::Run {
                tick: t1,
                late: false
            }
        );
        assert_eq!(
            due(&e, Some(t1), t1 + 900, None, 2_000, MissedTicks::Once),
            Due::Nothing
        );
    }

    #[test]
    fn missed_ticks_run_once_or_are_skipped_never_in_a_burst() {
        let e = every_minute();
        let t0 = 1_800_000_000_000; // a whole minute
        // Every scheduler was down for ten ticks and comes back mid-way between two.
        let back = t0 + 10 * MINUTE + 20_000;
        let newest = t0 + 10 * MINUTE;
        assert_eq!(
            due(&e, Some(t0), back, None, 2_000, MissedTicks::Once),
            Due::Run {
                tick: newest,
                late: true
            }
        );
        assert_eq!(
            due(
                &e,
                Some(newest),
                back + 1_000,
                None,
                2_000,
                MissedTicks::Once
            ),
            Due::Nothing,
            "once"
        );
        assert_eq!(
            due(&e, Some(t0), back, None, 2_000, MissedTicks::Skip),
            Due::Missed { tick: newest }
        );
        // A scheduler that was running at the tick never misses it, however slow its pass.
        assert_eq!(
            due(&e, Some(t0), back, Some(t0), 2_000, MissedTicks::Skip),
            Due::Run {
                tick: newest,
                late: false
            }
        );
        // Back exactly at a tick: that tick is on time, whatever the policy.
        assert_eq!(
            due(&e, Some(t0), newest + 100, None, 2_000, MissedTicks::Skip),
            Due::Run {
                tick: newest,
                late: false
            }
        );
    }
}
