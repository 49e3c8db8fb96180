//! Adversarial checks of the performance work: the bucket algorithms' one-word form inside a
//! `RateLimiter` (they must decide exactly as `RateLimiter::new` at the extremes too), the
//! receipts' places of reservations that went at once, the sliding window's searches and caches.
//!
//! Nothing here sleeps: every limiter runs on a mock clock, except a few real-thread races.

use proptest::prelude::*;
use std::time::Duration;

use tollgate::algorithm::{
    Algorithm, Decision, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{Clock, Nanos, Rate, RateLimiter, Reservation};

// ---------------------------------------------------------------------------------------------
// The four bucket limiters at the extremes
// ---------------------------------------------------------------------------------------------

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a caller does to a bucket limiter in [`bucket_answers`].
#[derive(Clone, Debug)]
enum Call {
    Advance(u64),
    TryAcquire(u64),
    TryAcquireFor(u64, Duration),
    Reserve(u64),
    Cancel(usize),
    Settle(usize, u64),
    SetRate(Rate),
    Observe(u64, Option<Duration>),
}

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
        2 => extreme_rate().prop_map(Call::SetRate),
        2 => (extreme_cost(), prop::option::of(extreme_timeout()))
            .prop_map(|(remaining, reset)| Call::Observe(remaining, reset)),
    ]
}

/// Everything a limiter running `A` on a mock clock answered to `calls`, one entry per call: the
/// answer, what it leaves available, its stats, and every live reservation's planned instant.
fn bucket_answers<A: Algorithm>(rate: Rate, calls: &[Call]) -> Vec<String> {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    let mut reservations: Vec<Option<Reservation>> = Vec::new();
    calls
        .iter()
        .map(|call| {
            let answer = match call {
                Call::Advance(gap) => {
                    time.advance(Duration::from_nanos(*gap));
                    String::new()
                }
                Call::TryAcquire(cost) => format!("{:?}", limiter.try_acquire_n(*cost)),
                Call::TryAcquireFor(cost, wait) => {
                    format!("{:?}", limiter.try_acquire_for(*cost, *wait))
                }
                Call::Reserve(cost) => match limiter.reserve(*cost) {
                    Ok(reservation) => {
                        let at = reservation.ready_at();
                        reservations.push(Some(reservation));
                        format!("{at:?}")
                    }
                    Err(err) => format!("{err:?}"),
                },
                Call::Cancel(index) => {
                    let count = reservations.len().max(1);
                    match reservations.get_mut(index % count).and_then(Option::take) {
                        Some(reservation) => {
                            reservation.cancel();
                            "cancelled".to_owned()
                        }
                        None => String::new(),
                    }
                }
                Call::Settle(index, actual) => {
                    let count = reservations.len().max(1);
                    match reservations.get(index % count).and_then(Option::as_ref) {
                        Some(reservation) => format!("{:?}", reservation.settle(*actual)),
                        None => String::new(),
                    }
                }
                Call::SetRate(rate) => format!("{:?}", limiter.set_rate(*rate)),
                Call::Observe(remaining, reset) => {
                    format!("{:?}", limiter.observe(*remaining, *reset))
                }
            };
            let planned: Vec<_> = reservations
                .iter()
                .flatten()
                .map(Reservation::ready_at)
                .collect();
            format!(
                "{call:?} -> {answer} now={:?} {:?} planned={planned:?}",
                time.now(),
                limiter.stats()
            )
        })
        .collect()
}

/// Runs `calls` on the four bucket limiters and asserts that every step answered alike.
fn assert_bucket_limiters_agree(rate: Rate, calls: &[Call]) {
    let gcra = bucket_answers::<GcraVirtual>(rate, calls);
    for (name, other) in [
        (
            "gcra_continuous",
            bucket_answers::<GcraContinuous>(rate, calls),
        ),
        ("token_bucket", bucket_answers::<TokenBucket>(rate, calls)),
        ("leaky_bucket", bucket_answers::<LeakyBucket>(rate, calls)),
    ] {
        for (step, (expected, got)) in gcra.iter().zip(&other).enumerate() {
            assert_eq!(
                got, expected,
                "{name} differs from RateLimiter::new at step {step} (rate {rate})"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn the_four_bucket_limiters_agree_at_the_extremes(
        // A limiter built with an invalid rate never gets its word: see
        // `a_limiter_built_with_an_invalid_rate_decides_as_gcra_once_the_rate_is_fixed`.
        rate in extreme_rate().prop_filter("valid at construction", |rate| rate.validate().is_ok()),
        calls in prop::collection::vec(extreme_call(), 1..30),
    ) {
        assert_bucket_limiters_agree(rate, &calls);
    }
}

/// A limiter built with an invalid rate keeps its state under the lock in the algorithm's own
/// representation even after `set_rate` makes the rate valid (the word is chosen at
/// construction); those representations saturate differently from GCRA's instant.
#[test]
#[ignore = "defect: a bucket limiter built with an invalid rate keeps its own full state after \
            set_rate fixes it, and saturates a u64::MAX settle differently from GCRA (in_use \
            u64::MAX instead of u64::MAX - 1)"]
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

/// Rates whose grid step the documentation states (`SlidingWindow`, "Grid"): switching between
/// them changes the grid under entries already logged.
const WINDOW_GRIDS: [(u64, u64, u64, u64); 6] = [
    // (quantity, period ns, burst, step ns)
    (3, 1_000, 3, 1),
    (5, 4_096, 2, 1),
    (20, 1_000_000_000, 20, 500_000),
    (10, 1_000_000_000, 4, 500_000),
    (7, 1_500_000_000, 7, 1_000_000),
    (5, 60_000_000_000, 5, 50_000_000),
];

fn window_rate(index: usize) -> (Rate, u64) {
    let (quantity, period, burst, step) = WINDOW_GRIDS[index % WINDOW_GRIDS.len()];
    (
        Rate::new(quantity, Duration::from_nanos(period)).burst(burst),
        step,
    )
}

/// The naive log: one `(grid instant, units)` per charge, instants rounded up to the step as the
/// window documents, everything recomputed from scratch.
struct GridLog {
    limit: u64,
    period: u64,
    step: u64,
    latest: Nanos,
    log: Vec<(Nanos, u64)>,
}

impl GridLog {
    fn new(index: usize) -> GridLog {
        let mut log = GridLog {
            limit: 0,
            period: 0,
            step: 1,
            latest: Nanos::ZERO,
            log: Vec::new(),
        };
        log.set_rate(Nanos::ZERO, index);
        log
    }

    fn set_rate(&mut self, now: Nanos, index: usize) {
        let (quantity, period, burst, step) = WINDOW_GRIDS[index % WINDOW_GRIDS.len()];
        self.latest = self.latest.max(now);
        (self.limit, self.period, self.step) = (quantity.min(burst), period, step);
        // Entries expired under the old period but not yet forgotten count again for a longer
        // new one, as the window does (it forgets at charges, refunds and rate changes only).
        self.forget_expired();
    }

    fn slot(&self, at: Nanos) -> Nanos {
        match at.as_u64().div_ceil(self.step).checked_mul(self.step) {
            Some(slot) => Nanos::new(slot),
            None => Nanos::MAX,
        }
    }

    fn counts(&self, at: Nanos, now: Nanos) -> bool {
        at.saturating_add(Nanos::new(self.period)) > now
    }

    fn used(&self, now: Nanos) -> u64 {
        let now = now.max(self.latest);
        self.log
            .iter()
            .filter(|(at, _)| self.counts(*at, now))
            .map(|(_, units)| *units)
            .fold(0u64, u64::saturating_add)
    }

    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        let now = now.max(self.latest);
        let allowed = self.limit.saturating_sub(cost);
        let mut counting: Vec<_> = self
            .log
            .iter()
            .filter(|(at, _)| self.counts(*at, now))
            .copied()
            .collect();
        counting.sort();
        let mut used = self.used(now);
        for (at, units) in counting {
            if used <= allowed {
                break;
            }
            used -= units;
            if used <= allowed {
                return at.saturating_add(Nanos::new(self.period)).max(now);
            }
        }
        now
    }

    fn decide(&self, now: Nanos, cost: u64) -> Decision {
        if cost == 0 {
            return Decision::Admitted;
        }
        if cost > self.limit {
            return Decision::Never {
                capacity: self.limit,
            };
        }
        let now = now.max(self.latest);
        match self.conforms_at(now, cost) {
            at if at <= now && at < Nanos::MAX => Decision::Admitted,
            at => Decision::NotBefore(at),
        }
    }

    fn log_at(&mut self, at: Nanos, cost: u64) -> Nanos {
        self.forget_expired();
        self.log.push((at, cost));
        at
    }

    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        self.latest = self.latest.max(now);
        let at = self.slot(at.max(self.conforms_at(self.latest, cost)));
        self.log_at(at, cost)
    }

    fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        self.latest = self.latest.max(now);
        let at = self.slot(self.latest);
        self.log_at(at, cost)
    }

    fn try_take(&mut self, now: Nanos, cost: u64) -> Decision {
        let decision = self.decide(now, cost);
        if decision == Decision::Admitted && cost > 0 {
            self.record(now, cost);
        }
        decision
    }

    fn forget_expired(&mut self) {
        let now = self.latest;
        let period = self.period;
        self.log
            .retain(|(at, _)| at.saturating_add(Nanos::new(period)) > now);
    }

    /// Gives back `cost` from the newest entries (by instant) still counting.
    fn refund(&mut self, now: Nanos, mut cost: u64) {
        self.latest = self.latest.max(now);
        self.forget_expired();
        self.log.sort_by_key(|(at, _)| *at);
        while cost > 0 {
            let Some(newest) = self.log.last_mut() else {
                break;
            };
            let given = newest.1.min(cost);
            newest.1 -= given;
            cost -= given;
            if newest.1 == 0 {
                self.log.pop();
            }
        }
    }

    fn refund_charge(&mut self, now: Nanos, mark: Nanos, mut cost: u64) -> u64 {
        self.latest = self.latest.max(now);
        self.forget_expired();
        let mut units = 0;
        for entry in self.log.iter_mut().filter(|(at, _)| *at == mark) {
            let given = entry.1.min(cost);
            entry.1 -= given;
            cost -= given;
            units += given;
        }
        self.log.retain(|(_, units)| *units > 0);
        units
    }
}

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
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn the_sliding_window_decides_as_a_naive_log_on_its_grid(
        first in 0usize..WINDOW_GRIDS.len(),
        steps in prop::collection::vec((window_gap(), window_op()), 1..60),
    ) {
        assert_window_matches_the_grid_log(first, &steps);
    }
}
