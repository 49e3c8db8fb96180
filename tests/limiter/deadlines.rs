//! Deadlines (issue 22, point 7): every `try_acquire_until` takes a `std::time::Instant` as well
//! as an instant of the limiter's clock (`Nanos`), on a real and on a mock clock; `Nanos +
//! Duration` saturates at the end of time; "not in time" is one variant with one field, `wait`
//! (how long from the decision the caller would have had to wait), in every error type.

use std::time::{Duration, Instant};

use tollgate::{
    AcquireError, AdaptiveSemaphore, Clock, CreditSemaphore, LimitError, Limits, ModelLimiter,
    MultiLimiter, Nanos, Rate, RateLimiter, SemaphoreError, REQUESTS,
};

/// `at` is `expected`, or up to 50 ms of real time earlier.
fn assert_about(at: Nanos, expected: Nanos) {
    assert!(
        at <= expected && expected.saturating_sub(at) < Nanos::from_millis(50),
        "{at:?}, expected about {expected:?}"
    );
}

#[test]
fn an_instant_deadline_on_the_real_clock_is_decided_before_sleeping() {
    let limiter = RateLimiter::new(Rate::per_second(10));
    limiter.acquire_n(10).unwrap(); // the next unit fits in about 100 ms
    let started = Instant::now();
    let refused = limiter
        .try_acquire_until(1, Instant::now() + Duration::from_millis(20))
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "refused at once, not after sleeping: {:?}",
        started.elapsed()
    );
    let AcquireError::NotInTime { wait } = refused else {
        panic!("expected NotInTime, got {refused:?}")
    };
    assert!(
        wait > Duration::from_millis(20) && wait <= Duration::from_millis(100),
        "{wait:?}"
    );

    limiter
        .try_acquire_until(1, Instant::now() + Duration::from_secs(5))
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(80) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn an_instant_counts_from_the_mock_now_on_a_mock_clock() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(10));
    let limiter = RateLimiter::new(Rate::per_second(2)).with_clock(clock);
    limiter.acquire_n(2).unwrap(); // the next unit fits at 10.5 s of mock time

    // 400 ms from the real now is 10.4 s of mock time: too early, and nothing was taken.
    let refused = limiter.try_acquire_until(1, Instant::now() + Duration::from_millis(400));
    assert_eq!(
        refused,
        Err(AcquireError::NotInTime {
            wait: Duration::from_millis(500)
        })
    );
    assert_eq!(time.now(), Nanos::from_secs(10));
    // An instant already past fails at once too.
    assert!(limiter
        .try_acquire_until(1, Instant::now() - Duration::from_secs(1))
        .is_err());

    // 600 ms from the real now is 10.6 s: admitted at 10.5 s (the mock sleep moves time there).
    limiter
        .try_acquire_until(1, Instant::now() + Duration::from_millis(600))
        .unwrap();
    assert_eq!(time.now(), Nanos::from_millis(10_500));
}

#[test]
fn the_conversion_is_relative_to_the_mock_now_and_saturates() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(100));
    let at = clock.instant_to_nanos(Instant::now() + Duration::from_secs(3));
    assert!(
        at > Nanos::from_millis(102_900) && at <= Nanos::from_secs(103),
        "{at:?}"
    );
    let past = clock.instant_to_nanos(Instant::now() - Duration::from_secs(1));
    assert!(
        past > Nanos::from_millis(98_900) && past <= Nanos::from_secs(99),
        "{past:?}"
    );
    // Before the clock's origin: the origin, not a wrapped-around instant.
    let (fresh, _) = Clock::mock();
    assert_eq!(
        fresh.instant_to_nanos(Instant::now() - Duration::from_secs(5)),
        Nanos::ZERO
    );
}

#[test]
fn every_try_acquire_until_takes_an_instant_and_a_nanos() {
    let (clock, time) = Clock::mock();
    let soon = || Instant::now() + Duration::from_millis(100);

    let multi = MultiLimiter::new(Limits::new().rpm(1))
        .unwrap()
        .with_clock(clock.clone());
    let _first = multi.acquire(&[(REQUESTS, 1)]).unwrap();
    let refused = multi
        .try_acquire_until(&[(REQUESTS, 1)], soon())
        .unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_secs(60)));
    let _permit = multi
        .try_acquire_until(&[(REQUESTS, 1)], clock.now() + Duration::from_secs(60))
        .unwrap();
    assert_eq!(time.now(), Nanos::from_secs(60));

    let models = ModelLimiter::builder()
        .model("m", Limits::new().rpm(1))
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let _first = models.acquire("m", &[]).unwrap();
    let refused = models.try_acquire_until("m", &[], soon()).unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_secs(60)));
    let _permit = models
        .try_acquire_until("m", &[], Instant::now() + Duration::from_secs(61))
        .unwrap();
    assert_eq!(time.now(), Nanos::from_secs(120));

    let credits = CreditSemaphore::new(1).with_clock(clock.clone());
    let held = credits.acquire(1, Duration::from_secs(1)).unwrap();
    let refused = credits.try_acquire_until(1, Duration::ZERO, soon());
    assert_eq!(
        refused.err(),
        Some(SemaphoreError::NotInTime { wait: None })
    );
    // The Instant 100 ms away was the mock instant 100 ms away (less the real time that
    // passed between writing the Instant and the call).
    assert_about(time.now(), Nanos::from_millis(120_100));
    drop(held); // its credit comes back 1 s later
    let _permit = credits
        .try_acquire_until(1, Duration::ZERO, clock.now() + Duration::from_secs(1))
        .unwrap();

    let slots = AdaptiveSemaphore::builder(1)
        .max_limit(1)
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let _held = slots.acquire();
    let before = time.now();
    let refused = slots.try_acquire_until(soon()).unwrap_err();
    assert_eq!(refused, SemaphoreError::NotInTime { wait: None });
    assert_about(time.now(), before + Duration::from_millis(100));
    assert!(slots
        .try_acquire_until(clock.now() + Duration::from_millis(100))
        .is_err());
}

#[test]
fn nanos_plus_a_duration_saturates_at_the_end_of_time() {
    assert_eq!(
        Nanos::from_secs(1) + Duration::from_millis(500),
        Nanos::from_millis(1_500)
    );
    assert_eq!(Nanos::MAX + Duration::from_nanos(1), Nanos::MAX);
    assert_eq!(
        Nanos::new(u64::MAX - 1) + Duration::from_nanos(5),
        Nanos::MAX
    );
    assert_eq!(Nanos::ZERO + Duration::MAX, Nanos::MAX);
    let mut t = Nanos::new(u64::MAX - 10);
    t += Duration::from_secs(1);
    assert_eq!(t, Nanos::MAX);

    // A deadline at the end of time is "never give up".
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock.clone());
    limiter.acquire().unwrap();
    limiter
        .try_acquire_until(1, clock.now() + Duration::MAX)
        .unwrap();
    assert_eq!(time.now(), Nanos::from_secs(1));
}

/// `wait` read the same way from every error type: a field of the same name on the same
/// variant, and the same accessor.
#[test]
fn not_in_time_is_one_field_with_one_meaning_in_every_error() {
    let (clock, time) = Clock::mock();

    // A rate limiter knows the wait: from the decision, not from the deadline.
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock.clone());
    limiter.acquire().unwrap();
    let refused = limiter
        .try_acquire_until(1, clock.now() + Duration::from_millis(300))
        .unwrap_err();
    let AcquireError::NotInTime { wait } = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(wait, Duration::from_secs(1));
    assert_eq!(refused.wait(), Some(Duration::from_secs(1)));

    // A multi limiter: known from the rates, unknown (None) for a concurrency slot.
    let rates = MultiLimiter::new(Limits::new().rpm(1))
        .unwrap()
        .with_clock(clock.clone());
    let _held = rates.acquire(&[(REQUESTS, 1)]).unwrap();
    time.advance(Duration::from_secs(20));
    let refused = rates
        .try_acquire_for(&[(REQUESTS, 1)], Duration::from_secs(1))
        .unwrap_err();
    let LimitError::NotInTime { wait } = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(wait, Some(Duration::from_secs(40)));
    let slots = MultiLimiter::new(Limits::new().max_parallel(1))
        .unwrap()
        .with_clock(clock.clone());
    let _held = slots.acquire(&[]).unwrap();
    let refused = slots.try_acquire(&[]).unwrap_err();
    assert_eq!(refused, LimitError::NotInTime { wait: None });
    assert_eq!(refused.wait(), None);

    // A semaphore: the wait is unknown, so None, and never the time already spent waiting
    // (the old `waited` field, which read 250 ms here).
    let credits = CreditSemaphore::new(1).with_clock(clock.clone());
    let _held = credits.acquire(1, Duration::ZERO).unwrap();
    let refused = credits
        .try_acquire_for(1, Duration::ZERO, Duration::from_millis(250))
        .unwrap_err();
    let SemaphoreError::NotInTime { wait } = refused.clone() else {
        panic!("{refused:?}")
    };
    assert_eq!(wait, None);
    assert_eq!(refused.wait(), None);
    assert!(refused.to_string().starts_with("not in time"), "{refused}");
}

/// A deadline already past takes what fits now, as `try_acquire` does, and nothing else
/// (the documented meaning; a new user read "fails at once" for it).
#[test]
fn a_deadline_already_past_takes_only_what_fits_now() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(10));
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock);
    limiter.try_acquire_until(1, Nanos::ZERO).unwrap();
    let refused = limiter.try_acquire_until(1, Nanos::ZERO).unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_secs(1)));
    assert_eq!(time.now(), Nanos::from_secs(10), "nothing slept");
}
