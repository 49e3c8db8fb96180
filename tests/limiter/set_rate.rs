//! `set_rate` applies to later decisions and moves the instants of callers already waiting.

use std::sync::mpsc;
use std::time::Duration;

use tollgate::{AcquireError, Clock, Nanos, Rate, RateLimiter};

use crate::support;

#[test]
fn a_faster_rate_brings_waiters_forward_in_order() {
    let (clock, time) = Clock::mock_stepped();
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock);
    limiter.acquire().unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::scope(|s| {
        let _freed = support::ClockFreedOnPanic::new(&time);
        let mut threads = Vec::new();
        for id in 0..3 {
            let done = done.clone();
            let limiter = &limiter;
            threads.push(s.spawn(move || {
                // The instant it went, as planned: what a loaded machine does to the thread's
                // wake-up does not change it.
                let reservation = limiter.reserve(1).unwrap();
                reservation.wait().unwrap();
                done.send((id, reservation.ready_at())).unwrap();
            }));
            time.wait_for_sleepers(id + 1);
        }
        // Waiting for 1 s, 2 s, 3 s; at 10/s (burst 1) they go at 100, 200, 300 ms.
        limiter.set_rate(Rate::per_second(10).burst(1)).unwrap();
        for _ in 0..40 {
            support::step(&time, Duration::from_millis(10), &threads);
        }
    });
    drop(done);
    let mut order: Vec<_> = finished.iter().collect();
    order.sort();
    let expected: Vec<_> = (0..3)
        .map(|id| (id, Nanos::from_millis(100 * (id as u64 + 1))))
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn a_waiter_whose_cost_exceeds_the_new_burst_fails() {
    let (clock, time) = Clock::mock_stepped();
    let limiter = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
    limiter.acquire_n(10).unwrap();
    std::thread::scope(|s| {
        let _freed = support::ClockFreedOnPanic::new(&time);
        let waiter = s.spawn(|| limiter.acquire_n(8));
        time.wait_for_sleepers(1);
        limiter.set_rate(Rate::per_second(5)).unwrap();
        assert_eq!(
            support::join(waiter).unwrap(),
            Err(AcquireError::ExceedsCapacity {
                cost: 8,
                capacity: 5
            })
        );
    });
    // Its reservation was given back: after 1 s at 5/s... the original 10 units still drain.
    time.advance(Duration::from_secs(2));
    assert_eq!(limiter.available(), 5);
}

#[test]
fn a_slower_rate_keeps_what_is_owed_in_units() {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
    limiter.acquire_n(10).unwrap();
    limiter.set_rate(Rate::per_second(1).burst(10)).unwrap();
    // Ten units owed now drain at one per second.
    limiter.acquire().unwrap();
    assert_eq!(time.now(), Nanos::from_secs(1));
}
