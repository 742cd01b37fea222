//! Crash points for tests: named places between two writes where a test can have the process
//! die on the spot (`abort`, as a `SIGKILL` would: no destructor, no flush), to show what each
//! setup leaves behind. `DEZKY_CRASH_POINT` names the one point to die at; unset (production),
//! a point costs one load of a cached value.

use std::sync::OnceLock;

/// The variable that names the point to die at.
pub const CRASH_POINT_VAR: &str = "DEZKY_CRASH_POINT";

/// Dies here when `DEZKY_CRASH_POINT` is `name`.
pub fn point(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| {
        std::env::var(CRASH_POINT_VAR)
            .ok()
            .filter(|v| !v.is_empty())
    });
    if armed.as_deref() == Some(name) {
        eprintln!("crash point `{name}` reached: aborting ({CRASH_POINT_VAR})");
        std::process::abort();
    }
}
