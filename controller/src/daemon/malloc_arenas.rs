//! One malloc arena for the whole daemon ([`ARENAS`]), unless its environment sets the number.
//!
//! glibc gives each new thread an arena of its own, up to eight per CPU, and reuses freed
//! memory only in the arena it came from. The daemon's big phases run on different threads:
//! the watchers convert a relist on a runtime worker, a pass runs on another, a `/metrics`
//! dump on a blocking thread. So each arena kept the high-water mark of its own phase and the
//! peaks added up. At 10,000 Services in Kubernetes mode the peak RSS over two scrapes was
//! 186-200 MiB with glibc's default, 146-159 MiB with two arenas (which thread shares which
//! arena varies from run to run) and 138-141 MiB with one (bench/README.md, "Endpoint churn
//! in Kubernetes mode"). The daemon is I/O bound on two runtime workers, and glibc's
//! per-thread cache serves most small allocations without the arena's lock, so one arena
//! costs little: the programming pass and the change latency measured the same.
//!
//! `MALLOC_ARENA_MAX`, or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`, is the operator's
//! choice and is left alone. Other C libraries are left alone too (musl has no arenas).

use std::ffi::OsStr;

/// The daemon's arena limit.
pub(crate) const ARENAS: i32 = 1;

/// Sets the limit. Call it before the daemon starts any thread: a thread keeps the arena it
/// first allocated from.
pub(crate) fn limit() {
    let tunables = std::env::var_os("GLIBC_TUNABLES");
    let chosen = std::env::var_os("MALLOC_ARENA_MAX");
    if let Some(arenas) = arena_limit(chosen.as_deref(), tunables.as_deref())
        && !set_arena_max(arenas)
    {
        tracing::debug!(arenas, "the C library kept its malloc arena limit");
    }
}

/// The limit to set: none when the environment chose one.
fn arena_limit(arena_max: Option<&OsStr>, tunables: Option<&OsStr>) -> Option<i32> {
    let tuned = tunables.is_some_and(|t| t.to_string_lossy().contains("glibc.malloc.arena_max"));
    (arena_max.is_none() && !tuned).then_some(ARENAS)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(arenas: i32) -> bool {
    // SAFETY: mallopt takes two integers, touches no memory of ours, and changes glibc's
    // malloc parameters under glibc's own lock, so it is sound at any time from any thread.
    // M_ARENA_MAX only bounds the arenas glibc creates later; existing ones stay valid.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins() {
        assert_eq!(arena_limit(None, None), Some(ARENAS));
        assert_eq!(arena_limit(Some(OsStr::new("8")), None), None);
        let tuned = OsStr::new("glibc.malloc.tcache_count=0:glibc.malloc.arena_max=4");
        assert_eq!(arena_limit(None, Some(tuned)), None);
        let other = OsStr::new("glibc.malloc.tcache_count=0");
        assert_eq!(arena_limit(None, Some(other)), Some(ARENAS));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_limit() {
        assert!(set_arena_max(ARENAS));
    }
}
