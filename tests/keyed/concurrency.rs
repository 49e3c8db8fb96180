//! Threads hammering keys, new and old: no key ever admits more than its bound, and a key
//! inserted by several threads at once is one key.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tollgate::{Clock, KeyedLimiter, Rate};

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
