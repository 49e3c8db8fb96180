//! `KeyedMultiLimiter` over random mixes of keys, costs, waits and forgetting: in no window of
//! time does any key go with more of any resource than that resource's bound (its burst, and
//! one unit more per emission interval of the window), counted at the instants calls go.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::algorithm::{GcraVirtual, OneWord, TokenBucket};
use tollgate::{Clock, KeyedMultiLimiter, Nanos, Rate, REQUESTS, TOKENS};

use crate::support::proptest_config;

/// The resources: requests (2 at once, one per 200 ms), tokens (50 at once, one per 10 ms),
/// and images (1 at once, one per 1 s). Every interval a whole number of nanoseconds.
const RESOURCES: [(&str, u64, Duration); 3] = [
    (REQUESTS, 2, Duration::from_millis(200)),
    (TOKENS, 50, Duration::from_millis(10)),
    ("images", 1, Duration::from_secs(1)),
];

#[derive(Clone, Copy, Debug)]
enum Call {
    Take {
        key: u8,
        tokens: u64,
        images: u64,
        wait: Option<u64>,
    },
    Acquire {
        key: u8,
        tokens: u64,
        images: u64,
    },
    RetainRecent,
}

fn call() -> impl Strategy<Value = Call> {
    let tokens = prop_oneof![8 => 0..30_u64, 1 => Just(50_u64), 1 => Just(u64::MAX)];
    let images = prop_oneof![3 => Just(0_u64), 1 => Just(1_u64)];
    prop_oneof![
        6 => (0..3_u8, tokens.clone(), images.clone(), prop::option::of(0..700_u64))
            .prop_map(|(key, tokens, images, wait)| Call::Take { key, tokens, images, wait }),
        2 => (0..3_u8, 0..50_u64, images)
            .prop_map(|(key, tokens, images)| Call::Acquire { key, tokens, images }),
        1 => Just(Call::RetainRecent),
    ]
}

/// Runs `script`, returning every admitted call as (key, instant it went, its costs).
fn admitted<A: OneWord>(script: &[(u64, Call)]) -> Vec<(u8, Nanos, [u64; 3])> {
    let (clock, time) = Clock::mock();
    let rates =
        RESOURCES.map(|(name, burst, interval)| (name, Rate::new(1, interval).burst(burst)));
    let keyed = KeyedMultiLimiter::<u8, 3, A>::with_algorithm(rates)
        .unwrap()
        .with_clock(clock);
    let mut admitted = Vec::new();
    for &(advance_ms, call) in script {
        time.advance(Duration::from_millis(advance_ms));
        let (key, tokens, images, result) = match call {
            Call::Take {
                key,
                tokens,
                images,
                wait,
            } => {
                let costs = [(TOKENS, tokens), ("images", images)];
                let result = match wait {
                    None => keyed.try_acquire(&key, &costs),
                    Some(ms) => keyed.try_acquire_for(&key, &costs, Duration::from_millis(ms)),
                };
                (key, tokens, images, result)
            }
            Call::Acquire {
                key,
                tokens,
                images,
            } => {
                let result = keyed.acquire(&key, &[(TOKENS, tokens), ("images", images)]);
                (key, tokens, images, result)
            }
            Call::RetainRecent => {
                keyed.retain_recent();
                continue;
            }
        };
        if result.is_ok() {
            // The mock clock's sleep has moved it to the instant the call went.
            admitted.push((key, time.now(), [1, tokens, images]));
        }
    }
    admitted
}

/// Every window from one admission of a key to a later one holds at most each resource's
/// burst plus one unit per whole interval the window spans.
fn assert_bounds(admitted: &[(u8, Nanos, [u64; 3])]) -> Result<(), TestCaseError> {
    for key in 0..3 {
        let mut calls: Vec<(Nanos, [u64; 3])> = admitted
            .iter()
            .filter(|(k, ..)| *k == key)
            .map(|&(_, at, costs)| (at, costs))
            .collect();
        calls.sort_by_key(|&(at, _)| at);
        for first in 0..calls.len() {
            let mut sums = [0_u64; 3];
            for &(at, costs) in &calls[first..] {
                let span = at.saturating_sub(calls[first].0).as_u64();
                for (resource, &(name, burst, interval)) in RESOURCES.iter().enumerate() {
                    sums[resource] += costs[resource];
                    let bound = burst + span / interval.as_nanos() as u64;
                    prop_assert!(
                        sums[resource] <= bound,
                        "key {} took {} {} from {:?} to {:?} (bound {})",
                        key,
                        sums[resource],
                        name,
                        calls[first].0,
                        at,
                        bound
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(300))]

    #[test]
    fn no_window_of_a_key_admits_more_than_each_resources_bound_gcra(
        script in prop::collection::vec((0..300_u64, call()), 1..80),
    ) {
        assert_bounds(&admitted::<GcraVirtual>(&script))?;
    }

    #[test]
    fn no_window_of_a_key_admits_more_than_each_resources_bound_token_bucket(
        script in prop::collection::vec((0..300_u64, call()), 1..80),
    ) {
        assert_bounds(&admitted::<TokenBucket>(&script))?;
    }
}

#[test]
fn the_bound_is_reached_not_only_respected() {
    // A key that asks as fast as it can takes exactly the bound of its binding resource.
    let script: Vec<(u64, Call)> = (0..100)
        .map(|_| {
            (
                10,
                Call::Take {
                    key: 0,
                    tokens: 5,
                    images: 0,
                    wait: None,
                },
            )
        })
        .collect();
    let admitted = admitted::<GcraVirtual>(&script);
    // Over 1 s: requests bind (2 at once, then one per 200 ms): 2 + 990 / 200 = 6 calls.
    assert_eq!(admitted.len(), 6, "{admitted:?}");
}
