//! Waiters are served in arrival order: a large request is never overtaken by later small ones.

use std::sync::mpsc;
use std::time::Duration;

use tollgate::algorithm::{Algorithm, GcraVirtual, LeakyBucket, TokenBucket};
use tollgate::{Clock, Nanos, Rate, RateLimiter};

use crate::support;

#[test]
fn a_waiting_cost_20_request_is_not_overtaken_by_later_cost_1_requests() {
    // GCRA runs lock-free; the buckets run under the mutex: both keep arrival order.
    large_request_first::<GcraVirtual>();
    large_request_first::<TokenBucket>();
    large_request_first::<LeakyBucket>();
}

fn large_request_first<A: Algorithm>() {
    let (clock, time) = Clock::mock_stepped();
    let limiter = RateLimiter::<A>::with_algorithm(Rate::per_second(20)).with_clock(clock);
    limiter.acquire_n(20).unwrap(); // empty at 0 s: one unit back every 50 ms
    let (done, finished) = mpsc::channel();
    std::thread::scope(|s| {
        let _freed = support::ClockFreedOnPanic::new(&time);
        let big = done.clone();
        let limiter = &limiter;
        let time = &time;
        let mut threads = vec![s.spawn(move || {
            limiter.acquire_n(20).unwrap();
            big.send(("big", time.now())).unwrap();
        })];
        time.wait_for_sleepers(1);
        for _ in 0..5 {
            let small = done.clone();
            threads.push(s.spawn(move || {
                limiter.acquire_n(1).unwrap();
                small.send(("small", time.now())).unwrap();
            }));
        }
        time.wait_for_sleepers(6);
        for _ in 0..300 {
            support::step(time, Duration::from_millis(5), &threads);
        }
    });
    drop(done);
    let order: Vec<_> = finished.iter().collect();
    assert_eq!(order.len(), 6);
    // Instants, not the order the threads woke in (a loaded machine wakes them late, in any
    // order): the big request went at 1 s, and no small one before the unit after it.
    for (name, at) in &order {
        let earliest = if *name == "big" { 1_000 } else { 1_050 };
        assert!(*at >= Nanos::from_millis(earliest), "{order:?}");
    }
}

#[test]
fn reservations_follow_arrival_order_on_one_thread() {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
    limiter.acquire_n(10).unwrap();
    limiter.acquire_n(10).unwrap();
    assert_eq!(time.now(), Nanos::from_secs(1));
    limiter.acquire().unwrap();
    assert_eq!(time.now(), Nanos::from_millis(1_100));
}
