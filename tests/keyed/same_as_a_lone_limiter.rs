//! Each key of a `KeyedLimiter` admits, refuses (with the same error and wait) and sleeps
//! exactly as a lone `RateLimiter` of the same rate and algorithm given the same calls, on mock
//! clocks moved alike; forgetting keys (`retain_recent`) never changes a decision.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::algorithm::{GcraVirtual, OneWord, TokenBucket};
use tollgate::{Clock, KeyedLimiter, Nanos, Rate, RateLimiter};

use crate::support::proptest_config;

/// One call: which key, what, its cost, and how far time moves before it.
#[derive(Clone, Copy, Debug)]
enum Call {
    TryAcquire { key: u8, cost: u64 },
    TryAcquireFor { key: u8, cost: u64, timeout_ms: u64 },
    TryAcquireUntil { key: u8, cost: u64, in_ms: u64 },
    Acquire { key: u8, cost: u64 },
    RetainRecent,
}

fn call() -> impl Strategy<Value = Call> {
    let key = 0..4_u8;
    let cost = prop_oneof![4 => 0..5_u64, 1 => Just(u64::MAX)];
    prop_oneof![
        4 => (key.clone(), cost.clone()).prop_map(|(key, cost)| Call::TryAcquire { key, cost }),
        2 => (key.clone(), cost.clone(), 0..1_500_u64)
            .prop_map(|(key, cost, timeout_ms)| Call::TryAcquireFor { key, cost, timeout_ms }),
        1 => (key.clone(), cost.clone(), 0..1_500_u64)
            .prop_map(|(key, cost, in_ms)| Call::TryAcquireUntil { key, cost, in_ms }),
        2 => (key, 0..5_u64).prop_map(|(key, cost)| Call::Acquire { key, cost }),
        1 => Just(Call::RetainRecent),
    ]
}

fn rate() -> impl Strategy<Value = Rate> {
    prop_oneof![
        Just(Rate::per_second(4)),
        Just(Rate::per_second(5).burst(2)),
        Just(Rate::new(3, Duration::from_millis(700)).burst(4)),
        Just(Rate::per_minute(7).burst(1)),
    ]
}

fn same_as_lone<A: OneWord>(rate: Rate, script: &[(u64, Call)]) {
    let (keyed_clock, keyed_time) = Clock::mock();
    let (lone_clock, lone_time) = Clock::mock();
    let keyed = KeyedLimiter::<u8, A>::with_algorithm(rate).with_clock(keyed_clock);
    let lone: Vec<RateLimiter<A>> = (0..4)
        .map(|_| RateLimiter::<A>::with_algorithm(rate).with_clock(lone_clock.clone()))
        .collect();
    for (step, &(advance_ms, call)) in script.iter().enumerate() {
        keyed_time.advance(Duration::from_millis(advance_ms));
        lone_time.advance(Duration::from_millis(advance_ms));
        let now = keyed_time.now();
        let (ours, theirs) = match call {
            Call::TryAcquire { key, cost } => (
                keyed.try_acquire_n(&key, cost),
                lone[usize::from(key)].try_acquire_n(cost),
            ),
            Call::TryAcquireFor {
                key,
                cost,
                timeout_ms,
            } => {
                let timeout = Duration::from_millis(timeout_ms);
                (
                    keyed.try_acquire_for(&key, cost, timeout),
                    lone[usize::from(key)].try_acquire_for(cost, timeout),
                )
            }
            Call::TryAcquireUntil { key, cost, in_ms } => {
                let deadline = now + Duration::from_millis(in_ms);
                (
                    keyed.try_acquire_until(&key, cost, deadline),
                    lone[usize::from(key)].try_acquire_until(cost, deadline),
                )
            }
            Call::Acquire { key, cost } => (
                keyed.acquire_n(&key, cost),
                lone[usize::from(key)].acquire_n(cost),
            ),
            Call::RetainRecent => {
                keyed.retain_recent();
                (Ok(()), Ok(()))
            }
        };
        assert_eq!(ours, theirs, "step {step}: {call:?} at {now:?}");
        assert_eq!(
            keyed_time.now(),
            lone_time.now(),
            "step {step}: {call:?} slept otherwise"
        );
        for key in 0..4_u8 {
            assert_eq!(
                keyed.available(&key),
                lone[usize::from(key)].available(),
                "step {step}: key {key}'s available units"
            );
        }
    }
    let (admitted, rejected) = lone.iter().fold((0, 0), |(admitted, rejected), limiter| {
        let stats = limiter.stats();
        (admitted + stats.admitted, rejected + stats.rejected)
    });
    let stats = keyed.stats();
    assert_eq!((stats.admitted, stats.rejected), (admitted, rejected));
}

proptest! {
    #![proptest_config(proptest_config(300))]

    #[test]
    fn each_key_decides_as_a_lone_gcra_limiter(
        rate in rate(),
        script in prop::collection::vec((0..600_u64, call()), 1..60),
    ) {
        same_as_lone::<GcraVirtual>(rate, &script);
    }

    #[test]
    fn each_key_decides_as_a_lone_token_bucket(
        rate in rate(),
        script in prop::collection::vec((0..600_u64, call()), 1..60),
    ) {
        same_as_lone::<TokenBucket>(rate, &script);
    }
}

#[test]
fn a_key_never_seen_has_the_whole_burst_and_is_not_stored_by_a_look() {
    let keyed = KeyedLimiter::<&str>::new(Rate::per_second(10).burst(3));
    assert_eq!(keyed.available(&"nobody"), 3);
    assert!(keyed.is_empty());
    keyed.try_acquire_n(&"nobody", 0).unwrap();
    assert!(
        keyed.is_empty(),
        "a cost of 0 takes nothing and stores nothing"
    );
}

#[test]
fn waiters_of_one_key_go_in_the_order_they_reserved() {
    let (clock, time) = Clock::mock();
    let keyed = KeyedLimiter::new(Rate::per_second(10).burst(1)).with_clock(clock);
    keyed.acquire(&"k").unwrap();
    keyed.acquire_n(&"k", 1).unwrap(); // reserved behind the first: 100 ms
    assert_eq!(time.now(), Nanos::from_millis(100));
    assert!(keyed.try_acquire(&"k").is_err());
    assert!(keyed.try_acquire(&"other").is_ok());
}
