//! The process's memory allocator, and giving freed memory back to the OS.
//!
//! mimalloc, not glibc's malloc: every argon2 hash needs one
//! `password.memory_kib` block (19 MiB by default). glibc raises its mmap
//! threshold after the first such free, serves the next from the heap, and
//! small allocations landing in the freed space keep the heap from being
//! reused or trimmed: a sustained login flood grew the server past 2.9 GiB
//! in 6 s. mimalloc keeps large blocks in their own segments and reuses them
//! (see bench/HISTORY.md). It is declared in the library, not `main.rs`, so
//! the tests and benchmarks run on the allocator the server runs on.
//!
//! mimalloc gives freed memory back to the OS lazily (a second after the
//! free, and only when it is next called), so a server that has gone quiet
//! would keep its last argon2 blocks resident forever.
//! [`return_free_memory`] is called when the hashing pool lets go of them.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns every page mimalloc holds but nothing uses to the OS, now.
pub fn return_free_memory() {
    // SAFETY: mi_collect takes no pointers and may be called from any
    // thread at any time; `force` makes it purge freed pages immediately
    // rather than after mimalloc's purge delay.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
