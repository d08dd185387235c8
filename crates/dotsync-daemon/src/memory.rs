//! Giving memory back to the system after a sync.
//!
//! A first sync of ten thousand files allocates tens of MiB of short-lived data (paths, hashes,
//! plans, events) and fills SQLite's page cache. Left alone, the daemon would stay at that peak
//! for the rest of its life: glibc keeps freed pages that lie between live objects, and SQLite
//! keeps its cache. An idle daemon should be small, so after each sync it asks both to let go:
//! SQLite with `PRAGMA shrink_memory`, glibc with `malloc_trim(0)` (which, since glibc 2.8,
//! releases free pages inside the heap, not only at its top). The next sync re-reads the few
//! pages it needs from the OS's cache.

/// Returns the memory a finished sync no longer needs to the operating system.
pub(crate) fn release_free_memory(store: &dotsync_state::Store) {
    if let Err(e) = store.release_memory() {
        tracing::debug!("SQLite could not shrink its cache: {e}");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim takes no pointers from us; it walks the allocator's own free lists
    // under the allocator's own locks and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
