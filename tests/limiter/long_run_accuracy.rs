//! Long-run accuracy under threads (a short version of `examples/accuracy.rs`): what 8 threads
//! get from a shared limiter over a window is the ideal count, never more than ideal + burst.
//! The lower tolerance is wide so a loaded 2-core machine cannot make it flake: threads that wake
//! late lose the slots they slept through (burst 1), and at a load average of 13 on 2 cores they
//! got 896 of 1000.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tollgate::{Nanos, Rate, RateLimiter};

#[test]
fn eight_threads_at_1000_per_second_get_the_ideal_count() {
    let (per_second, burst) = (1_000u64, 1u64);
    let limiter = RateLimiter::new(Rate::per_second(per_second).burst(burst));
    let admitted = AtomicU64::new(0);
    let window = Duration::from_millis(1_000);
    let end = limiter.clock().now().saturating_add(Nanos::from(window));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while limiter.try_acquire_until(1, end).is_ok() {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let n = admitted.load(Ordering::Relaxed);
    let ideal = per_second * window.as_millis() as u64 / 1_000;
    assert!(
        n <= ideal + burst,
        "{n} admitted, more than {ideal} + {burst}"
    );
    assert!(n as f64 >= 0.75 * ideal as f64, "{n} admitted of {ideal}");
}
