//! Hostile input: costs of `u64::MAX`, waits of `Duration::MAX`, queues that reach the end of
//! the clock's time, invalid rates, and keys whose `Hash` panics, at every hashing a decision
//! makes (outside the shard's lock, inside it, while the shard's table grows); and for several
//! resources per key, costs above one resource's burst, unknown and twice-named resources.

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use tollgate::{
    AcquireError, Clock, KeyedLimiter, KeyedMultiLimiter, LimitError, Nanos, Rate, RateError,
    RateLimiter, REQUESTS, TOKENS,
};

#[test]
fn a_cost_of_u64_max_exceeds_the_capacity_and_stores_nothing() {
    let keyed = KeyedLimiter::new(Rate::per_second(10));
    for result in [
        keyed.try_acquire_n(&1, u64::MAX),
        keyed.acquire_n(&1, u64::MAX),
        keyed.try_acquire_for(&1, u64::MAX, Duration::MAX),
        keyed.try_acquire_until(&1, u64::MAX, Nanos::MAX),
    ] {
        assert_eq!(
            result,
            Err(AcquireError::ExceedsCapacity {
                cost: u64::MAX,
                capacity: 10
            })
        );
    }
    assert!(keyed.is_empty());
    assert_eq!(keyed.stats().rejected, 4);
}

#[test]
fn an_invalid_rate_is_refused_by_try_new_and_by_every_acquire() {
    for (rate, error) in [
        (Rate::per_second(0), RateError::ZeroQuantity),
        (
            Rate::new(u64::MAX, Duration::from_secs(1)),
            RateError::TooFast {
                rate: Rate::new(u64::MAX, Duration::from_secs(1)),
            },
        ),
        (
            Rate::new(1, Duration::MAX),
            RateError::TooLong {
                rate: Rate::new(1, Duration::MAX),
            },
        ),
    ] {
        assert_eq!(KeyedLimiter::<u8>::try_new(rate).unwrap_err(), error);
        let keyed = KeyedLimiter::new(rate);
        assert_eq!(
            keyed.acquire(&0),
            Err(AcquireError::InvalidRate(error.clone()))
        );
        assert_eq!(
            keyed.try_acquire_n(&0, u64::MAX),
            Err(AcquireError::InvalidRate(error))
        );
        assert_eq!(keyed.available(&0), 0);
        assert!(keyed.is_empty());
    }
}

#[test]
fn waits_of_duration_max_and_queues_at_the_end_of_time_decide_as_a_lone_limiter() {
    // The longest rate there is: one unit per 2^62 − 1 ns (about 146 years).
    let rate = Rate::new(1, Duration::from_nanos((1 << 62) - 1));
    let (keyed_clock, keyed_time) = Clock::mock();
    let (lone_clock, lone_time) = Clock::mock();
    let keyed = KeyedLimiter::new(rate).with_clock(keyed_clock);
    let lone = RateLimiter::new(rate).with_clock(lone_clock);
    for step in 0..6 {
        let ours = keyed.try_acquire_for(&"k", 1, Duration::MAX);
        let theirs = lone.try_acquire_for(1, Duration::MAX);
        assert_eq!(ours, theirs, "step {step}");
        assert_eq!(keyed_time.now(), lone_time.now(), "step {step}");
        let ours = keyed.try_acquire_until(&"k", 1, Nanos::MAX);
        let theirs = lone.try_acquire_until(1, Nanos::MAX);
        assert_eq!(ours, theirs, "step {step}");
        assert_eq!(keyed.try_acquire(&"k"), lone.try_acquire(), "step {step}");
        assert_eq!(keyed.acquire(&"k"), lone.acquire(), "step {step}");
        assert_eq!(keyed_time.now(), lone_time.now(), "step {step}");
    }
    // By now the queue has reached the end of time: nothing goes, and nothing hangs.
    assert!(matches!(
        keyed.acquire(&"k"),
        Err(AcquireError::NotInTime { .. })
    ));
    assert_eq!(keyed.available(&"k"), 0);
    assert_eq!(keyed.retain_recent(), 0);
}

thread_local! {
    /// Hashings left before a [`Touchy`] key's `Hash` panics (`u64::MAX`: never).
    static HASHINGS_LEFT: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// A key whose `Hash` panics at the n-th hashing from [`panicking_at`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Touchy(u64);

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let left = HASHINGS_LEFT.with(Cell::get);
        if left == 0 {
            HASHINGS_LEFT.with(|cell| cell.set(u64::MAX));
            panic!("the key's Hash panics");
        }
        HASHINGS_LEFT.with(|cell| cell.set(left.saturating_sub(1)));
        self.0.hash(state);
    }
}

/// Runs `call` with the `n`-th hashing (from 0) of a [`Touchy`] key panicking; whether it did.
fn panicking_at(n: u64, call: impl FnOnce()) -> bool {
    HASHINGS_LEFT.with(|cell| cell.set(n));
    let panicked = catch_unwind(AssertUnwindSafe(call)).is_err();
    HASHINGS_LEFT.with(|cell| cell.set(u64::MAX));
    panicked
}

#[test]
fn a_panicking_hash_leaves_every_key_as_it_was_and_the_limiter_usable() {
    let (clock, _time) = Clock::mock();
    // Frozen time: a key that took its unit refuses every later one.
    let keyed = KeyedLimiter::new(Rate::per_hour(1).burst(1)).with_clock(clock);
    let mut taken = Vec::new();
    let mut panics = 0;
    // Each new key panics at one of its hashings in turn (the shard's pick, the look-up under the
    // read lock, the insertion under the write lock, and the rehashing of other keys while the
    // shard's table grows), over enough keys for the shards' tables to grow many times.
    for key in 0..3_000_u64 {
        let at = key % 5;
        let panicked = panicking_at(at, || {
            let _ = keyed.try_acquire(&Touchy(key));
        });
        panics += u64::from(panicked);
        // Whether or not the unit was taken before the panic, the key decides consistently now:
        // at most one unit, ever.
        let first = keyed.try_acquire(&Touchy(key)).is_ok();
        assert!(
            keyed.try_acquire(&Touchy(key)).is_err(),
            "key {key} admitted twice"
        );
        if first || !panicked {
            taken.push(key);
        }
    }
    assert!(panics > 2_000, "the hashing panicked {panics} times only");
    // No key was lost: every one of them still refuses, and each is stored once.
    for key in 0..3_000_u64 {
        assert!(
            keyed.try_acquire(&Touchy(key)).is_err(),
            "key {key} forgotten"
        );
    }
    assert_eq!(keyed.len(), 3_000);
    let mut seen = 0;
    keyed.for_each(|_, usage| {
        assert_eq!(usage.in_use, 1);
        seen += 1;
    });
    assert_eq!(seen, 3_000);
}

#[test]
fn a_cost_above_any_resources_burst_names_it_and_takes_nothing_from_any() {
    let keyed = KeyedMultiLimiter::<u8, 2>::new([
        (REQUESTS, Rate::per_second(10)),
        (TOKENS, Rate::per_second(100)),
    ])
    .unwrap();
    let exceeds = |resource: &str, cost| LimitError::ExceedsCapacity {
        resource: resource.into(),
        cost,
        capacity: if resource == REQUESTS { 10 } else { 100 },
    };
    for costs in [
        vec![(TOKENS, u64::MAX)],
        vec![(TOKENS, 101)],
        vec![(TOKENS, u64::MAX), (TOKENS, 5)],
        vec![(TOKENS, 100), (TOKENS, 1)],
    ] {
        let cost = costs
            .iter()
            .fold(0_u64, |sum, (_, cost)| sum.saturating_add(*cost));
        for result in [
            keyed.try_acquire(&1, &costs),
            keyed.acquire(&1, &costs),
            keyed.try_acquire_for(&1, &costs, Duration::MAX),
            keyed.try_acquire_until(&1, &costs, Nanos::MAX),
        ] {
            assert_eq!(result, Err(exceeds(TOKENS, cost)), "{costs:?}");
        }
    }
    // Both above: the first resource in the limiter's order is named.
    assert_eq!(
        keyed.try_acquire(&1, &[(TOKENS, u64::MAX), (REQUESTS, u64::MAX)]),
        Err(exceeds(REQUESTS, u64::MAX))
    );
    assert!(keyed.is_empty());
    assert_eq!(keyed.stats().rejected, 17);
}

#[test]
fn unknown_and_twice_named_resources_and_invalid_rates_are_typed_errors() {
    let keyed = KeyedMultiLimiter::<u8, 1>::new([(TOKENS, Rate::per_second(10))]).unwrap();
    let unknown = keyed.try_acquire(&0, &[(REQUESTS, 1)]).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "no resource named \"requests\" in these limits; they count \"tokens\""
    );
    assert!(keyed.rate("").is_err());
    assert_eq!(
        KeyedMultiLimiter::<u8, 3>::new([
            ("a", Rate::per_second(1)),
            ("b", Rate::per_second(1)),
            ("a", Rate::per_second(2)),
        ])
        .unwrap_err(),
        LimitError::DuplicateResource("a".into())
    );
    for (rate, error) in [
        (Rate::per_second(0), RateError::ZeroQuantity),
        (
            Rate::new(1, Duration::MAX),
            RateError::TooLong {
                rate: Rate::new(1, Duration::MAX),
            },
        ),
    ] {
        let refused =
            KeyedMultiLimiter::<u8, 2>::new([(REQUESTS, Rate::per_second(1)), (TOKENS, rate)]);
        assert_eq!(
            refused.unwrap_err(),
            LimitError::InvalidRate {
                resource: TOKENS.into(),
                error,
            }
        );
    }
}

#[test]
fn queues_of_several_resources_at_the_end_of_time_refuse_and_never_hang() {
    // The longest rate there is on tokens: one per 2^62 − 1 ns (about 146 years).
    let (clock, time) = Clock::mock();
    let keyed = KeyedMultiLimiter::<&str, 2>::new([
        (REQUESTS, Rate::per_second(1)),
        (TOKENS, Rate::new(1, Duration::from_nanos((1 << 62) - 1))),
    ])
    .unwrap()
    .with_clock(clock);
    let mut refused = false;
    for _ in 0..8 {
        match keyed.acquire(&"k", &[(TOKENS, 1)]) {
            Ok(()) => {}
            Err(LimitError::NotInTime { wait }) => {
                refused = true;
                assert!(wait.is_some());
                break;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        refused,
        "a queue past the end of time was admitted; now {:?}",
        time.now()
    );
    assert!(keyed
        .try_acquire_for(&"k", &[(TOKENS, 1)], Duration::MAX)
        .is_err());
    assert!(keyed
        .try_acquire_until(&"k", &[(TOKENS, 1)], Nanos::MAX)
        .is_err());
    assert_eq!(keyed.retain_recent(), 0);
}
