//! Crash points for tests: named places between two writes where a test can have the process
//! die on the spot (`abort`, as a `SIGKILL` would: no destructor, no flush), to show what each
//! setup leaves behind. The binary arms one point at start (`DEZKY_CRASH_POINT`); unarmed
//! (production), a point costs one load of a cached value.

use std::sync::OnceLock;

static ARMED: OnceLock<String> = OnceLock::new();

/// Makes the process die at the point `name` (once per process; later calls change nothing).
pub fn arm(name: &str) {
    let _ = ARMED.set(name.to_owned());
}

/// Dies here when this point is armed.
pub fn point(name: &str) {
    if ARMED.get().is_some_and(|armed| armed == name) {
        eprintln!("crash point `{name}` reached: aborting (DEZKY_CRASH_POINT)");
        std::process::abort();
    }
}
