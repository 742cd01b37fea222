//! The retry policy: a pure function from the attempt that failed to the delay before the next
//! one — exponential, capped, with full jitter so that a burst of failures does not retry in step.

use std::time::Duration;

/// Exponential backoff with a cap and full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the delay after the first failed attempt.
    pub base: Duration,
    /// No delay exceeds this, however many attempts failed.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30 * 60),
        }
    }
}

impl RetryPolicy {
    /// The ceiling for the delay after `attempt` (1-based) failed: `base * 2^(attempt-1)`, capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exponent).min(self.cap)
    }

    /// The delay after `attempt` failed, given `unit` drawn uniformly from `[0, 1)`: full jitter
    /// picks uniformly between zero and the ceiling. Pure, so tests pass their own `unit`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The delay after `attempt` failed, with jitter from the thread's random generator.
    pub fn jittered(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        };
        let got: Vec<u64> = (1..=6).map(|a| p.ceiling(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(3, 0.0), Duration::ZERO);
        assert_eq!(p.delay(3, 0.5), Duration::from_secs(2));
        assert_eq!(p.delay(3, 2.0), Duration::from_secs(4));
        for _ in 0..100 {
            assert!(p.jittered(4) <= Duration::from_secs(8));
        }
    }
}
