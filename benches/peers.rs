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
//!     `RateLimiter`s), always allowed (1 thread) and always rejected (1 and 2 threads, per
//!     parallel pair as in (b)); `ratios.py` divides by the pair. Each case checks that every
//!     decision it timed had the outcome it is named after.
//!
//! tollgate runs as GCRA and, in (a)–(c), as the three other bucket algorithms (continuous GCRA,
//! token bucket, leaky bucket: the same decisions, also lock-free on GCRA's word).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// time (criterion divides it by `iters`) and how many decisions were allowed (counted in each
/// thread, summed after the clock stops).
fn parallel(threads: usize, iters: u64, decide: &(dyn Fn() -> bool + Sync)) -> (Duration, u64) {
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let counts: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    (0..iters)
                        .map(|_| u64::from(black_box(decide())))
                        .sum::<u64>()
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let allowed: Vec<u64> = counts.into_iter().map(|c| c.join().unwrap()).collect();
        (started.elapsed(), allowed.into_iter().sum())
    })
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
        b.iter_custom(|iters| parallel(threads, iters, &|| limiter.try_acquire().is_ok()).0)
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
            b.iter_custom(|iters| parallel(threads, iters, &|| g.check().is_ok()).0)
        });
        let r = ratelimit(fast);
        group.bench_function(BenchmarkId::new("ratelimit", threads), |b| {
            b.iter_custom(|iters| parallel(threads, iters, &|| r.try_wait().is_ok()).0)
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
/// `RateLimiter`s: always allowed on 1 thread, always rejected on 1 and 2 threads. The
/// multi-resource decision twice: with its permit (`try_acquire`, the permit dropped at once)
/// and without (`try_charge`, the pair's like: nothing to settle).
///
/// "Always" is checked, not assumed: a run whose limiters refused an allowed decision (or
/// admitted a rejected one) panics. (Until this check, the pair's tokens limiter, charged 100
/// units every ~30 ns at 10⁹ units/s with a burst of one second, ran out within a second and
/// then refused about two thirds of its decisions: the "allowed" pair was mostly an allowed
/// decision and a rejected one, cheaper than two allowed, so the ratio came out too high.)
fn multi(c: &mut Criterion) {
    for fast in [true, false] {
        let mut group = c.benchmark_group(if fast {
            "multi_allowed"
        } else {
            "multi_rejected"
        });
        let (requests_rate, tokens_rate) = if fast {
            // Never empty: a burst of 2⁴⁰ units drains by at most 100 units per decision.
            let rate = Rate::new(FAST.into(), Duration::from_secs(1)).burst(1 << 40);
            (rate, rate)
        } else {
            (Rate::per_hour(1), Rate::per_hour(100))
        };
        let limits = Limits::new()
            .rate(REQUESTS, requests_rate)
            .rate(TOKENS, tokens_rate);
        let m = MultiLimiter::new(limits).unwrap();
        let requests = RateLimiter::new(requests_rate);
        let tokens = RateLimiter::new(tokens_rate);
        if !fast {
            drop(m.try_acquire(&MULTI_COSTS).unwrap());
            requests.try_acquire().unwrap();
            tokens.try_acquire_n(100).unwrap();
        }
        let multi_decision = || m.try_acquire(black_box(&MULTI_COSTS)).is_ok();
        let charge_decision = || m.try_charge(black_box(&MULTI_COSTS)).is_ok();
        let pair_decision = || {
            // Both decided, whatever the first said (`&`, not `&&`).
            requests.try_acquire().is_ok() & tokens.try_acquire_n(black_box(100)).is_ok()
        };
        let threads: &[usize] = if fast { &[1] } else { &[1, 2] };
        for &threads in threads {
            let deciders: [(&str, &(dyn Fn() -> bool + Sync)); 3] = [
                ("tollgate_multi", &multi_decision),
                ("tollgate_multi_charge", &charge_decision),
                ("tollgate_gcra_pair", &pair_decision),
            ];
            for (name, decide) in deciders {
                let (decided, allowed) = (AtomicU64::new(0), AtomicU64::new(0));
                group.bench_function(BenchmarkId::new(name, threads), |b| {
                    b.iter_custom(|iters| {
                        let (time, count) = parallel(threads, iters, decide);
                        decided.fetch_add(iters * threads as u64, Ordering::Relaxed);
                        allowed.fetch_add(count, Ordering::Relaxed);
                        time
                    })
                });
                let (decided, allowed) = (decided.into_inner(), allowed.into_inner());
                let expected = if fast { decided } else { 0 };
                assert_eq!(
                    allowed,
                    expected,
                    "{name} on {threads} thread(s): {allowed} of {decided} decisions allowed; \
                     the case measures only {} decisions",
                    if fast { "allowed" } else { "rejected" }
                );
            }
        }
        group.finish();
    }
}

/// The requests and tokens of one multi-resource decision in (e).
const MULTI_COSTS: [(&str, u64); 2] = [(REQUESTS, 1), (TOKENS, 100)];

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
