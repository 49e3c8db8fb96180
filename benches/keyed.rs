//! tollgate's `KeyedLimiter` beside governor's keyed limiter (`DefaultKeyedRateLimiter`, a
//! `dashmap` of one atomic word per key), in the same run: the figures to compare are the
//! ratios, not the absolute times.
//!
//! Run with `cargo bench --bench keyed`, then `python3 benches/keyed_ratios.py` (`--save` and
//! `--spread` for several runs: see the script). Cases: a `try_acquire` on a key already present
//! (one of [`KEYS`] `u64` keys, taken in turn), always allowed (`keyed_allowed`) and always
//! rejected (`keyed_rejected`), on 1 thread and on 2 threads sharing one limiter (time per pair
//! of decisions made in parallel: the inverse of the throughput; the two threads walk the keys
//! from opposite ends).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Governor};
use tollgate::{KeyedLimiter, Rate};

/// Keys present in each limiter.
const KEYS: u64 = 1_000;
/// The always-allowed rate: a burst of 10⁹ per key, one unit regenerating every 86.4 µs, so
/// that a key's state never becomes fresh during the run (a key whose state is fresh may be
/// forgotten by tollgate, which would then measure new keys).
const FAST_BURST: u32 = 1_000_000_000;
const FAST_INTERVAL: Duration = Duration::from_nanos(86_400);

fn tollgate(fast: bool) -> KeyedLimiter<u64> {
    let limiter = if fast {
        KeyedLimiter::new(Rate::new(FAST_BURST.into(), FAST_INTERVAL * FAST_BURST))
    } else {
        KeyedLimiter::new(Rate::per_hour(1))
    };
    for key in 0..KEYS {
        limiter.try_acquire(&key).unwrap();
    }
    limiter
}

fn governor(fast: bool) -> DefaultKeyedRateLimiter<u64> {
    let quota = if fast {
        Quota::with_period(FAST_INTERVAL)
            .unwrap()
            .allow_burst(NonZeroU32::new(FAST_BURST).unwrap())
    } else {
        Quota::per_hour(NonZeroU32::new(1).unwrap())
    };
    let limiter = Governor::keyed(quota);
    for key in 0..KEYS {
        limiter.check_key(&key).unwrap();
    }
    limiter
}

/// Runs `decide(thread, i)` for `i` in `0..iters` on each of `threads` threads started
/// together; returns the wall time (criterion divides it by `iters`).
fn parallel(threads: usize, iters: u64, decide: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for thread in 0..threads {
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..iters {
                    decide(thread, i);
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed()
}

/// The key thread `thread` decides on at its `i`-th decision.
#[inline]
fn key_of(thread: usize, i: u64) -> u64 {
    let key = i % KEYS;
    if thread == 0 {
        key
    } else {
        KEYS - 1 - key
    }
}

fn bench(c: &mut Criterion, group: &str, fast: bool) {
    let mut group = c.benchmark_group(group);
    let t = tollgate(fast);
    let g = governor(fast);
    for threads in [1usize, 2] {
        group.bench_function(BenchmarkId::new("tollgate", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|thread, i| {
                    black_box(t.try_acquire(&key_of(thread, i)).is_ok());
                })
            })
        });
        group.bench_function(BenchmarkId::new("governor", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|thread, i| {
                    black_box(g.check_key(&key_of(thread, i)).is_ok());
                })
            })
        });
    }
    group.finish();
}

fn allowed(c: &mut Criterion) {
    bench(c, "keyed_allowed", true);
}

fn rejected(c: &mut Criterion) {
    bench(c, "keyed_rejected", false);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = keyed;
    config = config();
    targets = allowed, rejected
}
criterion_main!(keyed);
