//! A deadline already past takes what fits now, as `try_acquire` does, on every type with a
//! `try_acquire_until` (the documented meaning, `tests/deadlines.rs`): the rate limiter's
//! lock-free path, its core path (the sliding window), a multi-resource limiter and both
//! semaphores. Before issue 23's refactor the semaphores turned the instant into a timeout of
//! zero and so took a free slot; passing the instant must not change that.

use std::time::Duration;

use tollgate::{
    AdaptiveSemaphore, Clock, CreditSemaphore, Limits, MultiLimiter, Nanos, Rate, RateLimiter,
    REQUESTS,
};

#[test]
fn a_past_deadline_takes_a_free_slot_of_an_adaptive_semaphore() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(10));
    let slots = AdaptiveSemaphore::builder(1)
        .with_clock(clock)
        .build()
        .unwrap();
    let held = slots.try_acquire_until(Nanos::from_secs(5));
    assert!(held.is_ok(), "{:?}", held.err());
    assert!(slots.try_acquire_until(Nanos::from_secs(5)).is_err());
    assert_eq!(time.now(), Nanos::from_secs(10), "nothing slept");
}

#[test]
fn a_past_deadline_takes_free_credits_of_a_credit_semaphore() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(10));
    let credits = CreditSemaphore::new(2).with_clock(clock);
    let held = credits.try_acquire_until(1, Duration::ZERO, Nanos::from_secs(5));
    assert!(held.is_ok(), "{:?}", held.err());
    let _held = held.unwrap();
    // Nobody waits and one credit is free: taken, as try_acquire would.
    let second = credits.try_acquire_until(1, Duration::ZERO, Nanos::from_secs(5));
    assert!(second.is_ok(), "{:?}", second.err());
    let _second = second.unwrap();
    assert!(credits
        .try_acquire_until(1, Duration::ZERO, Nanos::from_secs(5))
        .is_err());
    assert_eq!(time.now(), Nanos::from_secs(10), "nothing slept");
}

#[test]
fn a_past_deadline_takes_what_fits_on_the_rate_limiters_core_path() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(10));
    let limiter = RateLimiter::sliding_window(Rate::per_second(2)).with_clock(clock);
    limiter.try_acquire_until(1, Nanos::ZERO).unwrap();
    limiter.try_acquire_until(1, Nanos::ZERO).unwrap();
    assert!(limiter.try_acquire_until(1, Nanos::ZERO).is_err());
    // A cost of 2 goes to the core on every algorithm.
    let (clock, _time) = Clock::mock();
    let gcra = RateLimiter::gcra(Rate::per_second(2)).with_clock(clock);
    gcra.try_acquire_until(2, Nanos::ZERO).unwrap();
    assert_eq!(time.now(), Nanos::from_secs(10), "nothing slept");
}

#[test]
fn a_past_deadline_takes_what_fits_on_a_multi_limiter() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(10));
    let limits = Limits::new().rate(REQUESTS, Rate::per_second(2));
    let multi = MultiLimiter::new(limits).unwrap().with_clock(clock.clone());
    let _first = multi
        .try_acquire_until(&[(REQUESTS, 1)], Nanos::ZERO)
        .unwrap();
    let with_slots = MultiLimiter::new(Limits::new().rpm(60).max_parallel(1))
        .unwrap()
        .with_clock(clock);
    let _slot = with_slots
        .try_acquire_until(&[(REQUESTS, 1)], Nanos::ZERO)
        .unwrap();
    assert!(with_slots
        .try_acquire_until(&[(REQUESTS, 1)], Nanos::ZERO)
        .is_err());
    assert_eq!(time.now(), Nanos::from_secs(10), "nothing slept");
}
