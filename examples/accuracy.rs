//! Long-run accuracy: 8 threads share a limiter at 1,000/s for 10 s; the admitted count must
//! satisfy `0.999 × ideal ≤ n ≤ ideal + burst` (the bound Go's x/time/rate holds itself to).
//!
//! Run with `cargo run --release --example accuracy`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tollgate::{Nanos, Rate, RateLimiter};

fn main() {
    let (per_second, burst, seconds, threads) = (1_000u64, 1u64, 10u64, 8);
    let limiter = RateLimiter::new(Rate::per_second(per_second).burst(burst));
    let admitted = AtomicU64::new(0);
    let started = Instant::now();
    let end = limiter
        .clock()
        .now()
        .saturating_add(Nanos::from(Duration::from_secs(seconds)));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                // Count only what is admitted within the window.
                while limiter.try_acquire_until(1, end).is_ok() {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let n = admitted.load(Ordering::Relaxed);
    let ideal = per_second * seconds;
    let within = 0.999 * ideal as f64 <= n as f64 && n <= ideal + burst;
    println!(
        "{threads} threads, {per_second}/s burst {burst}, {seconds} s: admitted {n}, ideal {ideal}, \
         ratio {:.5}, bound [{:.0}, {}]: {}",
        n as f64 / ideal as f64,
        0.999 * ideal as f64,
        ideal + burst,
        if within { "within" } else { "OUTSIDE" }
    );
    println!("wall time {:?}", started.elapsed());
}
