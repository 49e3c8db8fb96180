//! Bounded waits fail at once, without sleeping and without taking anything, when the wait
//! would pass the deadline; bad input is a typed error, never a panic or a hang.

use std::time::{Duration, Instant};

use tollgate::{AcquireError, Clock, Nanos, Rate, RateError, RateLimiter};

#[test]
fn a_timeout_shorter_than_the_wait_fails_without_sleeping_or_taking() {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
    limiter.acquire_n(10).unwrap();
    let err = limiter
        .try_acquire_for(3, Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(
        err,
        AcquireError::NotInTime {
            wait: Duration::from_millis(300)
        }
    );
    assert_eq!(time.now(), Nanos::ZERO, "refused without sleeping");
    limiter
        .try_acquire_for(2, Duration::from_millis(200))
        .unwrap();
    assert_eq!(
        time.now(),
        Nanos::from_millis(200),
        "nothing was taken by the refusal"
    );
}

#[test]
fn try_acquire_reports_the_wait_and_takes_nothing() {
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::token_bucket("4/2s".parse().unwrap()).with_clock(clock);
    limiter.acquire_n(3).unwrap();
    let err = limiter.try_acquire_n(2).unwrap_err();
    assert_eq!(err.wait(), Some(Duration::from_millis(500)));
    assert_eq!(limiter.available(), 1);
    let stats = limiter.stats();
    assert_eq!((stats.admitted, stats.rejected), (1, 1));
}

#[test]
fn a_deadline_in_the_past_fails_at_once() {
    let limiter = RateLimiter::new(Rate::per_hour(1));
    limiter.acquire().unwrap();
    let started = Instant::now();
    let past = Nanos::ZERO;
    assert!(matches!(
        limiter.try_acquire_until(1, past),
        Err(AcquireError::NotInTime { .. })
    ));
    assert!(limiter.try_acquire_for(1, Duration::from_secs(60)).is_err());
    assert!(started.elapsed() < Duration::from_millis(100));
    // Cost 0 always fits, even on an exhausted limiter.
    limiter.try_acquire_until(0, past).unwrap();
}

#[test]
fn cost_above_burst_is_an_error_for_every_form_never_a_hang() {
    let limiter = RateLimiter::new(Rate::per_second(20));
    let expected = AcquireError::ExceedsCapacity {
        cost: 30,
        capacity: 20,
    };
    assert_eq!(limiter.acquire_n(30), Err(expected.clone()));
    assert_eq!(limiter.try_acquire_n(30), Err(expected.clone()));
    assert_eq!(limiter.try_acquire_for(30, Duration::MAX), Err(expected));
    assert!(limiter.acquire_n(u64::MAX).is_err());
    limiter.acquire_n(20).unwrap();
}

#[test]
fn invalid_rates_are_typed_errors_on_every_path() {
    let invalid = [
        (Rate::per_second(0), RateError::ZeroQuantity),
        (Rate::new(5, Duration::ZERO), RateError::ZeroPeriod),
        (Rate::per_second(5).burst(0), RateError::ZeroBurst),
    ];
    for (rate, expected) in invalid {
        let limiter = RateLimiter::new(rate);
        assert_eq!(
            limiter.acquire(),
            Err(AcquireError::InvalidRate(expected.clone()))
        );
        assert_eq!(
            limiter.try_acquire(),
            Err(AcquireError::InvalidRate(expected.clone()))
        );
        assert_eq!(limiter.available(), 0);
        assert_eq!(rate.validate(), Err(expected));
    }
    let too_fast = Rate::new(u64::MAX, Duration::from_secs(1));
    assert!(matches!(
        too_fast.validate(),
        Err(RateError::TooFast { .. })
    ));
    let overflow = Rate::new(1, Duration::from_secs(u64::MAX));
    assert!(matches!(
        overflow.validate(),
        Err(RateError::TooLong { .. })
    ));
    // A limiter made with an invalid rate recovers when given a valid one.
    let limiter = RateLimiter::new(Rate::per_second(0));
    limiter.set_rate(Rate::per_second(3)).unwrap();
    limiter.acquire_n(3).unwrap();
}

#[test]
fn extreme_rates_and_debts_saturate_instead_of_overflowing() {
    let (clock, _time) = Clock::mock();
    let limiter =
        RateLimiter::new(Rate::new(1_000_000_000, Duration::from_secs(1))).with_clock(clock);
    limiter.acquire_n(1_000_000_000).unwrap();
    limiter.reserve(0).unwrap().settle(u64::MAX).unwrap();
    let err = limiter.try_acquire().unwrap_err();
    assert!(err.wait().unwrap() > Duration::from_secs(365 * 86_400));
    assert!(limiter.try_acquire_for(1, Duration::MAX).is_ok() || limiter.stats().rejected > 0);

    let slow = RateLimiter::new(Rate::new(1, Duration::from_secs(100 * 365 * 86_400)));
    slow.acquire().unwrap();
    assert!(slow.try_acquire_for(1, Duration::from_secs(3_600)).is_err());
}
