//! Fenced locks, written once: what taking, renewing and releasing a lock does, as one pure
//! function ([`lock_step`]). Each backend implements it in its own language (SQL, Lua); the
//! reference model of the model-based test runs this function, so every backend is held to it.
//!
//! A lock is a key (`tenant:acme`, `user:a@b.eu`) held by one owner until its deadline. Each take
//! hands out a fencing token greater than every token of that key before, so whatever the holder
//! writes can be refused once a later holder exists. A lock whose deadline has passed is free;
//! renewing or releasing it then fails (the holder has lost it).

use crate::clock::UnixMillis;

/// A key's lock as stored: the last token handed out and until when it is held (0: released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockFacts {
    /// The last fencing token handed out for the key (0: never taken).
    pub token: i64,
    /// Held while `now < expires_at`.
    pub expires_at: UnixMillis,
}

/// What is asked of a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEvent {
    /// Take it for `ttl_ms`, if free.
    Take { ttl_ms: i64 },
    /// Hold it `ttl_ms` longer from now, if `token` still holds it.
    Renew { token: i64, ttl_ms: i64 },
    /// Let it go, if `token` still holds it.
    Release { token: i64 },
    /// Ask whether anyone holds it (changes nothing).
    Peek,
}

/// What a lock event did: the key's facts after it, and the answer (the token taken, or
/// whether a renewal or release held).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockStep {
    /// The facts to store.
    pub facts: LockFacts,
    /// `Take`: the token, or 0 when another holds the lock. `Renew`/`Release`: 1 when it held,
    /// else 0. `Peek`: 1 when someone holds it, else 0.
    pub answer: i64,
}

/// The lock rules. `now` is the store's time.
pub fn lock_step(facts: LockFacts, now: UnixMillis, event: LockEvent) -> LockStep {
    let held_by = |token: i64| facts.token == token && facts.expires_at > now;
    match event {
        LockEvent::Take { ttl_ms } if facts.expires_at <= now => {
            let token = facts.token + 1;
            LockStep {
                facts: LockFacts {
                    token,
                    expires_at: now.saturating_add(ttl_ms),
                },
                answer: token,
            }
        }
        LockEvent::Renew { token, ttl_ms } if held_by(token) => LockStep {
            facts: LockFacts {
                token,
                expires_at: now.saturating_add(ttl_ms),
            },
            answer: 1,
        },
        LockEvent::Release { token } if held_by(token) => LockStep {
            facts: LockFacts {
                token,
                expires_at: 0,
            },
            answer: 1,
        },
        LockEvent::Peek => LockStep {
            facts,
            answer: i64::from(facts.expires_at > now),
        },
        _ => LockStep { facts, answer: 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grow_and_only_the_holder_renews_or_releases() {
        let taken = lock_step(LockFacts::default(), 100, LockEvent::Take { ttl_ms: 50 });
        assert_eq!(taken.answer, 1);
        let busy = lock_step(taken.facts, 120, LockEvent::Take { ttl_ms: 50 });
        assert_eq!(busy.answer, 0);
        assert_eq!(
            lock_step(
                taken.facts,
                120,
                LockEvent::Renew {
                    token: 2,
                    ttl_ms: 50
                }
            )
            .answer,
            0
        );
        let expired = lock_step(
            taken.facts,
            150,
            LockEvent::Renew {
                token: 1,
                ttl_ms: 50,
            },
        );
        assert_eq!(expired.answer, 0, "a lock is free at its deadline");
        let again = lock_step(taken.facts, 150, LockEvent::Take { ttl_ms: 50 });
        assert_eq!(again.answer, 2);
        let released = lock_step(again.facts, 160, LockEvent::Release { token: 2 });
        assert_eq!(released.answer, 1);
        assert_eq!(
            lock_step(released.facts, 161, LockEvent::Take { ttl_ms: 5 }).answer,
            3
        );
        assert_eq!(lock_step(again.facts, 160, LockEvent::Peek).answer, 1);
        assert_eq!(lock_step(again.facts, 200, LockEvent::Peek).answer, 0);
        assert_eq!(lock_step(released.facts, 161, LockEvent::Peek).answer, 0);
    }
}
