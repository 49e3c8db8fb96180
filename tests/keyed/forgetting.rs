//! Forgetting keys: `retain_recent` and the sweep of a growing shard drop exactly the keys that
//! would decide as new ones; a key owing anything (a burst not regenerated, a waiter's
//! reservation) is kept, whatever else happens to the map; a key of several resources is
//! forgotten only when every one of them is whole.

use std::time::Duration;

use tollgate::{Clock, KeyedLimiter, KeyedMultiLimiter, Nanos, Rate, REQUESTS, TOKENS};

use crate::support;

#[test]
fn retain_recent_forgets_only_the_keys_that_decide_as_new_ones() {
    let (clock, time) = Clock::mock();
    let keyed = KeyedLimiter::new(Rate::per_second(10).burst(5)).with_clock(clock);
    keyed.try_acquire_n(&"regenerated", 5).unwrap(); // whole again at 500 ms
    keyed.try_acquire_n(&"exactly", 1).unwrap(); // whole again at 100 ms
    time.advance(Duration::from_millis(400));
    keyed.try_acquire_n(&"partly", 2).unwrap(); // whole again at 600 ms
    time.advance(Duration::from_millis(100)); // 500 ms
    assert_eq!(keyed.len(), 3);
    assert_eq!(keyed.retain_recent(), 2);
    let mut kept = Vec::new();
    keyed.for_each(|key, usage| kept.push((*key, usage.in_use, usage.available)));
    assert_eq!(kept, [("partly", 1, 4)]);
    // The forgotten keys decide as they would have: the whole burst.
    keyed.try_acquire_n(&"regenerated", 5).unwrap();
    assert!(keyed.try_acquire_n(&"partly", 5).is_err());
}

#[test]
fn a_key_in_debt_or_with_a_waiter_is_kept() {
    let (clock, time) = Clock::mock_stepped();
    let keyed = KeyedLimiter::new(Rate::per_second(1).burst(1)).with_clock(clock);
    keyed.acquire(&"waited for").unwrap();
    std::thread::scope(|s| {
        let _freed = support::ClockFreedOnPanic::new(&time);
        let waiter = s.spawn(|| keyed.acquire(&"waited for"));
        time.wait_for_sleepers(1); // its unit reserved, asleep until 1 s
        time.advance(Duration::from_millis(999));
        assert_eq!(keyed.retain_recent(), 0, "the waiter's reservation is kept");
        support::step(&time, Duration::from_millis(1), &[waiter]);
    });
    assert_eq!(time.now(), Nanos::from_secs(1));
    assert!(
        keyed.try_acquire(&"waited for").is_err(),
        "the waiter's unit is in use"
    );
    time.advance(Duration::from_secs(1));
    assert_eq!(keyed.retain_recent(), 1);
}

#[test]
fn a_growing_shard_sweeps_the_fresh_keys_and_keeps_the_others() {
    let (clock, time) = Clock::mock();
    let keyed = KeyedLimiter::new(Rate::per_second(1).burst(1)).with_clock(clock);
    for key in 0..100_u64 {
        keyed.try_acquire(&key).unwrap();
    }
    // The same keys, owing for an hour each.
    let hour = KeyedLimiter::new(Rate::per_hour(1).burst(1)).with_clock(keyed.clock().clone());
    for key in 0..100_u64 {
        hour.try_acquire(&key).unwrap();
    }
    time.advance(Duration::from_secs(2)); // every key of `keyed` is fresh again
    for round in 1..=20_u64 {
        for key in round * 10_000..round * 10_000 + 5_000 {
            keyed.try_acquire(&key).unwrap();
            hour.try_acquire(&key).unwrap();
        }
        time.advance(Duration::from_secs(2));
        // Swept as it grows: about the keys of the last two rounds at most, never all of them.
        assert!(
            keyed.len() < 2 * 5_000 + 64 * 64,
            "round {round}: {} keys",
            keyed.len()
        );
    }
    // `hour`'s keys all owe: none was swept, each still refuses.
    assert_eq!(hour.len(), 100 + 20 * 5_000);
    for key in (0..100).chain([10_000, 205_000 - 1]) {
        assert!(hour.try_acquire(&key).is_err(), "key {key} was forgotten");
    }
}

#[test]
fn stats_and_for_each_see_every_key() {
    let keyed = KeyedLimiter::new(Rate::per_minute(10));
    for key in 0..1_000_u32 {
        keyed.try_acquire_n(&key, u64::from(key % 3) + 1).unwrap();
    }
    let stats = keyed.stats();
    assert_eq!(
        (stats.keys, stats.admitted, stats.rejected),
        (1_000, 1_000, 0)
    );
    let mut in_use = 0;
    let mut seen = 0;
    keyed.for_each(|key, usage| {
        assert_eq!(usage.in_use, u64::from(key % 3) + 1);
        assert_eq!(usage.available, 10 - usage.in_use);
        in_use += usage.in_use;
        seen += 1;
    });
    assert_eq!((seen, in_use), (1_000, 1_999));
}

/// Requests (1 at once, one per second) and tokens (60 at once, one per second) per key.
fn requests_and_tokens(clock: tollgate::Clock) -> KeyedMultiLimiter<u64, 2> {
    KeyedMultiLimiter::new([
        (REQUESTS, Rate::per_second(1)),
        (TOKENS, Rate::per_minute(60)),
    ])
    .unwrap()
    .with_clock(clock)
}

#[test]
fn a_key_of_several_resources_is_forgotten_only_when_every_one_is_whole() {
    let (clock, time) = Clock::mock();
    let keyed = requests_and_tokens(clock);
    keyed.try_acquire(&1, &[(TOKENS, 30)]).unwrap(); // tokens whole again at 30 s
    keyed.try_acquire(&2, &[(TOKENS, 0)]).unwrap(); // whole again at 1 s
    time.advance(Duration::from_secs(1));
    assert_eq!(
        keyed.retain_recent(),
        1,
        "key 2 only: key 1 still owes tokens"
    );
    // Key 1 kept whole: its request is free again, its tokens still owed.
    let [(_, requests), (_, tokens)] = keyed.usage(&1);
    assert_eq!((requests.in_use, tokens.in_use), (0, 29));
    assert!(keyed.try_acquire(&1, &[(TOKENS, 32)]).is_err());
    time.advance(Duration::from_secs(29));
    assert_eq!(keyed.retain_recent(), 1);
    assert!(keyed.is_empty());
}

#[test]
fn a_growing_shard_keeps_a_key_owing_one_resource_of_several() {
    let (clock, time) = Clock::mock();
    let keyed = requests_and_tokens(clock);
    // Keys 0..100 owe their tokens for 60 s; their requests are whole after 1 s.
    for key in 0..100 {
        keyed.try_acquire(&key, &[(TOKENS, 60)]).unwrap();
    }
    time.advance(Duration::from_secs(2));
    for round in 1..=10_u64 {
        for key in round * 10_000..round * 10_000 + 5_000 {
            keyed.try_acquire(&key, &[(TOKENS, 1)]).unwrap();
        }
        time.advance(Duration::from_secs(2)); // every key of the round whole again
        assert!(
            keyed.len() < 100 + 2 * 5_000 + 64 * 64,
            "round {round}: {} keys",
            keyed.len()
        );
    }
    // 22 s in: the first keys still owe 38 tokens each; none was swept.
    for key in 0..100 {
        assert!(
            keyed.try_acquire(&key, &[(TOKENS, 30)]).is_err(),
            "key {key} was forgotten"
        );
        assert_eq!(keyed.usage(&key)[1].1.in_use, 38, "key {key}");
    }
}
