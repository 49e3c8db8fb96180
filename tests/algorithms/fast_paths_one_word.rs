//! The one-word fast paths decide as the core: the bucket algorithms' one-word form inside a
//! `RateLimiter` decides exactly as `RateLimiter::new` at the extremes too, everything
//! `available()` reports is admitted (and no more), a full bucket holds near the end of the
//! clock's time, holds, costs of 0 and invalid rates are answered alike on every path, and a
//! one-resource `MultiLimiter` decides as a `RateLimiter`.
//!
//! Nothing here sleeps: every limiter runs on a mock clock.

use proptest::prelude::*;
use std::time::Duration;

use tollgate::algorithm::{
    Algorithm, Decision, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{Clock, Limits, MultiLimiter, Nanos, Rate, RateLimiter, Reservation};

use crate::support::bucket_calls::{assert_bucket_limiters_agree, Call};

// ---------------------------------------------------------------------------------------------
// The four bucket limiters at the extremes
// ---------------------------------------------------------------------------------------------

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Rates at the edges: one per nanosecond, one per year, bursts of 1 and 2^40 (some invalid).
fn extreme_rate() -> impl Strategy<Value = Rate> {
    let quantity_period = prop_oneof![
        Just((1u64, Duration::from_nanos(1))),
        Just((1, YEAR)),
        Just((3, Duration::from_nanos(7))),
        Just((1_000_000_000, Duration::from_secs(1))),
        (1u64..50, 1u64..5_000).prop_map(|(q, ms)| (q, Duration::from_millis(ms))),
    ];
    let burst = prop_oneof![Just(1u64), Just(2), Just(1 << 40), 1u64..40];
    (quantity_period, burst)
        .prop_map(|((quantity, period), burst)| Rate::new(quantity, period).burst(burst))
}

fn extreme_cost() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(u64::MAX),
        Just(1 << 40),
        Just((1 << 40) + 1),
        Just(1 << 62),
        0u64..45,
    ]
}

fn extreme_gap() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(YEAR.as_nanos() as u64),
        Just(1 << 62),
        Just(u64::MAX / 2),
        Just(u64::MAX),
        0u64..400_000_000,
    ]
}

fn extreme_timeout() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_nanos(u64::MAX)),
        Just(YEAR * 100),
        (0u64..300_000_000).prop_map(Duration::from_nanos),
    ]
}

fn extreme_call() -> impl Strategy<Value = Call> {
    prop_oneof![
        2 => extreme_gap().prop_map(Call::Advance),
        4 => extreme_cost().prop_map(Call::TryAcquire),
        2 => (extreme_cost(), extreme_timeout()).prop_map(|(c, t)| Call::TryAcquireFor(c, t)),
        4 => extreme_cost().prop_map(Call::Reserve),
        1 => (0usize..8).prop_map(Call::Cancel),
        3 => (0usize..8, extreme_cost()).prop_map(|(i, actual)| Call::Settle(i, actual)),
        1 => (0usize..8).prop_map(Call::Wait),
        2 => extreme_rate().prop_map(Call::SetRate),
        2 => (extreme_cost(), prop::option::of(extreme_timeout()))
            .prop_map(|(remaining, reset)| Call::Observe(remaining, reset)),
    ]
}

proptest! {
    #![proptest_config(crate::support::proptest_config(4_000))]

    #[test]
    fn the_four_bucket_limiters_agree_at_the_extremes(
        // Invalid at construction too: see
        // `a_limiter_built_with_an_invalid_rate_decides_as_gcra_once_the_rate_is_fixed`.
        rate in extreme_rate(),
        calls in prop::collection::vec(extreme_call(), 1..30),
    ) {
        assert_bucket_limiters_agree(rate, &calls);
    }
}

/// A limiter built with an invalid rate, made valid by `set_rate`: it keeps its state in the
/// word from then on, as one built with the valid rate (it kept it under the lock, in the
/// algorithm's own representation, which saturates differently from GCRA's instant).
#[test]
fn a_limiter_built_with_an_invalid_rate_decides_as_gcra_once_the_rate_is_fixed() {
    let invalid = Rate::new(1, Duration::from_millis(5)).burst(1 << 40);
    assert!(invalid.validate().is_err());
    assert_bucket_limiters_agree(
        invalid,
        &[
            Call::SetRate(Rate::new(1, Duration::from_nanos(1))),
            Call::Reserve(0),
            Call::Advance(1),
            Call::Settle(0, u64::MAX),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// What a limiter says is available is what it admits
// ---------------------------------------------------------------------------------------------

/// After each of `calls` (no server holds), with nobody waiting, whichever path decides
/// (lock-free on the word, the published next free instant, or the core): everything
/// `available()` says goes at once, and then not one unit more. Odd steps probe with a
/// reservation cancelled afterwards (nothing changes); even steps take it all by `try_acquire_n`.
fn assert_available_is_admitted<A: Algorithm>(rate: Rate, calls: &[Call]) {
    let (clock, time) = Clock::mock_stepped();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    let mut reservations: Vec<Option<Reservation>> = Vec::new();
    for (step, call) in calls.iter().enumerate() {
        match call {
            Call::Advance(gap) => time.advance(Duration::from_nanos(*gap)),
            Call::TryAcquire(cost) => drop(limiter.try_acquire_n(*cost)),
            Call::Reserve(cost) => reservations.extend(limiter.reserve(*cost).ok().map(Some)),
            Call::Cancel(index) => {
                let count = reservations.len().max(1);
                if let Some(reservation) =
                    reservations.get_mut(index % count).and_then(Option::take)
                {
                    reservation.cancel();
                }
            }
            Call::Settle(index, actual) => {
                let count = reservations.len().max(1);
                if let Some(reservation) = reservations.get(index % count).and_then(Option::as_ref)
                {
                    let _ = reservation.settle(*actual);
                }
            }
            Call::SetRate(rate) => drop(limiter.set_rate(*rate)),
            Call::Observe(remaining, _) => drop(limiter.observe(*remaining, None)),
            Call::TryAcquireFor(..) | Call::Wait(_) => {}
        }
        let stats = limiter.stats();
        // The last 2^62 ns of the clock (any burst's span) are left out: a charge whose queue
        // reaches the end of time exhausts it for good (see
        // `every_algorithm_holds_its_burst_within_a_burst_of_the_end_of_time`), and cancelling
        // it cannot tell its part of the saturated queue from others', so the probe's cancel
        // gives nothing back there.
        let near_the_end = time.now() >= Nanos::new(u64::MAX - (1 << 62));
        if stats.waiting > 0 || limiter.rate().validate().is_err() || near_the_end {
            continue;
        }
        let available = stats.available;
        let context = format!("step {step}, after {call:?}, {available} available");
        if available > 0 && step % 2 == 1 {
            let probe = limiter.reserve(available).expect(&context);
            assert_eq!(probe.ready_at(), time.now(), "{context}: the probe waits");
            assert!(
                limiter.try_acquire().is_err(),
                "{context}: one more admitted"
            );
            probe.cancel();
            assert_eq!(
                limiter.available(),
                available,
                "{context}: the probe moved it"
            );
        } else if available > 0 {
            assert_eq!(limiter.try_acquire_n(available), Ok(()), "{context}");
            assert!(
                limiter.try_acquire().is_err(),
                "{context}: one more admitted"
            );
        } else {
            assert!(limiter.try_acquire().is_err(), "{context}: admitted");
        }
    }
}

proptest! {
    #![proptest_config(crate::support::proptest_config(1_500))]

    #[test]
    fn what_is_available_is_admitted_and_no_more(
        rate in extreme_rate().prop_filter("valid at construction", |rate| rate.validate().is_ok()),
        calls in prop::collection::vec(extreme_call(), 1..25),
    ) {
        assert_available_is_admitted::<GcraVirtual>(rate, &calls);
        assert_available_is_admitted::<TokenBucket>(rate, &calls);
        assert_available_is_admitted::<LeakyBucket>(rate, &calls);
        assert_available_is_admitted::<GcraContinuous>(rate, &calls);
        assert_available_is_admitted::<SlidingWindow>(rate, &calls);
    }
}

/// GCRA's theoretical arrival time saturates at `Nanos::MAX`: within one burst's span of the
/// end of the clock's time, a charge used to no longer move it, and the bucket admitted without
/// limit. A queue that reaches the end of time is now exhausted.
/// (Only a mock clock gets there: the real clock counts from the process's start.)
#[test]
fn a_full_bucket_admits_nothing_more_near_the_end_of_time() {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::new(1, Duration::from_nanos(3))).with_clock(clock);
    time.advance_to(Nanos::new(u64::MAX - 1));
    assert_eq!(limiter.try_acquire(), Ok(()));
    assert!(
        limiter.try_acquire().is_err(),
        "a second unit in the same instant, burst 1"
    );
}

/// Units admitted by 1,000 `try_acquire` at `at` on a `RateLimiter<A>` (the lock-free path for
/// the one-word algorithms), on a `MultiLimiter` counted by `A`'s family, and on the bare
/// algorithm; all three must agree.
fn admitted_at<A: Algorithm>(rate: Rate, at: Nanos) -> u64 {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    time.advance_to(at);
    let by_limiter = (0..1_000).filter(|_| limiter.try_acquire().is_ok()).count() as u64;
    let mut algorithm = A::new(&rate).unwrap();
    let by_algorithm = (0..1_000)
        .filter(|_| algorithm.try_take(at, 1) == Decision::Admitted)
        .count() as u64;
    assert_eq!(
        by_limiter, by_algorithm,
        "{rate} at {at:?}: limiter and algorithm"
    );
    assert_eq!(
        algorithm.available(at),
        0,
        "{rate} at {at:?}: available after the burst"
    );
    by_limiter
}

#[test]
fn every_algorithm_holds_its_burst_within_a_burst_of_the_end_of_time() {
    let cases = [
        // 1/s, burst 1, half a second before the end: one, not 1,000.
        (
            Rate::per_second(1).burst(1),
            Nanos::MAX.saturating_sub(Nanos::from_millis(500)),
            1,
        ),
        // Burst 10, five seconds before the end: the queue reaches the end after 5 units.
        (
            Rate::per_second(1).burst(10),
            Nanos::MAX.saturating_sub(Nanos::from_secs(5)),
            5,
        ),
        // One nanosecond before the end.
        (Rate::per_second(1).burst(3), Nanos::new(u64::MAX - 1), 1),
        // Far enough from the end: the whole burst, and no more.
        (
            Rate::per_second(1).burst(10),
            Nanos::MAX.saturating_sub(Nanos::from_secs(60)),
            10,
        ),
    ];
    for (rate, at, most) in cases {
        let gcra = admitted_at::<GcraVirtual>(rate, at);
        assert_eq!(gcra, most, "{rate} at {at:?}: GCRA");
        assert_eq!(
            admitted_at::<GcraContinuous>(rate, at),
            gcra,
            "{rate}: GcraContinuous"
        );
        assert_eq!(
            admitted_at::<TokenBucket>(rate, at),
            gcra,
            "{rate}: TokenBucket"
        );
        assert_eq!(
            admitted_at::<LeakyBucket>(rate, at),
            gcra,
            "{rate}: LeakyBucket"
        );
        // A window counts its quantity (a burst other than that is no window's rate).
        let window_rate = Rate::new(rate.quantity(), rate.period());
        let window = admitted_at::<SlidingWindow>(window_rate, at);
        assert_eq!(window, 1, "{rate}: SlidingWindow (one per window)");

        let (clock, time) = Clock::mock();
        let multi = MultiLimiter::new(Limits::new().rate("x", rate))
            .unwrap()
            .with_clock(clock);
        time.advance_to(at);
        let permits: Vec<_> = (0..1_000)
            .filter_map(|_| multi.try_acquire(&[("x", 1)]).ok())
            .collect();
        assert_eq!(permits.len() as u64, gcra, "{rate} at {at:?}: MultiLimiter");
    }
}

// ---------------------------------------------------------------------------------------------
// A one-resource MultiLimiter decides as a RateLimiter
// ---------------------------------------------------------------------------------------------

/// An answer of either limiter, reduced to what both report.
fn outcome<E: std::fmt::Debug>(result: Result<(), E>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => {
            let mut text = format!("{err:?}");
            // The setting a multi-resource limiter's hold names is its own to report.
            if let Some(start) = text.find(", max: ") {
                let end = text[start..]
                    .find(" }")
                    .map_or(text.len(), |end| start + end);
                text.replace_range(start..end, "");
            }
            // The variant, and the wait or the figures it carries.
            text.replace("Some(", "")
                .replace([')', '"'], "")
                .replace("resource: x, ", "")
        }
    }
}

/// Runs `calls` on a `RateLimiter` and on a `MultiLimiter` whose one resource has the same rate,
/// one entry per call: the answer, every live reservation's instant, the units in use.
fn multi_and_single_answers(rate: Rate, calls: &[Call]) -> (Vec<String>, Vec<String>) {
    let (clock, single_time) = Clock::mock();
    let single = RateLimiter::new(rate).with_clock(clock);
    let (clock, multi_time) = Clock::mock();
    let multi = MultiLimiter::new(Limits::new().rate("x", rate))
        .unwrap()
        .with_clock(clock);
    let mut reservations: Vec<Option<Reservation>> = Vec::new();
    let mut permits: Vec<Option<tollgate::Permit>> = Vec::new();
    let mut single_answers = Vec::new();
    let mut multi_answers = Vec::new();
    for call in calls {
        let (a, b) = match call {
            Call::Advance(gap) => {
                single_time.advance(Duration::from_nanos(*gap));
                multi_time.advance(Duration::from_nanos(*gap));
                (String::new(), String::new())
            }
            Call::TryAcquire(cost) => (
                outcome(single.try_acquire_n(*cost)),
                outcome(multi.try_acquire(&[("x", *cost)]).map(drop)),
            ),
            Call::TryAcquireFor(cost, wait) => (
                outcome(single.try_acquire_for(*cost, *wait)),
                outcome(multi.try_acquire_for(&[("x", *cost)], *wait).map(drop)),
            ),
            Call::Reserve(cost) => {
                let a = single.reserve(*cost);
                let b = multi.reserve(&[("x", *cost)]);
                let answers = (outcome(a.as_ref().map(drop)), outcome(b.as_ref().map(drop)));
                reservations.push(a.ok());
                permits.push(b.ok());
                answers
            }
            Call::Cancel(index) => {
                let index = index % reservations.len().max(1);
                if let Some(r) = reservations.get_mut(index).and_then(Option::take) {
                    r.cancel();
                }
                if let Some(p) = permits.get_mut(index).and_then(Option::take) {
                    p.cancel();
                }
                (String::new(), String::new())
            }
            Call::Settle(index, actual) => {
                let index = index % reservations.len().max(1);
                (
                    reservations
                        .get(index)
                        .and_then(Option::as_ref)
                        .map_or(String::new(), |r| outcome(r.settle(*actual))),
                    permits
                        .get(index)
                        .and_then(Option::as_ref)
                        .map_or(String::new(), |p| outcome(p.settle("x", *actual))),
                )
            }
            Call::Wait(index) => {
                let index = index % reservations.len().max(1);
                (
                    reservations
                        .get(index)
                        .and_then(Option::as_ref)
                        .map_or(String::new(), |r| outcome(r.wait())),
                    permits
                        .get(index)
                        .and_then(Option::as_ref)
                        .map_or(String::new(), |p| outcome(p.wait())),
                )
            }
            Call::SetRate(rate) => (
                outcome(single.set_rate(*rate)),
                outcome(multi.set_rate("x", *rate).map_err(|e| match e {
                    tollgate::LimitError::InvalidRate { error, .. } => error,
                    other => panic!("{other:?}"),
                })),
            ),
            Call::Observe(remaining, reset) => (
                outcome(
                    single
                        .observe(*remaining, *reset)
                        .map_err(|_| "invalid rate"),
                ),
                outcome(
                    multi
                        .observe("x", *remaining, *reset)
                        .map_err(|_| "invalid rate"),
                ),
            ),
        };
        let planned_single: Vec<_> = reservations
            .iter()
            .flatten()
            .map(Reservation::ready_at)
            .collect();
        let planned_multi: Vec<_> = permits
            .iter()
            .flatten()
            .map(|p| p.ready_at().unwrap_or(Nanos::ZERO))
            .collect();
        // The decisions and the instants planned, not the figures: a `MultiLimiter`'s usage
        // tells what calls that went use from what waiters reserved (a server's hold is neither),
        // where a `RateLimiter`'s `in_use` is its algorithm's backlog.
        single_answers.push(format!(
            "{call:?} -> {a} now={:?} planned={planned_single:?}",
            single_time.now(),
        ));
        multi_answers.push(format!(
            "{call:?} -> {b} now={:?} planned={planned_multi:?}",
            multi_time.now(),
        ));
    }
    (single_answers, multi_answers)
}

proptest! {
    #![proptest_config(crate::support::proptest_config(2_000))]

    #[test]
    fn a_one_resource_multi_limiter_decides_as_a_rate_limiter(
        rate in extreme_rate().prop_filter("valid at construction", |rate| rate.validate().is_ok()),
        // Short of the end of the clock's time, and no acquires of nothing: a permit of cost 0
        // is still a caller in the FIFO line (and nothing goes at `Nanos::MAX`), where a
        // `RateLimiter` admits a cost of 0 at once.
        calls in prop::collection::vec(extreme_call().prop_map(|call| match call {
            Call::Advance(gap) => Call::Advance(gap.min(1 << 60)),
            Call::TryAcquire(0) => Call::TryAcquire(1),
            Call::TryAcquireFor(0, wait) => Call::TryAcquireFor(1, wait),
            call => call,
        }), 1..25),
    ) {
        let (single, multi) = multi_and_single_answers(rate, &calls);
        for (step, (a, b)) in single.iter().zip(&multi).enumerate() {
            prop_assert_eq!(a, b, "step {}", step);
        }
    }
}
/// What a limiter running `A` answers to a cost of 0 while a server's hold is in force: on the
/// core a cost of 0 is not held (it takes nothing); the lock-free path must answer alike.
fn zero_cost_under_a_hold<A: Algorithm>() -> Vec<String> {
    let (clock, _time) = Clock::mock_stepped();
    let limiter = RateLimiter::<A>::with_algorithm(Rate::per_second(10)).with_clock(clock);
    limiter.observe(0, Some(Duration::from_secs(5))).unwrap();
    vec![
        format!("{:?}", limiter.try_acquire_n(0)),
        format!("{:?}", limiter.try_acquire_for(0, Duration::from_secs(1))),
        format!("{:?}", limiter.reserve(0).map(|r| r.ready_at())),
        format!("{:?}", limiter.try_acquire_n(1)),
    ]
}

#[test]
fn a_cost_of_zero_is_not_held_whichever_the_algorithm() {
    let expected = ["Ok(())", "Ok(())", "Ok(0ns)", "Err(NotInTime { wait: 5s })"];
    let (clock, _time) = Clock::mock_stepped();
    let multi = MultiLimiter::new(Limits::new().rate("x", Rate::per_second(10)))
        .unwrap()
        .with_clock(clock);
    multi.observe("x", 0, Some(Duration::from_secs(5))).unwrap();
    assert!(multi.try_acquire(&[("x", 0)]).is_ok());
    assert_eq!(zero_cost_under_a_hold::<SlidingWindow>(), expected);
    assert_eq!(zero_cost_under_a_hold::<GcraVirtual>(), expected);
    assert_eq!(zero_cost_under_a_hold::<GcraContinuous>(), expected);
    assert_eq!(zero_cost_under_a_hold::<TokenBucket>(), expected);
    assert_eq!(zero_cost_under_a_hold::<LeakyBucket>(), expected);
}

/// What a limiter running `A` answers while a server's hold is in force, on each of its paths
/// (unit and weighted policing, a timeout, a reservation).
fn answers_under_a_hold<A: Algorithm>(hold: Duration) -> Vec<String> {
    let (clock, _time) = Clock::mock_stepped();
    let limiter = RateLimiter::<A>::with_algorithm(Rate::per_second(10)).with_clock(clock);
    limiter.observe(0, Some(hold)).unwrap();
    vec![
        format!("{:?}", limiter.try_acquire()),
        format!("{:?}", limiter.try_acquire_n(2)),
        format!("{:?}", limiter.try_acquire_for(1, Duration::from_secs(1))),
        format!("{:?}", limiter.reserve(1).map(|r| r.ready_at())),
    ]
}

#[test]
fn a_hold_is_reported_alike_whichever_the_algorithm() {
    let too_long = "Err(HeldTooLong { wait: 500s })";
    let short = "Err(NotInTime { wait: 5s })";
    for (hold, expected) in [
        (500, [too_long, too_long, too_long, too_long]),
        (5, [short, short, short, "Ok(5s)"]),
    ] {
        let hold = Duration::from_secs(hold);
        assert_eq!(answers_under_a_hold::<SlidingWindow>(hold), expected);
        assert_eq!(answers_under_a_hold::<GcraVirtual>(hold), expected);
        assert_eq!(answers_under_a_hold::<GcraContinuous>(hold), expected);
        assert_eq!(answers_under_a_hold::<TokenBucket>(hold), expected);
        assert_eq!(answers_under_a_hold::<LeakyBucket>(hold), expected);
    }
}

/// What a limiter running `A` answers to a cost of 0 while a reservation waits.
fn zero_cost_behind_a_waiter<A: Algorithm>() -> String {
    let (clock, _time) = Clock::mock_stepped();
    let limiter =
        RateLimiter::<A>::with_algorithm(Rate::new(2, Duration::from_secs(1))).with_clock(clock);
    let _first = limiter.reserve(2).unwrap();
    let waiting = limiter.reserve(2).unwrap();
    assert_eq!(waiting.ready_at(), Nanos::from_secs(1));
    format!("{:?}", limiter.try_acquire_n(0))
}

/// A cost of 0 takes nothing: every limiter admits it at once even while someone waits (the
/// sliding window's limiter, on the core's path, used to put it in the FIFO line and refuse it).
#[test]
fn a_cost_of_zero_is_answered_alike_behind_a_waiter() {
    let expected = zero_cost_behind_a_waiter::<GcraVirtual>();
    assert_eq!(expected, "Ok(())");
    assert_eq!(zero_cost_behind_a_waiter::<TokenBucket>(), expected);
    assert_eq!(zero_cost_behind_a_waiter::<SlidingWindow>(), expected);
}

/// A limiter built with an invalid rate reports it on every path (none decides on the word's
/// placeholder pace), and after `set_rate` to a valid rate admits as a new limiter would.
fn invalid_then_valid<A: Algorithm>() -> Vec<String> {
    let (clock, _time) = Clock::mock_stepped();
    let limiter = RateLimiter::<A>::with_algorithm(Rate::per_second(0)).with_clock(clock);
    let mut answers = Vec::new();
    let mut ask = |limiter: &RateLimiter<A>| {
        for cost in [0, 1, 2] {
            answers.push(format!("{:?}", limiter.try_acquire_n(cost)));
        }
        answers.push(format!("{:?}", limiter.reserve(1).map(|r| r.ready_at())));
        answers.push(format!("{}", limiter.available()));
    };
    ask(&limiter);
    assert!(limiter.set_rate(Rate::per_second(0)).is_err());
    ask(&limiter);
    limiter.set_rate(Rate::per_second(2)).unwrap();
    ask(&limiter);
    answers
}

#[test]
fn an_invalid_rate_is_reported_on_every_path_until_a_valid_one_is_set() {
    let invalid = "Err(InvalidRate(ZeroQuantity))";
    let before = [invalid, invalid, invalid, invalid, "0"];
    let after = [
        "Ok(())",
        "Ok(())",
        "Err(NotInTime { wait: 500ms })",
        "Ok(0ns)",
        "0",
    ];
    let expected: Vec<&str> = [before, before, after].concat();
    assert_eq!(invalid_then_valid::<GcraVirtual>(), expected);
    assert_eq!(invalid_then_valid::<TokenBucket>(), expected);
    assert_eq!(invalid_then_valid::<LeakyBucket>(), expected);
    assert_eq!(invalid_then_valid::<GcraContinuous>(), expected);
}
