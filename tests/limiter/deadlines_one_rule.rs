//! "In time" has one meaning on every path (issue 23: one helper for deadlines): an instant is
//! in time when it is no later than the deadline and before the end of time, and a refusal
//! reports the wait from the decision. The same whether the rate limiter decides lock-free on
//! its one-word state, from the instant published by an algorithm kept under the lock (a cost
//! of 1), or on the reservation core (any other cost), and on a multi-resource limiter.

use std::time::Duration;

use tollgate::{
    AcquireError, Clock, LimitError, Limits, MockTime, MultiLimiter, Nanos, Rate, RateLimiter,
    REQUESTS,
};

/// Runs `$body` with `$limiter` bound to a rate limiter of each algorithm (10 per second, all
/// 10 at once) on a fresh mock clock `$time`.
macro_rules! each_rate_limiter {
    (|$limiter:ident, $time:ident| $body:block) => {{
        let rate = Rate::per_second(10);
        each_rate_limiter!(@one RateLimiter::gcra(rate), $limiter, $time, $body);
        each_rate_limiter!(@one RateLimiter::gcra_continuous(rate), $limiter, $time, $body);
        each_rate_limiter!(@one RateLimiter::token_bucket(rate), $limiter, $time, $body);
        each_rate_limiter!(@one RateLimiter::leaky_bucket(rate), $limiter, $time, $body);
        each_rate_limiter!(@one RateLimiter::sliding_window(rate), $limiter, $time, $body);
    }};
    (@one $new:expr, $limiter:ident, $time:ident, $body:block) => {{
        let (clock, $time): (Clock, MockTime) = Clock::mock();
        let $limiter = $new.with_clock(clock);
        $body
    }};
}

fn wait_of(refused: AcquireError) -> Duration {
    match refused {
        AcquireError::NotInTime { wait } => wait,
        other => panic!("expected NotInTime, got {other:?}"),
    }
}

#[test]
fn the_deadline_itself_is_in_time_and_one_nanosecond_earlier_is_not() {
    each_rate_limiter!(|limiter, time| {
        time.advance(Duration::from_secs(5));
        for cost in [1, 2] {
            limiter.acquire_n(10).unwrap(); // all taken (waiting for them if need be)
            let now = time.now();
            let wait = wait_of(limiter.try_acquire_n(cost).unwrap_err());
            assert!(wait > Duration::ZERO, "{limiter:?}");
            let fits = now + wait;
            let early = limiter.try_acquire_until(cost, Nanos::new(fits.as_u64() - 1));
            assert_eq!(
                early.map_err(wait_of),
                Err(wait),
                "{limiter:?}, cost {cost}"
            );
            let for_early = limiter.try_acquire_for(cost, wait - Duration::from_nanos(1));
            assert_eq!(
                for_early.map_err(wait_of),
                Err(wait),
                "{limiter:?}, cost {cost}"
            );
            assert_eq!(time.now(), now, "refused before sleeping");
            limiter.try_acquire_until(cost, fits).unwrap();
            assert_eq!(time.now(), fits, "{limiter:?}, cost {cost}");
        }
    });
}

#[test]
fn the_end_of_time_is_never_in_time_not_even_for_acquire() {
    each_rate_limiter!(|limiter, time| {
        time.advance(Duration::from_nanos(u64::MAX));
        let _ = limiter.try_acquire_n(10);
        // Whatever the path, waiting for the end of time is refused at once, never slept.
        assert_eq!(
            limiter.acquire(),
            Err(AcquireError::NotInTime {
                wait: Duration::ZERO
            }),
            "{limiter:?}"
        );
        assert_eq!(limiter.acquire_n(2).map_err(wait_of), Err(Duration::ZERO));
        assert_eq!(time.now(), Nanos::MAX);
    });

    let (clock, time) = Clock::mock();
    let multi = MultiLimiter::new(Limits::new().rate(REQUESTS, Rate::per_second(10)))
        .unwrap()
        .with_clock(clock);
    time.advance(Duration::from_nanos(u64::MAX));
    let _ = multi.try_acquire(&[(REQUESTS, 10)]);
    let refused = multi.acquire(&[(REQUESTS, 1)]).unwrap_err();
    assert_eq!(
        refused,
        LimitError::NotInTime {
            wait: Some(Duration::ZERO)
        }
    );
}

#[test]
fn a_multi_limiter_decides_the_deadline_as_a_rate_limiter_does() {
    let (clock, time) = Clock::mock();
    let multi = MultiLimiter::new(Limits::new().rate(REQUESTS, Rate::per_second(10)))
        .unwrap()
        .with_clock(clock.clone());
    let single = RateLimiter::gcra(Rate::per_second(10)).with_clock(clock);
    let _burst = multi.acquire(&[(REQUESTS, 10)]).unwrap();
    single.acquire_n(10).unwrap();
    let fits = time.now() + Duration::from_millis(100);
    let early = Nanos::new(fits.as_u64() - 1);
    let refused = multi
        .try_acquire_until(&[(REQUESTS, 1)], early)
        .unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_millis(100)));
    assert_eq!(
        single.try_acquire_until(1, early).map_err(wait_of),
        Err(Duration::from_millis(100))
    );
    let _permit = multi.try_acquire_until(&[(REQUESTS, 1)], fits).unwrap();
    assert_eq!(time.now(), fits);
    single.try_acquire_until(1, fits).unwrap();
    assert_eq!(time.now(), fits);
}
