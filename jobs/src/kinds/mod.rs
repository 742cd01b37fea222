//! The job kinds, one file per family, and the registry of them a process starts with.

pub mod builtin;
pub mod invite;
pub mod reconcile;
pub mod recovery;
pub mod tenant;
pub mod testing;
pub mod validate;

use crate::registry::Registry;

/// The kinds every process knows; with `test_kinds`, also the ones that exist only for tests
/// (they can kill the process on purpose).
pub fn registry(test_kinds: bool) -> Registry {
    let registry = Registry::new()
        .register(builtin::Noop)
        .register(builtin::Echo)
        .register(builtin::Sleep)
        .register(recovery::SeedRecoveryFlow)
        .register(invite::InviteOperator)
        .register(tenant::ProvisionTenant)
        .register(reconcile::ReconcileTenants);
    if test_kinds {
        registry
            .register(testing::Crash)
            .register(testing::Fail)
            .register(testing::Exclusive)
            .register(testing::Spawn)
            .register(testing::Secret)
            .register(testing::Settle)
            .register(testing::AuthentikVersion)
    } else {
        registry
    }
}

/// Wall-clock milliseconds since the epoch (the queue's clock), for what kinds record.
pub(crate) fn now_ms() -> i64 {
    use dezky_queue::Clock as _;
    dezky_queue::SystemClock.now_ms()
}
