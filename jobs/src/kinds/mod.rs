//! The job kinds, one file per family, and the registry of them a process starts with.

pub mod builtin;
pub mod invite;
pub mod recovery;
pub mod testing;

use crate::registry::Registry;

/// The kinds every process knows; with `test_kinds`, also the ones that exist only for tests
/// (they can kill the process on purpose).
pub fn registry(test_kinds: bool) -> Registry {
    let registry = Registry::new()
        .register(builtin::Noop)
        .register(builtin::Echo)
        .register(builtin::Sleep)
        .register(recovery::SeedRecoveryFlow)
        .register(invite::InviteOperator);
    if test_kinds {
        registry
            .register(testing::Crash)
            .register(testing::Fail)
            .register(testing::Exclusive)
            .register(testing::Spawn)
            .register(testing::Secret)
            .register(testing::AuthentikVersion)
    } else {
        registry
    }
}
