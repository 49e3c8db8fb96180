//! Adversarial checks of the performance work: the bucket algorithms' one-word form inside a
//! `RateLimiter` (they must decide exactly as `RateLimiter::new` at the extremes too), the
//! receipts' places of reservations that went at once, the sliding window's searches and caches.
//!
//! Nothing here sleeps: every limiter runs on a mock clock, except a few real-thread races.

use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tollgate::algorithm::{
    Algorithm, Decision, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{
    AcquireError, CancelHandle, Clock, Limits, ModelLimiter, MultiLimiter, Nanos, Rate,
    RateLimiter, Reservation, Resource, Runner, REQUESTS, TOKENS,
};

use crate::support::bucket_calls::{assert_bucket_limiters_agree, Call};
use crate::support::sliding_window_log::{window_rate, GridLog, WINDOW_GRIDS};

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
// The sliding window against a naive log on the same grid
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum WindowOp {
    TryTake(u64),
    Reserve(u64),
    ChargeAhead(u64, u64),
    Record(u64),
    RefundCharge(usize, u64),
    Refund(u64),
    SetRate(usize),
    Decide(u64),
    /// A request at an instant earlier than the latest seen.
    Stale(u64, u64),
}

fn window_op() -> impl Strategy<Value = WindowOp> {
    let cost = || prop_oneof![1 => Just(0u64), 8 => 1u64..8, 1 => 8u64..25];
    prop_oneof![
        5 => cost().prop_map(WindowOp::TryTake),
        2 => cost().prop_map(WindowOp::Reserve),
        2 => (cost(), 0u64..3_000_000_000).prop_map(|(c, ahead)| WindowOp::ChargeAhead(c, ahead)),
        1 => (cost(), prop_oneof![Just(u64::MAX), Just(u64::MAX / 2), Just(1u64 << 62)])
            .prop_map(|(c, ahead)| WindowOp::ChargeAhead(c, ahead)),
        1 => cost().prop_map(WindowOp::Record),
        2 => (0usize..16, cost()).prop_map(|(i, c)| WindowOp::RefundCharge(i, c)),
        1 => cost().prop_map(WindowOp::Refund),
        1 => (0usize..WINDOW_GRIDS.len()).prop_map(WindowOp::SetRate),
        2 => cost().prop_map(WindowOp::Decide),
        1 => (0u64..2_000_000_000, cost()).prop_map(|(back, c)| WindowOp::Stale(back, c)),
    ]
}

/// Gaps on and off every grid, and jumps to the last nanoseconds of the clock.
fn window_gap() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => Just(0u64),
        3 => 0u64..5_000,
        3 => (0u64..130).prop_map(|steps| steps * 500_000),
        3 => 0u64..3_000_000_000,
        1 => (0u64..4).prop_map(|k| k * 50_000_000 + 3),
        1 => Just(u64::MAX - 70_000_000_000),
        1 => Just(u64::MAX / 3),
    ]
}

/// Runs `steps` on a `SlidingWindow` and on the naive [`GridLog`], asserting every answer and
/// what is in use and available after each step.
fn assert_window_matches_the_grid_log(first: usize, steps: &[(u64, WindowOp)]) {
    let (rate, _) = window_rate(first);
    let mut window = SlidingWindow::new(&rate).unwrap();
    let mut reference = GridLog::new(first);
    let mut now = Nanos::ZERO;
    let mut marks: Vec<(Nanos, u64)> = Vec::new();
    for (step, (gap, op)) in steps.iter().enumerate() {
        now = now.saturating_add(Nanos::new(*gap));
        let context = format!("step {step}: {op:?} at {now:?}");
        match *op {
            WindowOp::TryTake(cost) => {
                assert_eq!(
                    window.try_take(now, cost),
                    reference.try_take(now, cost),
                    "{context}"
                );
            }
            WindowOp::Reserve(cost) => {
                let expected = match reference.decide(now, cost) {
                    Decision::Admitted if cost == 0 => Ok(now.max(reference.latest)),
                    Decision::Admitted | Decision::NotBefore(_) => {
                        let at = reference.conforms_at(now, cost);
                        reference.charge_at(now, now, cost);
                        Ok(at)
                    }
                    never => Err(never),
                };
                let got = window.reserve(now, cost);
                if cost == 0 {
                    assert!(got.is_ok(), "{context}");
                } else {
                    assert_eq!(got, expected, "{context}");
                }
            }
            WindowOp::ChargeAhead(cost, ahead) if cost > 0 => {
                let at = now.max(reference.latest).saturating_add(Nanos::new(ahead));
                let mark = reference.charge_at(now, at, cost);
                assert_eq!(window.charge_at(now, at, cost), mark, "{context}");
                marks.push((mark, cost));
            }
            WindowOp::Record(cost) if cost > 0 => {
                let mark = reference.record(now, cost);
                assert_eq!(window.record(now, cost), mark, "{context}");
                marks.push((mark, cost));
            }
            WindowOp::RefundCharge(index, cost) if !marks.is_empty() => {
                let (mark, charged) = marks[index % marks.len()];
                let cost = cost.min(charged);
                let units = reference.refund_charge(now, mark, cost);
                assert_eq!(
                    window.refund_charge(now, mark, cost).units,
                    units,
                    "{context}"
                );
            }
            WindowOp::Refund(cost) => {
                reference.refund(now, cost);
                window.refund(now, cost);
            }
            WindowOp::SetRate(index) => {
                reference.set_rate(now, index);
                window.set_rate(now, &window_rate(index).0).unwrap();
            }
            WindowOp::Decide(cost) => {
                assert_eq!(
                    window.decide(now, cost),
                    reference.decide(now, cost),
                    "{context}"
                );
            }
            WindowOp::Stale(back, cost) => {
                let stale = now.saturating_sub(Nanos::new(back));
                assert_eq!(
                    window.try_take(stale, cost),
                    reference.try_take(stale, cost),
                    "{context}"
                );
            }
            _ => {}
        }
        assert_eq!(window.in_use(now), reference.used(now), "{context}");
        assert_eq!(
            window.available(now),
            reference.limit.saturating_sub(reference.used(now)),
            "{context}"
        );
    }
}

proptest! {
    #![proptest_config(crate::support::proptest_config(3_000))]

    #[test]
    fn the_sliding_window_decides_as_a_naive_log_on_its_grid(
        first in 0usize..WINDOW_GRIDS.len(),
        steps in prop::collection::vec((window_gap(), window_op()), 1..60),
    ) {
        assert_window_matches_the_grid_log(first, &steps);
    }
}

// ---------------------------------------------------------------------------------------------
// Receipts kept in places (reservations that went at once without a concurrency slot)
// ---------------------------------------------------------------------------------------------

/// A limiter on a frozen mock clock whose units never come back during a test: every charge
/// kept is visible in `in_use`, exactly.
fn frozen_limiter(burst: u64) -> RateLimiter {
    let (clock, _time) = Clock::mock();
    RateLimiter::new(Rate::per_second(1_000).burst(burst)).with_clock(clock)
}

/// More than 32 live reservations (some in places, the rest by id), their cancel handles kept
/// after the reservations are dropped and their places handed out again: the stale handles
/// cancel nothing, the new reservations settle and cancel exactly.
#[test]
fn stale_cancel_handles_cancel_nothing_once_their_places_are_reused() {
    let limiter = frozen_limiter(1_000);
    let old: Vec<Reservation> = (0..40).map(|_| limiter.reserve(1).unwrap()).collect();
    let stale: Vec<_> = old.iter().map(Reservation::cancel_handle).collect();
    drop(old);
    assert_eq!(limiter.available(), 960); // the dropped keep their charges
    let new: Vec<Reservation> = (0..40).map(|_| limiter.reserve(2).unwrap()).collect();
    assert_eq!(limiter.available(), 880);
    for handle in &stale {
        handle.cancel();
    }
    assert_eq!(
        limiter.available(),
        880,
        "a stale handle cancelled someone else"
    );
    for reservation in &new {
        reservation.settle(3).unwrap();
    }
    assert_eq!(limiter.available(), 840);
    let handles: Vec<_> = new.iter().map(Reservation::cancel_handle).collect();
    for handle in &handles[..20] {
        handle.cancel();
    }
    assert_eq!(limiter.available(), 900);
    for (index, reservation) in new.iter().enumerate() {
        let settled = reservation.settle(1);
        if index < 20 {
            assert_eq!(settled, Err(AcquireError::Cancelled), "settle after cancel");
        } else {
            assert_eq!(settled, Ok(()));
        }
    }
    assert_eq!(limiter.available(), 940);
    drop(new);
    for handle in handles.iter().chain(&stale) {
        handle.cancel(); // cancels nothing: every reservation is gone
    }
    assert_eq!(limiter.available(), 940);
    assert_eq!(limiter.stats().in_use, 60);
}

/// What one thread of [`reservations_dropped_settled_and_cancelled_on_many_threads_keep_exact_counts`]
/// does with its `index`th reservation; returns the units it keeps.
fn churn_one(limiter: &RateLimiter, index: u64, keep_alive: &mut Vec<Reservation>) -> u64 {
    let cost = 1 + index % 5;
    let reservation = limiter.reserve(cost).unwrap();
    match index % 6 {
        0 => cost, // dropped: keeps its charge
        1 => {
            reservation.cancel();
            0
        }
        2 => {
            reservation.settle(cost + 2).unwrap();
            cost + 2
        }
        3 => {
            reservation.settle(7).unwrap();
            reservation.cancel();
            0
        }
        4 => {
            let handle = reservation.cancel_handle();
            drop(reservation);
            handle.cancel(); // after the drop: its place may already serve someone else
            cost
        }
        _ => {
            keep_alive.push(reservation);
            cost
        }
    }
}

/// Threads reserve, settle, cancel and drop (dropping marks a place without the lock) while
/// another switches the rate back and forth: on a frozen clock every unit kept is in use at
/// the end, no more, no less.
#[test]
fn reservations_dropped_settled_and_cancelled_on_many_threads_keep_exact_counts() {
    let burst = 10_000_000;
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(1_000).burst(burst)).with_clock(clock);
    let stop = AtomicBool::new(false);
    let kept = std::thread::scope(|scope| {
        scope.spawn(|| {
            let rates = [
                Rate::per_second(1_000).burst(burst),
                Rate::per_second(250).burst(burst),
            ];
            let mut switches = 0;
            while !stop.load(Ordering::Relaxed) || switches < 10 {
                limiter.set_rate(rates[switches % 2]).unwrap();
                switches += 1;
                std::thread::yield_now();
            }
            limiter.set_rate(rates[0]).unwrap();
        });
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let limiter = &limiter;
                scope.spawn(move || {
                    let mut alive = Vec::new();
                    let kept: u64 = (0..3_000)
                        .map(|i| churn_one(limiter, i * 4 + worker, &mut alive))
                        .sum();
                    (kept, alive)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        results
    });
    let total: u64 = kept.iter().map(|(units, _)| units).sum();
    assert_eq!(limiter.stats().in_use, total);
    assert_eq!(limiter.available(), burst - total);
    // The reservations still alive settle and cancel exactly after all that.
    let alive: Vec<&Reservation> = kept.iter().flat_map(|(_, alive)| alive).collect();
    let held: u64 = alive.iter().map(|r| r.cost()).sum();
    for reservation in &alive {
        reservation.settle(0).unwrap();
    }
    assert_eq!(limiter.stats().in_use, total - held);
}

/// Permits on a `MultiLimiter` through the places: more than 32 alive, stale cancel handles,
/// a panic unwinding through permits, usage exact throughout.
#[test]
fn multi_limiter_permits_keep_exact_usage_through_places_and_panics() {
    let (clock, _time) = Clock::mock();
    let limits = Limits::new().rate("tokens", Rate::per_second(1_000).burst(100_000));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let used = |api: &MultiLimiter| api.usage()[0].1.charged();
    let first: Vec<_> = (0..50)
        .map(|_| api.try_acquire(&[("tokens", 10)]).unwrap())
        .collect();
    let stale: Vec<_> = first.iter().map(|p| p.cancel_handle()).collect();
    drop(first);
    let second: Vec<_> = (0..50)
        .map(|_| api.try_acquire(&[("tokens", 20)]).unwrap())
        .collect();
    assert_eq!(used(&api), 1_500);
    stale.iter().for_each(CancelHandle::cancel);
    assert_eq!(used(&api), 1_500, "a stale handle cancelled a newer permit");
    for permit in &second[..25] {
        permit.settle("tokens", 4).unwrap();
    }
    assert_eq!(used(&api), 500 + 25 * 4 + 25 * 20);
    // A thread panics while holding permits: unwinding drops them, their charges stay.
    let panicked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _held: Vec<_> = (0..40)
                    .map(|_| api.try_acquire(&[("tokens", 1)]).unwrap())
                    .collect();
                panic!("deliberate panic while holding permits");
            })
            .join()
    });
    assert!(panicked.is_err());
    assert_eq!(used(&api), 1_100 + 40);
    for permit in second {
        permit.cancel();
    }
    assert_eq!(used(&api), 540);
    assert_eq!(api.active(), 0);
}

/// A concurrency-limited `MultiLimiter` (permits hold slots: no places) mixed with a panic: the
/// slots come back, and another caller gets one at once.
#[test]
fn a_panic_while_holding_slots_frees_them() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(1_000_000).max_parallel(3))
        .unwrap()
        .with_clock(clock);
    let panicked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _held: Vec<_> = (0..3).map(|_| api.try_acquire(&[]).unwrap()).collect();
                assert_eq!(api.active(), 3);
                panic!("deliberate panic while holding slots");
            })
            .join()
    });
    assert!(panicked.is_err());
    assert_eq!(api.active(), 0);
    let again: Vec<_> = (0..3).map(|_| api.try_acquire(&[]).unwrap()).collect();
    assert_eq!(api.active(), 3);
    drop(again);
}

/// Idle models made from the default are forgotten, also when their permits were dropped (their
/// places marked, not yet taken back); a model whose permit is alive, or whose units have not
/// come back, is kept, and its permit still settles on the limiter the model maps to.
#[test]
fn model_limiter_forgets_only_idle_models_with_dropped_permits() {
    let (clock, time) = Clock::mock();
    let models = ModelLimiter::builder()
        .default(Limits::new().rate("tokens", Rate::per_second(1_000)))
        .with_clock(clock)
        .build()
        .unwrap();
    let alive = models.try_acquire("alive", &[("tokens", 5)]).unwrap();
    drop(models.try_acquire("owing", &[("tokens", 900)]).unwrap());
    for model in 0..200 {
        drop(
            models
                .try_acquire(&format!("idle-{model}"), &[("tokens", 1)])
                .unwrap(),
        );
        time.advance(Duration::from_millis(1)); // model's one unit comes back by the next
    }
    let stats = models.stats();
    assert!(
        stats.contains_key("alive"),
        "a model with a live permit was forgotten"
    );
    assert!(
        stats.len() < 150,
        "idle models were not forgotten: {}",
        stats.len()
    );
    alive.settle("tokens", 50).unwrap();
    let limiter = models.limiter("alive").unwrap();
    assert_eq!(
        limiter.usage()[0].1.charged(),
        50,
        "the permit settled on a forgotten limiter"
    );
}

/// The Runner with a concurrency limit and per-job costs: 10⁴ jobs, every result present and in
/// order, on a mock clock.
#[test]
fn the_runner_finishes_ten_thousand_jobs_with_every_result() {
    let (clock, _time) = Clock::mock();
    let mut runner = Runner::new(|job: &u64| Ok::<u64, String>(job * 2))
        .resource(Resource::new("requests", Rate::per_second(2_000)).per_job(|_| 1))
        .resource(Resource::new("points", Rate::per_second(50_000)).per_job(|job: &u64| job % 7))
        .max_concurrent(8)
        .with_clock(clock);
    runner.schedule_all(0..10_000u64).unwrap();
    let report = runner.run();
    assert!(!report.interrupted);
    let (results, errors) = report.into_parts();
    assert_eq!(results.len(), 10_000);
    for (job, result) in results.iter().enumerate() {
        assert_eq!(*result, Some(job as u64 * 2), "job {job}");
    }
    assert!(errors.iter().all(Vec::is_empty));
}

// ---------------------------------------------------------------------------------------------
// The lock-free path racing rate changes
// ---------------------------------------------------------------------------------------------

/// One admission seen by a worker: the clock read just before and just after the call (it was
/// decided at an instant in between), and its cost.
type Admission = (Nanos, Nanos, u64);

/// Many threads police a token bucket lock-free while another advances the mock clock and
/// switches the rate between a tight and a loose one: in any window of one period, no more is
/// admitted than the loose rate allows (its burst, plus one unit per loose emission interval).
#[test]
fn no_window_admits_more_than_the_looser_rate_while_the_rate_changes() {
    let period = Duration::from_secs(1);
    let tight = Rate::new(100, period).burst(10);
    let loose = Rate::new(400, period).burst(40);
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::token_bucket(tight).with_clock(clock);
    let stop = AtomicBool::new(false);
    let admissions: Vec<Admission> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3u64)
            .map(|worker| {
                let (limiter, time, stop) = (&limiter, &time, &stop);
                scope.spawn(move || {
                    let mut admitted = Vec::new();
                    let mut i = worker;
                    while !stop.load(Ordering::Relaxed) {
                        let cost = 1 + i % 2;
                        i += 3;
                        let before = time.now();
                        if limiter.try_acquire_n(cost).is_ok() {
                            admitted.push((before, time.now(), cost));
                        }
                    }
                    admitted
                })
            })
            .collect();
        for step in 0..20_000u32 {
            time.advance(Duration::from_micros(100));
            if step % 37 == 0 {
                let rate = if step % 74 == 0 { loose } else { tight };
                limiter.set_rate(rate).unwrap();
            }
            if step % 16 == 0 {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    let loose_pace = loose.pace().unwrap();
    let bound = loose_pace.burst() + 400 + 1;
    let window = Nanos::from(period);
    for &(start, _, _) in &admissions {
        let within: u64 = admissions
            .iter()
            .filter(|(before, after, _)| *before >= start && *after <= start.saturating_add(window))
            .map(|(_, _, cost)| cost)
            .sum();
        assert!(
            within <= bound,
            "{within} admitted within one period from {start:?}"
        );
    }
    let elapsed = time.now().as_u64() / loose_pace.interval();
    let total: u64 = admissions.iter().map(|(_, _, cost)| cost).sum();
    assert!(
        total <= loose_pace.burst() + elapsed + 1,
        "{total} admitted in all"
    );
    assert!(total > 0);
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

/// One thread reserves the whole burst (it waits behind what the others took) and cancels it,
/// advancing the mock clock a little each time, while others police lock-free: the cancelled
/// reservations give back exactly their own charges, so the lock-free admissions stay within
/// the rate. (A charge's "queue end before it", read apart from the charge, would take a
/// lock-free admission landing in between out with the cancelled charge.)
fn race_reserve_cancel_with_lock_free<A: Algorithm>(rounds: u32) -> (u64, u64) {
    let rate = Rate::per_second(1_000).burst(8);
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    let stop = AtomicBool::new(false);
    let admitted = std::thread::scope(|scope| {
        let police = scope.spawn(|| {
            let mut admitted = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if limiter.try_acquire().is_ok() {
                    admitted += 1;
                }
            }
            admitted
        });
        for _ in 0..rounds {
            if let Ok(reservation) = limiter.reserve(8) {
                reservation.cancel();
            }
            time.advance(Duration::from_micros(5));
        }
        stop.store(true, Ordering::Relaxed);
        police.join().unwrap()
    });
    let interval = rate.pace().unwrap().interval();
    (admitted, 8 + time.now().as_u64() / interval + 1)
}

#[test]
fn cancelled_waiting_reservations_give_back_only_their_own_charges() {
    for _ in 0..3 {
        let (admitted, bound) = race_reserve_cancel_with_lock_free::<GcraVirtual>(100_000);
        assert!(
            admitted <= bound,
            "gcra: {admitted} admitted, at most {bound} allowed"
        );
        let (admitted, bound) = race_reserve_cancel_with_lock_free::<TokenBucket>(100_000);
        assert!(
            admitted <= bound,
            "token bucket: {admitted} admitted, at most {bound} allowed"
        );
    }
}

/// Threads hammer one limiter on a frozen mock clock: exactly the burst is admitted, whichever
/// algorithm and path, and the counts add up to every call.
fn hammer<A: Algorithm>() -> tollgate::LimiterStats {
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(Rate::new(1_000, Duration::from_secs(1_000)))
        .with_clock(clock);
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let limiter = &limiter;
            scope.spawn(move || {
                for i in 0..5_000u64 {
                    let _ = limiter.try_acquire_n(1 + (i + thread) % 3);
                }
            });
        }
    });
    limiter.stats()
}

#[test]
fn concurrent_callers_get_exactly_the_burst_and_exact_counts() {
    for stats in [
        hammer::<GcraVirtual>(),
        hammer::<GcraContinuous>(),
        hammer::<TokenBucket>(),
        hammer::<LeakyBucket>(),
        hammer::<SlidingWindow>(),
    ] {
        assert_eq!(stats.admitted + stats.rejected, 20_000, "{stats:?}");
        assert_eq!(stats.available, 1_000 - stats.in_use, "{stats:?}");
        // Costs of 1 to 3: the last units may be left when only larger costs came after.
        assert!(stats.in_use >= 998 && stats.in_use <= 1_000, "{stats:?}");
    }
}

/// Every `Clock::new()` carries its own copy of the process's calibration: clocks made on other
/// threads, later, read the same timeline (real time; generous bounds).
#[test]
fn real_clocks_made_apart_read_one_timeline() {
    let first = Clock::new();
    let before = first.now();
    let (made_there, read_there) = std::thread::spawn(|| {
        let clock = Clock::new();
        let reading = clock.now();
        (clock, reading)
    })
    .join()
    .unwrap();
    let after = first.now();
    let slack = Nanos::from_millis(50);
    assert!(
        read_there.saturating_add(slack) >= before,
        "{read_there:?} < {before:?}"
    );
    assert!(
        read_there <= after.saturating_add(slack),
        "{read_there:?} > {after:?}"
    );
    let here = made_there.now();
    let again = first.now();
    assert!(here <= again.saturating_add(slack) && again <= here.saturating_add(slack));
}

/// Costs named twice, in any order, across resources: the sum is charged (and refused whole
/// when the sum exceeds the burst, though each part fits); an unknown resource takes nothing.
#[test]
fn multi_costs_named_twice_in_any_order_cost_their_sum() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(100).tpm(1_000))
        .unwrap()
        .with_clock(clock);
    let usage =
        |api: &MultiLimiter| -> Vec<u64> { api.usage().iter().map(|u| u.1.charged()).collect() };
    let permit = api
        .try_acquire(&[(TOKENS, 5), (REQUESTS, 1), (TOKENS, 7)])
        .unwrap();
    assert_eq!((permit.cost(TOKENS), permit.cost(REQUESTS)), (12, 1));
    assert_eq!(usage(&api), [1, 12]);
    assert!(matches!(
        api.try_acquire(&[(TOKENS, 600), (TOKENS, 600)]),
        Err(tollgate::LimitError::ExceedsCapacity { cost: 1_200, .. })
    ));
    assert!(api.try_acquire(&[(TOKENS, 3), ("nope", 1)]).is_err());
    assert_eq!(usage(&api), [1, 12], "a refused acquire took something");
    permit.settle(TOKENS, 2).unwrap();
    assert_eq!(usage(&api), [1, 2]);
}

/// Permits dropped (a flag, without the lock), cancelled and settled on many threads while
/// another switches a resource's rate: usage at the end is exactly what was kept.
#[test]
fn multi_permits_dropped_on_many_threads_keep_exact_usage() {
    let burst = 10_000_000;
    let (clock, _time) = Clock::mock();
    let limits = Limits::new().rate(TOKENS, Rate::per_second(1_000).burst(burst));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let stop = AtomicBool::new(false);
    let kept: u64 = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut fast = true;
            while !stop.load(Ordering::Relaxed) {
                let per_second = if fast { 1_000 } else { 400 };
                api.set_rate(TOKENS, Rate::per_second(per_second).burst(burst))
                    .unwrap();
                fast = !fast;
                std::thread::yield_now();
            }
            api.set_rate(TOKENS, Rate::per_second(1_000).burst(burst))
                .unwrap();
        });
        let workers: Vec<_> = (0..4u64)
            .map(|worker| {
                let api = &api;
                scope.spawn(move || {
                    let mut alive = Vec::new();
                    let mut kept = 0;
                    for i in 0..2_500u64 {
                        let cost = 1 + (i + worker) % 4;
                        let permit = api.try_acquire(&[(TOKENS, cost)]).unwrap();
                        kept += match (i + worker) % 5 {
                            0 => cost,
                            1 => {
                                permit.cancel();
                                0
                            }
                            2 => {
                                permit.settle(TOKENS, cost * 3).unwrap();
                                cost * 3
                            }
                            3 => {
                                permit.cancel_handle().cancel();
                                drop(permit);
                                0
                            }
                            _ => {
                                alive.push(permit);
                                cost
                            }
                        };
                    }
                    drop(alive);
                    kept
                })
            })
            .collect();
        let kept = workers.into_iter().map(|w| w.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        kept
    });
    assert_eq!(api.usage()[0].1.charged(), kept);
    assert_eq!(api.active(), 0);
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
