//! tollgate beside its peers (`governor` 0.10, `ratelimit` 2), in the same run, on the same
//! machine: the figures to compare are the ratios, not the absolute times.
//!
//! Run with `cargo bench --bench peers`, then `python3 benches/ratios.py`. Cases:
//! (a) `try_acquire` always allowed, 1 thread;
//! (b) the same from 2 threads on one shared limiter (time per pair of decisions made in
//!     parallel: the inverse of the throughput);
//! (c) always rejected, 1 thread and 2 threads;
//! (d) an acquire of cost 10, always allowed;
//! (e) a `MultiLimiter` decision on requests + tokens (`try_acquire`, the permit dropped), beside
//!     two single GCRA decisions (`tollgate_gcra_pair`: cost 1, then cost 100, on two
//!     `RateLimiter`s), always allowed and always rejected; `ratios.py` divides by the pair.
//!
//! tollgate runs as GCRA and, in (a)–(c), as the three other bucket algorithms (continuous GCRA,
//! token bucket, leaky bucket: the same decisions, also lock-free on GCRA's word).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use governor::{Quota, RateLimiter as Governor};
use ratelimit::Ratelimiter;
use tollgate::algorithm::{Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, TokenBucket};
use tollgate::{Limits, MultiLimiter, Rate, RateLimiter, REQUESTS, TOKENS};

const FAST: u32 = 1_000_000_000;

/// The limiters under test, each configured to always admit (`fast`) or always refuse.
fn tollgate<A: Algorithm>(fast: bool) -> RateLimiter<A> {
    let limiter = if fast {
        RateLimiter::with_algorithm(Rate::new(FAST.into(), Duration::from_secs(1)))
    } else {
        RateLimiter::with_algorithm(Rate::per_hour(1).burst(1))
    };
    if !fast {
        limiter.try_acquire().unwrap();
    }
    limiter
}

type DirectGovernor = governor::DefaultDirectRateLimiter;

fn governor(fast: bool) -> DirectGovernor {
    let quota = if fast {
        Quota::per_second(NonZeroU32::new(FAST).unwrap())
    } else {
        Quota::per_hour(NonZeroU32::new(1).unwrap())
    };
    let limiter = Governor::direct(quota);
    if !fast {
        limiter.check().unwrap();
    }
    limiter
}

fn ratelimit(fast: bool) -> Ratelimiter {
    if fast {
        Ratelimiter::builder(FAST.into())
            .max_tokens(FAST.into())
            .initial_available(FAST.into())
            .build()
            .unwrap()
    } else {
        Ratelimiter::builder(1)
            .period(Duration::from_secs(3_600))
            .max_tokens(1)
            .initial_available(0)
            .build()
            .unwrap()
    }
}

/// Runs `decide` `iters` times on each of `threads` threads started together; returns the wall
/// time (criterion divides it by `iters`).
fn parallel(threads: usize, iters: u64, decide: &(dyn Fn() + Sync)) -> Duration {
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                for _ in 0..iters {
                    decide();
                }
            });
        }
        start.wait();
        // The scope joins the threads before returning.
        Instant::now()
    })
    .elapsed()
}

/// One tollgate algorithm's `try_acquire` on `threads` threads sharing one limiter.
fn bench_tollgate<A: Algorithm>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    threads: usize,
    fast: bool,
) {
    let limiter = tollgate::<A>(fast);
    group.bench_function(BenchmarkId::new(name, threads), |b| {
        b.iter_custom(|iters| {
            parallel(threads, iters, &|| {
                black_box(limiter.try_acquire().is_ok());
            })
        })
    });
}

fn bench_decisions(c: &mut Criterion, name: &str, fast: bool) {
    let mut group = c.benchmark_group(name);
    for threads in [1usize, 2] {
        bench_tollgate::<GcraVirtual>(&mut group, "tollgate_gcra", threads, fast);
        bench_tollgate::<GcraContinuous>(&mut group, "tollgate_gcra_continuous", threads, fast);
        bench_tollgate::<TokenBucket>(&mut group, "tollgate_token_bucket", threads, fast);
        bench_tollgate::<LeakyBucket>(&mut group, "tollgate_leaky_bucket", threads, fast);
        let g = governor(fast);
        group.bench_function(BenchmarkId::new("governor", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|| {
                    black_box(g.check().is_ok());
                })
            })
        });
        let r = ratelimit(fast);
        group.bench_function(BenchmarkId::new("ratelimit", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|| {
                    black_box(r.try_wait().is_ok());
                })
            })
        });
    }
    group.finish();
}

fn allowed(c: &mut Criterion) {
    bench_decisions(c, "allowed", true);
}

fn rejected(c: &mut Criterion) {
    bench_decisions(c, "rejected", false);
}

fn cost_10(c: &mut Criterion) {
    let mut group = c.benchmark_group("cost_10");
    let t = tollgate::<GcraVirtual>(true);
    group.bench_function("tollgate_gcra", |b| {
        b.iter(|| black_box(t.acquire_n(10).is_ok()))
    });
    let tb = tollgate::<TokenBucket>(true);
    group.bench_function("tollgate_token_bucket", |b| {
        b.iter(|| black_box(tb.acquire_n(10).is_ok()))
    });
    let g = governor(true);
    let ten = NonZeroU32::new(10).unwrap();
    group.bench_function("governor", |b| b.iter(|| black_box(g.check_n(ten).is_ok())));
    let r = ratelimit(true);
    group.bench_function("ratelimit", |b| {
        b.iter(|| black_box(r.try_wait_n(10).is_ok()))
    });
    group.finish();
}

/// (e): requests + tokens on one `MultiLimiter` against the same two decisions on two GCRA
/// `RateLimiter`s.
fn multi(c: &mut Criterion) {
    for fast in [true, false] {
        let mut group = c.benchmark_group(if fast {
            "multi_allowed"
        } else {
            "multi_rejected"
        });
        let costs = [(REQUESTS, 1), (TOKENS, 100)];
        let limits = if fast {
            let rate = Rate::new(FAST.into(), Duration::from_secs(1));
            Limits::new().rate(REQUESTS, rate).rate(TOKENS, rate)
        } else {
            Limits::new()
                .rate(REQUESTS, Rate::per_hour(1))
                .rate(TOKENS, Rate::per_hour(100))
        };
        let m = MultiLimiter::new(limits).unwrap();
        let (requests, tokens) = if fast {
            let rate = Rate::new(FAST.into(), Duration::from_secs(1));
            (RateLimiter::new(rate), RateLimiter::new(rate))
        } else {
            (
                RateLimiter::new(Rate::per_hour(1)),
                RateLimiter::new(Rate::per_hour(100)),
            )
        };
        if !fast {
            drop(m.try_acquire(&costs).unwrap());
            requests.try_acquire().unwrap();
            tokens.try_acquire_n(100).unwrap();
        }
        group.bench_function("tollgate_multi", |b| {
            b.iter(|| black_box(m.try_acquire(black_box(&costs)).is_ok()))
        });
        group.bench_function("tollgate_gcra_pair", |b| {
            b.iter(|| {
                black_box(requests.try_acquire().is_ok());
                black_box(tokens.try_acquire_n(black_box(100)).is_ok())
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = peers;
    config = config();
    targets = allowed, rejected, cost_10, multi
}
criterion_main!(peers);
