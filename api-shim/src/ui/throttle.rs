//! Failed logins, throttled per client address: after [`MAX_FAILURES`] failures within
//! [`WINDOW`], that address's logins are refused until the oldest failure leaves the window.
//! In memory, per api process (each replica throttles on its own).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within the window.
pub const MAX_FAILURES: usize = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (the stalest are forgotten first).
const MAX_ADDRESSES: usize = 10_000;

/// Recent failed logins by address.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Throttle {
    /// `Err(wait)` while `who` may not try again.
    pub fn check(&self, who: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(recent) = failures.get_mut(&who) else {
            return Ok(());
        };
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            recent.pop_front();
        }
        match recent.front() {
            Some(oldest) if recent.len() >= MAX_FAILURES => {
                Err(WINDOW.saturating_sub(now.duration_since(*oldest)))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed login of `who`.
    pub fn failed(&self, who: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&who) {
            failures.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let recent = failures.entry(who).or_default();
        recent.push_back(now);
        if recent.len() > MAX_FAILURES {
            recent.pop_front();
        }
    }

    /// Forgets `who`'s failures (after a successful login).
    pub fn succeeded(&self, who: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&who);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_try_within_a_minute_waits_for_the_first_to_age_out() {
        let throttle = Throttle::default();
        let (me, other) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let start = Instant::now();
        for i in 0..MAX_FAILURES as u64 {
            assert_eq!(throttle.check(me, start + Duration::from_secs(i)), Ok(()));
            throttle.failed(me, start + Duration::from_secs(i));
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(throttle.check(me, later), Err(Duration::from_secs(50)));
        assert_eq!(throttle.check(other, later), Ok(()), "per address");
        assert_eq!(
            throttle.check(me, start + WINDOW),
            Ok(()),
            "the first aged out"
        );
        throttle.succeeded(me);
        assert_eq!(throttle.check(me, later), Ok(()));
    }
}
