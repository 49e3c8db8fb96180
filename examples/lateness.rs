//! How late a blocked caller wakes after its instant, in both wait modes, at 1 kHz and 10 kHz.
//!
//! Run with `cargo run --release --example lateness`. Prints median and p99 lateness (time past
//! the instant the limiter scheduled) for `WaitPrecision::Sleep` (the default: no spinning) and
//! `WaitPrecision::Precise` (sleep, then yield the last 200 µs).

use std::time::Duration;

use tollgate::{Nanos, Rate, RateLimiter, WaitPrecision};

/// Lateness of `count` paced acquires at `per_second`, sorted.
fn lateness(per_second: u64, count: u64, precision: WaitPrecision) -> Vec<Duration> {
    let limiter = RateLimiter::new(Rate::per_second(per_second).burst(1)).with_precision(precision);
    let interval = Nanos::new(1_000_000_000 / per_second);
    let clock = limiter.clock().clone();
    limiter.acquire().unwrap();
    // With burst 1 each acquire is scheduled one interval after the previous one's instant, or
    // at once if called later than that.
    let mut scheduled = clock.now();
    let mut late: Vec<Duration> = (0..count)
        .map(|_| {
            scheduled = clock.now().max(scheduled.saturating_add(interval));
            limiter.acquire().unwrap();
            clock.now().saturating_sub(scheduled).as_duration()
        })
        .collect();
    late.sort();
    late
}

fn main() {
    println!(
        "{:<10}{:>8}{:>14}{:>14}{:>14}",
        "mode", "rate", "median", "p99", "max"
    );
    for per_second in [1_000, 10_000] {
        for (name, precision) in [
            ("sleep", WaitPrecision::Sleep),
            ("precise", WaitPrecision::Precise),
        ] {
            let late = lateness(per_second, per_second * 2, precision);
            let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize];
            println!(
                "{name:<10}{:>7}/s{:>14?}{:>14?}{:>14?}",
                per_second,
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
    }
}
