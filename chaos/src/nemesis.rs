//! The nemesis: a schedule of faults drawn from a seed before the run (so a run reproduces, and
//! its schedule is printed), then carried out against the topology. Each fault is undone after
//! its own time: a SIGKILLed process is started again, a SIGSTOPped worker gets SIGCONT, the
//! simulator comes back from `unavailable`. Two schedulers are never down at once (a tick nobody
//! ran for is `missed` by design, not a fault of the product), and the simulator is not killed
//! while it plays unavailable (its request counts are read at the end of that window).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::topology::{QueueKind, Role};

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum Fault {
    /// SIGKILL `role`, start it again after `down_ms`.
    Kill {
        /// Who.
        role: Role,
        /// How long it stays down.
        down_ms: u64,
    },
    /// SIGSTOP a worker for `ms` (longer than its lease), then SIGCONT.
    Pause {
        /// Which worker.
        worker: u8,
        /// How long.
        ms: u64,
    },
    /// The simulator answers every request 503 for `ms`.
    Unavailable {
        /// How long.
        ms: u64,
    },
}

/// A fault at its time, from the start of the faults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Event {
    /// When, ms after the faults began.
    pub at_ms: u64,
    /// What.
    pub fault: Fault,
}

impl Event {
    /// When the fault is undone, ms after the faults began.
    pub fn ends_ms(&self) -> u64 {
        self.at_ms
            + match self.fault {
                Fault::Kill { down_ms, .. } => down_ms,
                Fault::Pause { ms, .. } | Fault::Unavailable { ms } => ms,
            }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: u64| ms as f64 / 1000.0;
        write!(f, "t+{:>7.1}s  ", secs(self.at_ms))?;
        match self.fault {
            Fault::Kill { role, down_ms } => {
                write!(f, "SIGKILL {role}, back after {:.1}s", secs(down_ms))
            }
            Fault::Pause { worker, ms } => {
                write!(f, "SIGSTOP worker-{worker} for {:.1}s", secs(ms))
            }
            Fault::Unavailable { ms } => {
                write!(f, "Authentik unavailable (503) for {:.1}s", secs(ms))
            }
        }
    }
}

/// What the schedule is drawn for.
#[derive(Debug, Clone, Copy)]
pub struct PlanConfig {
    /// The schedule's seed.
    pub seed: u64,
    /// How long the faults go on.
    pub duration: Duration,
    /// The queue (Redis is killed too when it is Redis's).
    pub queue: QueueKind,
    /// The workers' lease length (a pause outlasts it).
    pub lease_ttl: Duration,
    /// How long each stretch of unavailability lasts.
    pub unavailable: Duration,
}

/// Times from `from` to `until`, each a random `gap` after the one before.
fn times(rng: &mut StdRng, from: u64, until: u64, gap: (u64, u64)) -> Vec<u64> {
    let mut at = from + rng.random_range(0..gap.1);
    let mut out = Vec::new();
    while at < until {
        out.push(at);
        at += rng.random_range(gap.0..gap.1);
    }
    out
}

/// Kills until `total`: the first within `first_ms` plus a gap, then each a random gap of
/// `(first_ms, min, max)` after the one before; each down for a random time in `down_ms`; whom
/// `role` says (given the kill's number).
fn kills(
    rng: &mut StdRng,
    total: u64,
    (first_ms, min_gap, max_gap): (u64, u64, u64),
    (min_down, max_down): (u64, u64),
    mut role: impl FnMut(&mut StdRng, usize) -> Role,
) -> Vec<Event> {
    times(rng, first_ms, total, (min_gap, max_gap))
        .into_iter()
        .enumerate()
        .map(|(n, at)| {
            let role = role(rng, n);
            let down_ms = rng.random_range(min_down..max_down);
            Event {
                at_ms: at,
                fault: Fault::Kill { role, down_ms },
            }
        })
        .collect()
}

/// The schedule of faults for `config`, in time order.
pub fn plan(config: &PlanConfig) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let total = u64::try_from(config.duration.as_millis()).unwrap_or(u64::MAX);
    let lease = u64::try_from(config.lease_ttl.as_millis()).unwrap_or(10_000);
    let unavailable = u64::try_from(config.unavailable.as_millis()).unwrap_or(0);
    let mut events = Vec::new();
    // Authentik unavailable: first at a fifth of the run, then every five minutes.
    let mut windows = Vec::new();
    let mut at = total / 5;
    while unavailable > 0 && at + unavailable < total {
        windows.push((at, at + unavailable));
        events.push(Event {
            at_ms: at,
            fault: Fault::Unavailable { ms: unavailable },
        });
        at += 300_000;
    }
    events.extend(kills(
        &mut rng,
        total,
        (1_000, 3_000, 6_000),
        (300, 2_000),
        |rng, _| Role::Worker(rng.random_range(0..3)),
    ));
    for at in times(&mut rng, 5_000, total, (20_000, 40_000)) {
        let worker = rng.random_range(0..3);
        let ms = lease + rng.random_range(1_000..3_000);
        events.push(Event {
            at_ms: at,
            fault: Fault::Pause { worker, ms },
        });
    }
    // Schedulers in turn, each back before the next is killed.
    events.extend(kills(
        &mut rng,
        total,
        (2_000, 8_000, 20_000),
        (500, 3_000),
        |_, n| Role::Scheduler(u8::try_from(n % 2).unwrap_or(0)),
    ));
    events.extend(kills(
        &mut rng,
        total,
        (1_500, 6_000, 15_000),
        (200, 1_000),
        |_, _| Role::Api,
    ));
    // The simulator: not while it plays unavailable (nor just before: it would come back
    // healthy).
    let sim = kills(
        &mut rng,
        total,
        (4_000, 15_000, 35_000),
        (500, 3_000),
        |_, _| Role::Sim,
    );
    events.extend(sim.into_iter().filter(|kill| {
        !windows
            .iter()
            .any(|(from, to)| kill.ends_ms() + 1_000 >= *from && kill.at_ms <= *to + 1_000)
    }));
    if config.queue == QueueKind::Redis {
        events.extend(kills(
            &mut rng,
            total,
            (6_000, 15_000, 35_000),
            (500, 2_000),
            |_, _| Role::Redis,
        ));
    }
    events.sort_by_key(|e| e.at_ms);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> PlanConfig {
        PlanConfig {
            seed,
            duration: Duration::from_secs(600),
            queue: QueueKind::Redis,
            lease_ttl: Duration::from_secs(3),
            unavailable: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_seed_gives_one_schedule() {
        assert_eq!(plan(&config(7)), plan(&config(7)));
        assert_ne!(plan(&config(7)), plan(&config(8)));
    }

    #[test]
    fn the_schedule_keeps_its_promises() {
        let events = plan(&config(42));
        let kinds = |f: fn(&Fault) -> bool| events.iter().filter(|e| f(&e.fault)).count();
        for role in [Role::Api, Role::Sim, Role::Redis, Role::Scheduler(0)] {
            assert!(
                kinds(match role {
                    Role::Api => |f| matches!(
                        f,
                        Fault::Kill {
                            role: Role::Api,
                            ..
                        }
                    ),
                    Role::Sim => |f| matches!(
                        f,
                        Fault::Kill {
                            role: Role::Sim,
                            ..
                        }
                    ),
                    Role::Redis => |f| matches!(
                        f,
                        Fault::Kill {
                            role: Role::Redis,
                            ..
                        }
                    ),
                    _ => |f| matches!(
                        f,
                        Fault::Kill {
                            role: Role::Scheduler(_),
                            ..
                        }
                    ),
                }) > 0,
                "{role} is killed"
            );
        }
        assert_eq!(kinds(|f| matches!(f, Fault::Unavailable { .. })), 2);
        let schedulers: Vec<&Event> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.fault,
                    Fault::Kill {
                        role: Role::Scheduler(_),
                        ..
                    }
                )
            })
            .collect();
        for pair in schedulers.windows(2) {
            assert!(
                pair[0].ends_ms() < pair[1].at_ms,
                "two schedulers down at once"
            );
        }
        let unavailable: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e.fault, Fault::Unavailable { .. }))
            .collect();
        for kill in events.iter().filter(|e| {
            matches!(
                e.fault,
                Fault::Kill {
                    role: Role::Sim,
                    ..
                }
            )
        }) {
            for window in &unavailable {
                assert!(
                    kill.ends_ms() < window.at_ms || kill.at_ms > window.ends_ms(),
                    "the simulator is killed while unavailable"
                );
            }
        }
        for pause in events
            .iter()
            .filter(|e| matches!(e.fault, Fault::Pause { .. }))
        {
            assert!(
                pause.ends_ms() - pause.at_ms > 3_000,
                "a pause outlasts the lease"
            );
        }
    }
}
