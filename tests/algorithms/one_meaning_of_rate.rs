//! One meaning of a `Rate` wherever it is accepted: at most `burst` at once, `quantity` per
//! period. A `RateLimiter`, a `Limits` resource (GCRA or exact window) and a Runner `Resource`
//! honour a burst the same way; where an algorithm cannot mean it, construction is a typed error
//! that says what to write instead.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tollgate::algorithm::SlidingWindow;
use tollgate::{
    AcquireError, Clock, LimitError, Limits, MultiLimiter, Nanos, Rate, RateError, RateLimiter,
    Resource, Retry, Runner, RunnerError,
};

/// Grants per window of `period` starting at each grant: the most any window holds.
fn most_in_any_window(grants: &[Nanos], period: Nanos) -> usize {
    grants
        .iter()
        .map(|&start| {
            grants
                .iter()
                .filter(|&&t| t >= start && t < start.saturating_add(period))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn smallest_gap(grants: &[Nanos]) -> Nanos {
    grants
        .windows(2)
        .map(|pair| pair[1].saturating_sub(pair[0]))
        .min()
        .unwrap_or(Nanos::MAX)
}

/// The case: 30 jobs at "20/s, burst 1" ran in 29 s (one per second). Now they start one
/// every 50 ms, 20 per second: 29 × 50 ms.
#[test]
fn a_runner_resource_with_burst_1_paces_instead_of_admitting_one_per_period() {
    let (clock, time) = Clock::mock();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&starts);
    let call_time = time.clone();
    let mut runner = Runner::new(move |_: &u32| {
        seen.lock().unwrap().push(call_time.now());
        Ok::<(), String>(())
    })
    .resource(Resource::new("requests", Rate::per_second(20).burst(1)).per_job(|_| 1))
    .max_concurrent(1)
    .retry(Retry::never())
    .with_clock(clock);
    for job in 0..30 {
        runner.schedule(job).unwrap();
    }
    runner.run();
    let starts = starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 30);
    assert_eq!(smallest_gap(&starts), Nanos::from_millis(50), "{starts:?}");
    assert_eq!(*starts.last().unwrap(), Nanos::from_millis(29 * 50));
    assert!(most_in_any_window(&starts, Nanos::from_secs(1)) <= 20);
}

/// `Limits::window` with a burst below the quantity: the burst at once, then paced, and never
/// more than the quantity in any window (both rules at once).
#[test]
fn a_window_with_a_burst_takes_the_burst_at_once_then_paces_within_the_quantity() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().window("calls", Rate::per_second(10).burst(4)))
        .unwrap()
        .with_clock(clock);
    let mut grants = Vec::new();
    for _ in 0..40 {
        drop(api.acquire(&[("calls", 1)]).unwrap());
        grants.push(time.now());
    }
    // Four at once (the burst), then one every 100 ms.
    assert_eq!(&grants[..4], &[Nanos::ZERO; 4]);
    assert_eq!(grants[4], Nanos::from_millis(100));
    assert!(most_in_any_window(&grants, Nanos::from_secs(1)) <= 10);
    // The window binds too: GCRA alone would let 4 + 9 = 13 go in the first second.
    assert_eq!(most_in_any_window(&grants, Nanos::from_secs(1)), 10);
    assert!(grants.windows(2).all(|pair| pair[0] <= pair[1]));
}

/// The same rate as a GCRA resource of `Limits` and as a `RateLimiter`: a burst at once.
#[test]
fn a_gcra_resource_and_a_rate_limiter_honour_the_same_burst() {
    let rate = Rate::per_second(20).burst(1);
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(rate).with_clock(clock.clone());
    for _ in 0..3 {
        limiter.acquire().unwrap();
    }
    assert_eq!(time.now(), Nanos::from_millis(100));
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rate("calls", rate))
        .unwrap()
        .with_clock(clock);
    for _ in 0..3 {
        drop(api.acquire(&[("calls", 1)]).unwrap());
    }
    assert_eq!(time.now(), Nanos::from_millis(100));
}

#[test]
fn a_cost_above_the_burst_of_a_paced_window_is_refused_naming_the_resource() {
    let api =
        MultiLimiter::new(Limits::new().window("calls", Rate::per_second(10).burst(4))).unwrap();
    let err = api.acquire(&[("calls", 5)]).unwrap_err();
    assert_eq!(
        err,
        LimitError::ExceedsCapacity {
            resource: "calls".into(),
            cost: 5,
            capacity: 4
        }
    );
}

/// A bare sliding window has no pacing: a burst is a typed error at construction, which says
/// what to write instead, never a silent change of counting.
#[test]
fn a_bare_sliding_window_refuses_a_burst_and_says_what_to_write() {
    let rate = Rate::per_second(20).burst(1);
    let err = RateLimiter::<SlidingWindow>::try_with_algorithm(rate).unwrap_err();
    assert_eq!(err, RateError::BurstOnWindow { rate });
    let message = err.to_string();
    assert!(message.contains("Limits::window"), "{message}");
    assert!(message.contains("20/s"), "{message}");
    // The infallible constructor reports it at every acquire.
    let limiter = RateLimiter::sliding_window(rate);
    assert_eq!(
        limiter.try_acquire(),
        Err(AcquireError::InvalidRate(RateError::BurstOnWindow { rate }))
    );
    // Without a burst, a bare window is fine.
    assert!(RateLimiter::<SlidingWindow>::try_with_algorithm(Rate::per_second(20)).is_ok());
}

/// A burst above the quantity cannot be honoured by any window: refused for `Limits::window`
/// and a Runner `Resource`, with GCRA named as the way.
#[test]
fn a_window_refuses_a_burst_above_its_quantity() {
    let rate = Rate::per_second(10).burst(20);
    let err = MultiLimiter::new(Limits::new().window("calls", rate)).unwrap_err();
    assert_eq!(
        err,
        LimitError::InvalidRate {
            resource: "calls".into(),
            error: RateError::BurstOnWindow { rate }
        }
    );
    assert!(err.to_string().contains("GCRA"), "{err}");
    let mut runner = Runner::new(|_: &u32| Ok::<(), String>(()))
        .resource(Resource::new("requests", rate).per_job(|_| 1));
    assert!(matches!(
        runner.schedule(1),
        Err(RunnerError::InvalidLimits(LimitError::InvalidRate { .. }))
    ));
    // Counted with GCRA, the same rate is honoured: 20 at once.
    let mut smoothed = Runner::new(|_: &u32| Ok::<(), String>(()))
        .resource(Resource::new("requests", rate).per_job(|_| 1).smoothed());
    assert!(smoothed.schedule(1).is_ok());
}

/// `set_rate` keeps the one meaning: a window can start pacing, change its pacing and stop.
#[test]
fn set_rate_on_a_window_starts_and_stops_its_pacing() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().window("calls", Rate::per_second(10)))
        .unwrap()
        .with_clock(clock);
    // Unpaced: ten at once.
    for _ in 0..10 {
        drop(api.acquire(&[("calls", 1)]).unwrap());
    }
    assert_eq!(time.now(), Nanos::ZERO);
    api.set_rate("calls", Rate::per_second(10).burst(2))
        .unwrap();
    assert_eq!(api.rate("calls").unwrap(), Rate::per_second(10).burst(2));
    time.advance(Duration::from_secs(1));
    let start = time.now();
    for _ in 0..4 {
        drop(api.acquire(&[("calls", 1)]).unwrap());
    }
    // Two at once, then one every 100 ms.
    assert_eq!(time.now(), start.saturating_add(Nanos::from_millis(200)));
    api.set_rate("calls", Rate::per_second(10)).unwrap();
    time.advance(Duration::from_secs(1));
    let start = time.now();
    for _ in 0..10 {
        drop(api.acquire(&[("calls", 1)]).unwrap());
    }
    assert_eq!(time.now(), start);
    assert!(matches!(
        api.set_rate("calls", Rate::per_second(10).burst(11)),
        Err(LimitError::InvalidRate {
            error: RateError::BurstOnWindow { .. },
            ..
        })
    ));
}

/// Settling a paced window's estimate gives back to both rules.
#[test]
fn settling_a_paced_window_gives_back_to_the_pacing_too() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().window("tokens", Rate::per_second(100).burst(10)))
        .unwrap()
        .with_clock(clock);
    let permit = api.acquire(&[("tokens", 10)]).unwrap();
    permit.settle("tokens", 0).unwrap();
    drop(permit);
    drop(api.acquire(&[("tokens", 10)]).unwrap());
    assert_eq!(time.now(), Nanos::ZERO);
    let permit = api.acquire(&[("tokens", 10)]).unwrap();
    // Above the burst while it still waits: refused, nothing changed.
    let waiting = api.reserve(&[("tokens", 1)]).unwrap();
    assert!(matches!(
        waiting.settle("tokens", 11),
        Err(LimitError::ExceedsCapacity { capacity: 10, .. })
    ));
    drop((permit, waiting));
}
