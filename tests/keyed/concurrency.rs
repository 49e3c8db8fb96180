//! Threads hammering keys, new and old: no key ever admits more than its bound, and a key
//! inserted by several threads at once is one key; threads on one key of several resources
//! charge each call's costs on all of them or none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use tollgate::{Clock, KeyedLimiter, KeyedMultiLimiter, Rate, REQUESTS, TOKENS};

const THREADS: usize = 4;

#[test]
fn with_time_frozen_each_key_admits_exactly_its_burst() {
    let (clock, _time) = Clock::mock();
    let keyed = KeyedLimiter::new(Rate::per_hour(40).burst(25)).with_clock(clock);
    let admitted: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (keyed, admitted) = (&keyed, &admitted);
            s.spawn(move || {
                for i in 0..4_000_usize {
                    // Every thread walks all keys, from a different place: new keys are inserted
                    // by racing threads.
                    let key = (i * 7 + thread * 16) % 64;
                    let cost = (i % 3) as u64 + 1;
                    if keyed.try_acquire_n(&(key as u64), cost).is_ok() {
                        admitted[key].fetch_add(cost, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(keyed.len(), 64);
    for (key, admitted) in admitted.iter().enumerate() {
        let admitted = admitted.load(Ordering::Relaxed);
        assert!(
            (23..=25).contains(&admitted),
            "key {key} admitted {admitted} units (burst 25, costs 1 to 3)"
        );
    }
    let stats = keyed.stats();
    assert_eq!(stats.admitted + stats.rejected, (THREADS * 4_000) as u64);
}

#[test]
fn with_time_moving_no_key_admits_more_than_burst_plus_what_regenerated() {
    let (clock, time) = Clock::mock();
    let rate = Rate::per_second(100).burst(10);
    let keyed = KeyedLimiter::new(rate).with_clock(clock);
    let admitted: Vec<AtomicU64> = (0..16).map(|_| AtomicU64::new(0)).collect();
    let steps = 200;
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (keyed, admitted) = (&keyed, &admitted);
            s.spawn(move || {
                for i in 0..20_000_usize {
                    let key = (i + thread) % 16;
                    if keyed.try_acquire(&(key as u64)).is_ok() {
                        admitted[key].fetch_add(1, Ordering::Relaxed);
                    }
                    if i % 64 == 0 {
                        keyed.retain_recent();
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..steps {
                time.advance(Duration::from_millis(1)); // 0.1 unit per key
                std::thread::yield_now();
            }
        });
    });
    // 10 at once, then one every 10 ms: over `steps` ms at most 10 + steps / 10.
    let bound = 10 + steps / 10;
    for (key, admitted) in admitted.iter().enumerate() {
        let admitted = admitted.load(Ordering::Relaxed);
        assert!(admitted <= bound, "key {key} admitted {admitted} > {bound}");
    }
}

#[test]
fn waiting_threads_of_one_key_are_paced_together() {
    let (clock, time) = Clock::mock();
    let keyed = KeyedLimiter::new(Rate::per_second(10).burst(1)).with_clock(clock);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..5 {
                    keyed.acquire(&"shared").unwrap();
                }
            });
        }
    });
    // 20 units, one at once then one every 100 ms: the last at 1.9 s at the earliest.
    assert!(
        time.now() >= tollgate::Nanos::from_millis(1_900),
        "{:?}",
        time.now()
    );
    assert_eq!(keyed.stats().admitted, 20);
}

/// Requests (25 at once) and tokens (40 at once), regenerating slowly.
fn requests_and_tokens(rate_per_hour: u64) -> KeyedMultiLimiter<u64, 2> {
    KeyedMultiLimiter::new([
        (REQUESTS, Rate::per_hour(rate_per_hour).burst(25)),
        (TOKENS, Rate::per_hour(rate_per_hour).burst(40)),
    ])
    .unwrap()
}

#[test]
fn threads_on_one_key_of_several_resources_take_all_or_none_with_time_frozen() {
    for round in 0..200_u64 {
        let (clock, _time) = Clock::mock();
        let keyed = requests_and_tokens(40).with_clock(clock);
        let (calls, tokens) = (AtomicU64::new(0), AtomicU64::new(0));
        let start = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for thread in 0..THREADS as u64 {
                let (keyed, calls, tokens, start) = (&keyed, &calls, &tokens, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..200 {
                        let cost = (i + thread + round) % 4; // 0 to 3 tokens
                        if keyed.try_acquire(&7, &[(TOKENS, cost)]).is_ok() {
                            calls.fetch_add(1, Ordering::Relaxed);
                            tokens.fetch_add(cost, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let (calls, tokens) = (calls.into_inner(), tokens.into_inner());
        // What the key holds is exactly what the admitted calls took: no call charged one
        // resource without the other, none charged twice.
        let [(_, requests_in_use), (_, tokens_in_use)] = keyed.usage(&7);
        assert_eq!(
            (requests_in_use.in_use, tokens_in_use.in_use),
            (calls, tokens),
            "round {round}"
        );
        assert!(
            calls <= 25 && tokens <= 40,
            "round {round}: {calls} calls, {tokens} tokens"
        );
        // And the key is full: its requests, or its tokens but for less than a call's cost.
        assert!(
            calls == 25 || tokens >= 38,
            "round {round}: {calls} calls, {tokens} tokens"
        );
        let stats = keyed.stats();
        assert_eq!(stats.admitted, calls);
        assert_eq!(stats.admitted + stats.rejected, THREADS as u64 * 200);
    }
}

#[test]
fn with_time_moving_no_key_of_several_resources_admits_more_than_each_bound() {
    let (clock, time) = Clock::mock();
    // Requests: 10 at once, one per 10 ms; tokens: 30 at once, one per ms.
    let keyed = KeyedMultiLimiter::new([
        (REQUESTS, Rate::per_second(100).burst(10)),
        (TOKENS, Rate::per_second(1_000).burst(30)),
    ])
    .unwrap()
    .with_clock(clock);
    let calls: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    let tokens: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    let steps = 200;
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (keyed, calls, tokens) = (&keyed, &calls, &tokens);
            s.spawn(move || {
                for i in 0..20_000_usize {
                    let key = (i + thread) % 4;
                    let cost = (i % 7) as u64;
                    if keyed.try_acquire(&(key as u64), &[(TOKENS, cost)]).is_ok() {
                        calls[key].fetch_add(1, Ordering::Relaxed);
                        tokens[key].fetch_add(cost, Ordering::Relaxed);
                    }
                    if i % 64 == 0 {
                        keyed.retain_recent();
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..steps {
                time.advance(Duration::from_millis(1));
                std::thread::yield_now();
            }
        });
    });
    for key in 0..4 {
        let calls = calls[key].load(Ordering::Relaxed);
        let tokens = tokens[key].load(Ordering::Relaxed);
        assert!(calls <= 10 + steps / 10, "key {key}: {calls} calls");
        assert!(tokens <= 30 + steps, "key {key}: {tokens} tokens");
    }
}

#[test]
fn waiting_threads_of_one_key_of_several_resources_are_paced_by_the_slower() {
    let (clock, time) = Clock::mock();
    // Requests: one per 100 ms; tokens: 10 at once, 10 per 100 ms: each call takes 5 tokens,
    // so tokens allow two calls per 100 ms and requests bind.
    let keyed = KeyedMultiLimiter::new([
        (REQUESTS, Rate::per_second(10).burst(1)),
        (TOKENS, Rate::per_second(100).burst(10)),
    ])
    .unwrap()
    .with_clock(clock);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..5 {
                    keyed.acquire(&"shared", &[(TOKENS, 5)]).unwrap();
                }
            });
        }
    });
    assert!(
        time.now() >= tollgate::Nanos::from_millis(1_900),
        "{:?}",
        time.now()
    );
    assert_eq!(keyed.stats().admitted, 20);
}
