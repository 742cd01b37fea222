//! The Redis key layout, written once: a queue's fixed keys (declared, in this order, as the
//! `KEYS` of every script; `common.lua` reads them by position), job hashes and the queue index.
//!
//! The last fixed key, `guard`, is never written. Redis Cluster answers `TRYAGAIN` to a call
//! whose declared keys are partly missing while their slot migrates, so with a key that is always
//! missing no script ever runs on a queue whose slot is half moved: it waits (the client retries)
//! until the slot has moved. Job hashes and dedup keys are built in the scripts from the queue's
//! hash tag (same slot) and not declared: fetch, rescue and prune find their jobs themselves, and
//! naming the rest per job cost a tenth of the drain rate for nothing the guard does not give.

use redis::{Script, ScriptInvocation};

/// A queue's fixed keys, by suffix, in the order `common.lua` expects them in `KEYS`.
pub(super) const QUEUE_KEYS: [&str; 12] = [
    "available",
    "scheduled",
    "running",
    "succeeded",
    "dead",
    "cancelled",
    "all",
    "cancel",
    "paused",
    "wake",
    "args",
    "guard",
];

/// `<prefix>:{<queue>}`, the base every key of the queue starts with; the braces are the hash
/// tag that puts all of a queue's keys on one slot.
pub(super) fn base(prefix: &str, queue: &str) -> String {
    format!("{prefix}:{{{queue}}}")
}

/// One of a queue's fixed keys.
pub(super) fn queue_key(prefix: &str, queue: &str, suffix: &str) -> String {
    format!("{}:{suffix}", base(prefix, queue))
}

/// A job's hash.
pub(super) fn job_key(prefix: &str, queue: &str, id: &str) -> String {
    format!("{}:j:{id}", base(prefix, queue))
}

/// The set of every queue name: one key outside any queue's hash tag, read and written on its
/// own (never in a script or pipeline with a queue's keys), so it may sit on any slot.
pub(super) fn queues_key(prefix: &str) -> String {
    format!("{prefix}:queues")
}

/// A call of `script` on `queue`, its fixed keys declared.
pub(super) fn on_queue<'a>(script: &'a Script, prefix: &str, queue: &str) -> ScriptInvocation<'a> {
    let mut call = script.prepare_invoke();
    let base = base(prefix, queue);
    for suffix in QUEUE_KEYS {
        call.key(format!("{base}:{suffix}"));
    }
    call
}
