//! The Lua scripts of the Redis backend, each the shared prelude (`common.lua`) plus its entry.
//! Loaded once per server and called by SHA (`EVALSHA`); redis-rs reloads one on `NOSCRIPT`.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(super) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/common.lua"),
                "\n",
                include_str!($file)
            ))
        });
    };
}

script!(PUSH, "lua/push.lua");
script!(FETCH, "lua/fetch.lua");
script!(COMPLETE, "lua/complete.lua");
script!(RENEW, "lua/renew.lua");
script!(RELEASE, "lua/release.lua");
script!(ADMIN, "lua/admin.lua");
script!(SEARCH, "lua/search.lua");

/// The lock script touches no queue: it stands alone, without the shared prelude.
pub(super) static LOCK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lock.lua")));
