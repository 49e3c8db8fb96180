//! The few real-time checks: waits target absolute instants, so lateness does not accumulate,
//! and threads sharing a limiter get exactly the admitted count. Tolerances are generous.

use std::time::{Duration, Instant};

use tollgate::{Rate, RateLimiter};

#[test]
fn two_thousand_acquires_at_1000_per_second_take_the_ideal_time() {
    let limiter = RateLimiter::new(Rate::per_second(1_000));
    let started = Instant::now();
    for _ in 0..2_000 {
        limiter.acquire().unwrap();
    }
    let elapsed = started.elapsed();
    // 1,000 at once (the burst), then one every millisecond: the last at exactly 1 s.
    let ideal = Duration::from_secs(1);
    assert!(elapsed >= ideal - Duration::from_millis(2), "{elapsed:?}");
    // Accumulated lateness would be 1,000 sleeps' overshoot (~75 ms at least); one late wake on
    // a loaded machine is a few milliseconds.
    assert!(
        elapsed <= ideal + Duration::from_millis(40),
        "{elapsed:?}: lateness accumulated"
    );
}

#[test]
fn threads_sharing_a_limiter_never_get_more_than_the_bound() {
    let limiter = RateLimiter::new(Rate::per_second(200).burst(10));
    let started = Instant::now();
    let admitted: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let mut admitted = 0;
                    while started.elapsed() < Duration::from_millis(300) {
                        if limiter.try_acquire().is_ok() {
                            admitted += 1;
                        }
                    }
                    admitted
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let bound = 10.0 + 200.0 * elapsed;
    assert!(
        admitted as f64 <= bound + 1.0,
        "{admitted} admitted, bound {bound}"
    );
    assert!(
        admitted as f64 >= 0.8 * 200.0 * 0.3,
        "{admitted} admitted: far below the rate"
    );
    assert_eq!(limiter.stats().admitted, admitted);
}
