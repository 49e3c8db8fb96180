//! The inline size of each limiter type (`size_of`), the heap it owns on top, and a `Runner`'s
//! memory per pending job (the growth of the process's resident memory while 10⁶ jobs are
//! scheduled, on Linux).
//!
//! Run with `cargo run --release --example footprint`.

use std::mem::size_of;

use tollgate::algorithm::{GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket};
use tollgate::{AdaptiveSemaphore, CreditSemaphore, RateLimiter, Runner};

/// Jobs scheduled to measure a pending job's memory.
const PENDING_JOBS: u64 = 1_000_000;

/// The process's resident memory in bytes (Linux: `/proc/self/statm`, in pages of 4 KiB).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4_096)
}

/// Bytes of resident memory per job while [`PENDING_JOBS`] `u64` jobs wait in a `Runner`.
fn bytes_per_pending_job() -> Option<u64> {
    let before = resident_bytes()?;
    let mut runner = Runner::new(|x: &u64| Ok::<u64, ()>(*x));
    for x in 0..PENDING_JOBS {
        runner.schedule(x).ok()?;
    }
    let after = resident_bytes()?;
    drop(runner);
    Some(after.saturating_sub(before) / PENDING_JOBS)
}

fn main() {
    let sizes = [
        (
            "RateLimiter<GcraVirtual>",
            size_of::<RateLimiter<GcraVirtual>>(),
        ),
        (
            "RateLimiter<GcraContinuous>",
            size_of::<RateLimiter<GcraContinuous>>(),
        ),
        (
            "RateLimiter<TokenBucket>",
            size_of::<RateLimiter<TokenBucket>>(),
        ),
        (
            "RateLimiter<LeakyBucket>",
            size_of::<RateLimiter<LeakyBucket>>(),
        ),
        (
            "RateLimiter<SlidingWindow>",
            size_of::<RateLimiter<SlidingWindow>>(),
        ),
        ("CreditSemaphore", size_of::<CreditSemaphore>()),
        ("AdaptiveSemaphore", size_of::<AdaptiveSemaphore>()),
        ("algorithm::GcraVirtual", size_of::<GcraVirtual>()),
        ("algorithm::TokenBucket", size_of::<TokenBucket>()),
    ];
    for (name, bytes) in sizes {
        println!("{name:<30}{bytes:>5} bytes");
    }
    println!(
        "A RateLimiter also owns on the heap: its reservation core (lock, queue, state), a 1,088-byte block of \
         per-thread counters, and the lock-free path's 384 bytes (the state word on a 128-byte line of its own, \
         the pace on the next)."
    );
    match bytes_per_pending_job() {
        Some(bytes) => println!(
            "Runner: about {bytes} bytes of resident memory per pending u64 job (10⁶ scheduled)."
        ),
        None => println!("Runner: memory per pending job not measured (no /proc/self/statm)."),
    }
}
