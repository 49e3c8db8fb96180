//! The accounting invariant, end to end: **no window of one period ever admits more than the
//! bound**, over random sequences of acquires (blocking, policing, bounded), reservations held
//! while others queue behind them (waiters present), settles below and above the estimate, early
//! and late, cancels, drops, `observe` and `set_rate`, for every algorithm of [`RateLimiter`] and
//! for [`MultiLimiter`] with both countings (GCRA and sliding window), on the mock clock.
//!
//! # What is counted
//!
//! Every call that went is a **usage** at the instant `g` it went (the instant the limiter let
//! it go: `ready_at` once reached; for a blocking acquire the mock clock's instant after it
//! returns), of the units the caller was allowed to use and kept:
//!
//! - its cost, while it is not settled (dropping a reservation keeps it);
//! - after settles at or below the figure in force (the estimate, or the last settled figure),
//!   the last figure (the call went at `g` and used that much of what it was allowed then; the
//!   rest came back for others to use);
//! - a cancel after it went is a settle to 0 (the library gives back what the charge still
//!   holds); a cancel while it still waits, or a reservation refused while it waited (a rate
//!   change, or a settle above the capacity of a waiting one), is no usage at all;
//! - a settle **above** the figure in force is **debt**: the excess is a usage at the settle
//!   instant `s` (a later settle lower again takes back the newest debt first). Debt is declared,
//!   not admitted, so it may itself exceed the bound; what it must never do is let a *later*
//!   admission exceed it. So every check is made when admissions happen, on what is known then,
//!   and only over windows that contain one of those new admissions.
//!
//! A settle on a reservation still waiting just replaces its cost (the library waits for the
//! new figure): it is counted with that cost when it goes.
//!
//! Why the usage of a settled call sits at `g` and not at the settle instant: the library counts
//! the actual units from the settle, which is stricter for later callers; but a late settle of a
//! call long gone re-charges units the call used long ago (the bucket has long refilled), so
//! several late settles at one instant would "use" more than the burst at that instant without
//! the limiter admitting anything. The calls used those units when they went.
//!
//! # The bounds
//!
//! - Bucket algorithms (GCRA in both forms, token bucket, leaky bucket), and a `MultiLimiter`
//!   GCRA resource, for `Rate::new(q, period).burst(b)`: over any closed interval of length `L`
//!   at most `b + floor(L / T)` units, `T` the emission interval (`period / q` rounded up to
//!   whole nanoseconds, `Pace::interval`).
//! - Sliding windows: at most `q` units in any half-open window `[t, t + period)` (a bare
//!   `SlidingWindow` takes no other burst, so it is given `Rate::new(min(q, b), period)`; a
//!   `MultiLimiter` window takes a burst up to `q`, which paces it besides).
//! - With `set_rate` between two rates: the looser of the two (largest burst, shortest interval;
//!   largest limit, shortest period).
//!
//! # Cases
//!
//! Each property runs `TOLLGATE_PROPTEST_CASES` cases when that variable is set; by default
//! 20,000 in a release build (120,000 over the six properties; the `RateLimiter` ones run every
//! case on all five algorithms) and a tenth of that in a debug build. Failures are not persisted
//! to a regressions file.
//!
//! The limiters under test are in `accounting_bound_limiters`, the books in
//! `accounting_bound_books`, one case's run in `accounting_bound_run`; the smallest cases the
//! `set_rate` properties found are in `accounting_bound_rate_changes`.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::algorithm::{
    Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{Clock, Counting, Limits, MockTime, MultiLimiter, Rate, RateLimiter};

use crate::accounting_bound_books::Bound;
use crate::accounting_bound_limiters::{Mode, Multi, Op, Single, Step, Subject};
use crate::accounting_bound_run::check_case;

/// Cases per property: `TOLLGATE_PROPTEST_CASES`, else `release` in a release build and a tenth
/// of it in a debug build.
fn cases(release: u32) -> u32 {
    if let Some(cases) = std::env::var("TOLLGATE_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.trim().parse().ok())
    {
        return cases;
    }
    if cfg!(debug_assertions) {
        release / 10
    } else {
        release
    }
}

fn config(release: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(release),
        // The only file this suite may write is itself: no regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![3 => 0u64..6, 2 => 0u64..17, 1 => 17u64..48],
        prop_oneof![4 => Just(0u64), 1 => 1u64..3, 1 => 0u64..2_000],
    )
        .prop_map(|(quarters, jitter)| Step { quarters, jitter })
}

fn costs() -> impl Strategy<Value = [u64; 2]> {
    [0u64..1_000, 0u64..1_000]
}

fn op(mode: Mode) -> BoxedStrategy<Op> {
    // With `set_rate`, what makes a rate change interesting: holds and reservations waiting for
    // them (or for another resource), and calls settled or cancelled while those wait.
    let set_rate = mode == Mode::SetRate;
    let (advance, observe) = if set_rate { (5, 4) } else { (5, 2) };
    let common = prop_oneof![
        2 => costs().prop_map(Op::Acquire),
        2 => costs().prop_map(Op::TryAcquire),
        1 => (costs(), step()).prop_map(|(c, s)| Op::TryAcquireFor(c, s)),
        5 => costs().prop_map(Op::Reserve),
        2 => any::<usize>().prop_map(Op::Wait),
        5 => (any::<usize>(), 0usize..2, any::<u64>()).prop_map(|(i, r, a)| Op::Settle(i, r, a)),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Drop),
        advance => step().prop_map(Op::Advance),
        observe => (
            0usize..2,
            prop_oneof![Just(0u64), any::<u64>()],
            proptest::option::of(step())
        )
            .prop_map(|(r, rem, reset)| Op::Observe(r, rem, reset)),
    ];
    if set_rate {
        prop_oneof![3 => common, 1 => any::<usize>().prop_map(Op::SetRate)].boxed()
    } else {
        common.boxed()
    }
}

fn ops(mode: Mode) -> impl Strategy<Value = Vec<Op>> {
    // Longer with `set_rate`: a rate change matters through what was reserved and held before it
    // and what is settled or cancelled after it.
    let len = if mode == Mode::SetRate { 150 } else { 60 };
    prop::collection::vec(op(mode), 1..len)
}

/// A rate with a period that is rarely a multiple of the quantity (so the interval rounds up),
/// and a burst independent of the quantity (below, equal or above).
fn rate() -> impl Strategy<Value = Rate> {
    (
        1u64..=10,
        1u64..=2_000,
        prop_oneof![Just(0u64), 1u64..1_000],
        1u64..=12,
    )
        .prop_map(|(quantity, millis, nanos, burst)| {
            Rate::new(quantity, Duration::from_nanos(millis * 1_000_000 + nanos)).burst(burst)
        })
}

// ---------------------------------------------------------------------------------------------
// The limiters under test, and the properties
// ---------------------------------------------------------------------------------------------

fn single<A: Algorithm>(
    name: &str,
    window: bool,
    rates: &[Rate],
    ops: &[Op],
    mode: Mode,
) -> Result<(), TestCaseError> {
    let bounds = [Bound::of(rates, window)];
    let scale = rates[0].pace().unwrap().interval();
    let first = rates[0];
    let make = move || -> (Box<dyn Subject>, MockTime) {
        let (clock, time) = Clock::mock();
        let limiter = RateLimiter::<A>::with_algorithm(first).with_clock(clock);
        (Box::new(Single { limiter, window }), time)
    };
    check_case(name, &make, ops, mode, &bounds, &[rates.to_vec()], scale)
}

fn every_algorithm(rates: &[Rate], ops: &[Op], mode: Mode) -> Result<(), TestCaseError> {
    single::<GcraVirtual>("RateLimiter<GcraVirtual>", false, rates, ops, mode)?;
    single::<GcraContinuous>("RateLimiter<GcraContinuous>", false, rates, ops, mode)?;
    single::<TokenBucket>("RateLimiter<TokenBucket>", false, rates, ops, mode)?;
    single::<LeakyBucket>("RateLimiter<LeakyBucket>", false, rates, ops, mode)?;
    // A bare window takes no burst: its limit, as the quantity.
    let windowed: Vec<Rate> = rates
        .iter()
        .map(|r| Rate::new(r.quantity().min(r.capacity()), r.period()))
        .collect();
    single::<SlidingWindow>("RateLimiter<SlidingWindow>", true, &windowed, ops, mode)
}

/// `x` and `y` counted as windows (`true`) or with GCRA; both windows use the limits' default
/// counting (`Counting::SlidingWindow`), the mixed ones `rate` and `window`. Each starts at the
/// first of its rates; `set_rate` switches between them.
fn multi(
    rates: [Vec<Rate>; 2],
    windows: [bool; 2],
    ops: &[Op],
    mode: Mode,
) -> Result<(), TestCaseError> {
    // A window takes a burst up to its quantity (above, it is refused at construction).
    let rates = [0, 1].map(|i| {
        rates[i]
            .iter()
            .map(|r| match windows[i] {
                true => r.burst(r.capacity().min(r.quantity())),
                false => *r,
            })
            .collect::<Vec<_>>()
    });
    // A `MultiLimiter` window paced by its burst (below its quantity, in every rate it takes)
    // also keeps the bucket bound: at most `burst` at once.
    let bounds = [0, 1].map(|i| match Bound::of(&rates[i], windows[i]) {
        Bound::Window { limit, period, .. }
            if rates[i].iter().all(|r| r.capacity() < r.quantity()) =>
        {
            let Bound::Bucket { burst, interval } = Bound::of(&rates[i], false) else {
                unreachable!()
            };
            Bound::Window {
                limit,
                period,
                pacing: Some((burst, interval)),
            }
        }
        bound => bound,
    });
    let scale = rates[0][0].pace().unwrap().interval();
    let (x, y) = (rates[0][0], rates[1][0]);
    let make = move || -> (Box<dyn Subject>, MockTime) {
        let (clock, time) = Clock::mock();
        let limits = match windows {
            [true, true] => Limits::new()
                .counting(Counting::SlidingWindow)
                .rate("x", x)
                .rate("y", y),
            [false, true] => Limits::new().rate("x", x).window("y", y),
            [true, false] => Limits::new().window("x", x).rate("y", y),
            [false, false] => Limits::new().rate("x", x).rate("y", y),
        };
        let limiter = MultiLimiter::new(limits).unwrap().with_clock(clock);
        (Box::new(Multi { limiter, windows }), time)
    };
    let name = format!(
        "MultiLimiter(x window: {}, y window: {})",
        windows[0], windows[1]
    );
    check_case(&name, &make, ops, mode, &bounds, &rates, scale)
}

proptest! {
    #![proptest_config(config(20_000))]

    /// Every algorithm of `RateLimiter`: settles at or below the estimate, cancels, drops,
    /// observe, waiters: the exact bound.
    #[test]
    fn rate_limiter_never_admits_more_than_the_bound(rate in rate(), ops in ops(Mode::WithinEstimate)) {
        every_algorithm(&[rate], &ops, Mode::WithinEstimate)?;
    }

    /// Settles above the estimate (debt, even above the burst): later admissions never exceed
    /// the bound counted with the debt declared before them.
    #[test]
    fn rate_limiter_debt_never_lets_later_admissions_exceed_the_bound(rate in rate(), ops in ops(Mode::Debt)) {
        every_algorithm(&[rate], &ops, Mode::Debt)?;
    }

    /// `set_rate` back and forth between two rates, with waiters: the looser of the two bounds.
    #[test]
    fn rate_limiter_with_set_rate_keeps_the_looser_bound(first in rate(), second in rate(), ops in ops(Mode::SetRate)) {
        every_algorithm(&[first, second], &ops, Mode::SetRate)?;
    }

    /// `MultiLimiter`, GCRA and sliding-window resources in every combination: each resource's
    /// exact bound.
    #[test]
    fn multi_limiter_never_admits_more_than_the_bound(
        x in rate(), y in rate(), windows in any::<[bool; 2]>(), ops in ops(Mode::WithinEstimate)
    ) {
        multi([vec![x], vec![y]], windows, &ops, Mode::WithinEstimate)?;
    }

    /// `MultiLimiter` with debt: later admissions never exceed each resource's bound counted with
    /// the debt declared before them.
    #[test]
    fn multi_limiter_debt_never_lets_later_admissions_exceed_the_bound(
        x in rate(), y in rate(), windows in any::<[bool; 2]>(), ops in ops(Mode::Debt)
    ) {
        multi([vec![x], vec![y]], windows, &ops, Mode::Debt)?;
    }

    /// `MultiLimiter::set_rate` on either resource, back and forth between two rates each, with
    /// waiters: each resource's looser bound.
    #[test]
    fn multi_limiter_with_set_rate_keeps_the_looser_bound(
        x in [rate(), rate()], y in [rate(), rate()], windows in any::<[bool; 2]>(), ops in ops(Mode::SetRate)
    ) {
        multi([x.to_vec(), y.to_vec()], windows, &ops, Mode::SetRate)?;
    }
}
