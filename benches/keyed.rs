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
//!
//! This machine is shared, and a load that changes between criterion's measurement of one
//! limiter and of the other moves their ratio. So before criterion's runs, each case is also
//! measured **interleaved**: [`ROUNDS`] rounds, each timing tollgate and governor one right
//! after the other (in alternating order), printing the median of the rounds' ratios with the
//! lowest and highest.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
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

/// Rounds of the interleaved comparison, and decisions per thread in each measurement.
const ROUNDS: usize = 9;
const DECISIONS: u64 = 2_000_000;

/// Each case measured interleaved (see the module's doc), printed as
/// `interleaved keyed_allowed/1: ratio 0.97 [0.91 – 1.04], tollgate 41.0 ns, governor 42.2 ns`.
fn interleaved() {
    for (group, fast) in [("keyed_allowed", true), ("keyed_rejected", false)] {
        let t = tollgate(fast);
        let g = governor(fast);
        for threads in [1usize, 2] {
            let ours = || {
                parallel(threads, DECISIONS, &|thread, i| {
                    black_box(t.try_acquire(&key_of(thread, i)).is_ok());
                })
            };
            let theirs = || {
                parallel(threads, DECISIONS, &|thread, i| {
                    black_box(g.check_key(&key_of(thread, i)).is_ok());
                })
            };
            let rounds: Vec<(f64, f64)> = (0..ROUNDS)
                .map(|round| {
                    let (ours, theirs) = if round % 2 == 0 {
                        (ours(), theirs())
                    } else {
                        let theirs = theirs();
                        (ours(), theirs)
                    };
                    let per_decision = |time: Duration| time.as_nanos() as f64 / DECISIONS as f64;
                    (per_decision(ours), per_decision(theirs))
                })
                .collect();
            let median = |values: &mut Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            };
            let mut ratios: Vec<f64> = rounds.iter().map(|(ours, theirs)| ours / theirs).collect();
            let mut ours: Vec<f64> = rounds.iter().map(|(ours, _)| *ours).collect();
            let mut theirs: Vec<f64> = rounds.iter().map(|(_, theirs)| *theirs).collect();
            let ratio = median(&mut ratios);
            println!(
                "interleaved {group}/{threads}: ratio {ratio:.2} [{:.2} – {:.2}], \
                 tollgate {:.1} ns, governor {:.1} ns",
                ratios[0],
                ratios[ROUNDS - 1],
                median(&mut ours),
                median(&mut theirs),
            );
        }
    }
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

fn main() {
    interleaved();
    keyed();
    Criterion::default().configure_from_args().final_summary();
}
