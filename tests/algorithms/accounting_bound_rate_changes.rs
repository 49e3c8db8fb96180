//! The accounting bound after a rate change with receipts kept, while a charge waits at a later
//! instant: the smallest cases the `set_rate` properties of `accounting_bound_random_calls`
//! found.
//!
//! A rate change re-scaled kept receipts from the clock's instant while the bucket was
//! re-scaled from its latest instant, and a charge counted from a later instant (waiting for a
//! hold, or for another resource) left an idle stretch that taking it out did not give back; a
//! later cancel then gave back other calls' units.

use std::time::Duration;

use tollgate::algorithm::{Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, TokenBucket};
use tollgate::{Clock, Limits, MultiLimiter, Rate, RateLimiter};

/// The units that went at the instant the third call went, for one `RateLimiter` algorithm:
/// 5 units at 0 (kept), a hold until 2 ms, 4 units reserved behind it, a rate change, the
/// 4 go at 2 ms, 8 more are reserved (881 ms at the new rate), the first call is cancelled.
fn set_rate_behind_a_hold<A: Algorithm>() -> (u64, u64, Vec<String>) {
    let (clock, time) = Clock::mock();
    let fast = Rate::new(4, Duration::from_millis(1)).burst(11); // T = 250 µs
    let slow = Rate::new(1, Duration::from_millis(293)).burst(9);
    let limiter = RateLimiter::<A>::with_algorithm(fast).with_clock(clock);
    let mut log = Vec::new();
    let first = limiter.reserve(5).unwrap();
    log.push(format!("t=0: reserve(5) goes at {:?}", first.ready_at()));
    limiter.observe(0, Some(Duration::from_millis(2))).unwrap();
    let second = limiter.reserve(4).unwrap();
    log.push(format!(
        "t=0: observe(0, 2 ms); reserve(4) ready at {:?}",
        second.ready_at()
    ));
    limiter.set_rate(slow).unwrap();
    second.wait().unwrap();
    let went = time.now().as_u64();
    log.push(format!("t=0: set_rate({slow:?}); the 4 go at {went} ns"));
    let third = limiter.reserve(8).unwrap();
    log.push(format!(
        "t={went}: reserve(8) ready at {:?}",
        third.ready_at()
    ));
    first.cancel();
    log.push(format!(
        "t={went}: cancel the first call (5 units at 0); reserve(8) now ready at {:?}",
        third.ready_at()
    ));
    third.wait().unwrap();
    let third_went = time.now().as_u64();
    let units = if third_went == went { 4 + 8 } else { 8 };
    (third_went, units, log)
}

/// `RateLimiter` with a hold and `set_rate`: never more than the burst at one instant (12 units
/// went at 2 ms, with a burst of 11 then 9, before the fix).
#[test]
fn a_rate_change_behind_a_hold_then_a_cancel_stays_within_the_burst() {
    let mut failures = Vec::new();
    for (name, (at, units, log)) in [
        ("GcraVirtual", set_rate_behind_a_hold::<GcraVirtual>()),
        ("GcraContinuous", set_rate_behind_a_hold::<GcraContinuous>()),
        ("TokenBucket", set_rate_behind_a_hold::<TokenBucket>()),
        ("LeakyBucket", set_rate_behind_a_hold::<LeakyBucket>()),
    ] {
        // Both rates allow at most 11 units at one instant (burst 11, then 9).
        if units > 11 {
            failures.push(format!(
                "{name}: {units} units at {at} ns, the largest burst is 11:\n    {}",
                log.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `MultiLimiter` (x: GCRA, y: sliding window) and `set_rate` on x while a call waits for y:
/// never more than the burst of x at one instant (12 went, with a burst of 11 then 9, before the
/// fix).
#[test]
fn a_rate_change_while_waiting_for_another_resource_then_a_cancel_stays_within_the_burst() {
    let (clock, time) = Clock::mock();
    let fast = Rate::new(4, Duration::from_millis(1)).burst(11); // T = 250 µs
    let slow = Rate::new(1, Duration::from_millis(293)).burst(9);
    let window = Rate::new(2, Duration::from_millis(2));
    let api = MultiLimiter::new(Limits::new().rate("x", fast).window("y", window))
        .unwrap()
        .with_clock(clock);
    let first = api.acquire(&[("x", 5), ("y", 1)]).unwrap(); // at 0
    let second = api.reserve(&[("x", 4), ("y", 2)]).unwrap(); // waits for y: 2 ms
    assert_eq!(second.ready_at(), Some(tollgate::Nanos::from_millis(2)));
    api.set_rate("x", slow).unwrap();
    second.wait().unwrap();
    let went = time.now();
    let third = api.reserve(&[("x", 8)]).unwrap();
    let before = third.ready_at();
    first.cancel();
    third.wait().unwrap();
    assert!(
        time.now() > went,
        "x: the second call's 4 units and the third call's 8 went at {went:?}, burst 11 then 9 \
         (the third was ready at {before:?} before the first call, 5 units at 0, was cancelled)"
    );
}
