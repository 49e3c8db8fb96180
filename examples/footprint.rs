//! The inline size of each limiter type (`size_of`), and the heap it owns on top.
//!
//! Run with `cargo run --release --example footprint`.

use std::mem::size_of;

use tollgate::algorithm::{GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket};
use tollgate::{AdaptiveSemaphore, CreditSemaphore, RateLimiter};

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
}
