//! tollgate's per-key limiters beside governor's keyed limiter (`DefaultKeyedRateLimiter`, a
//! `dashmap` of one atomic word per key), in the same run: the figures to compare are the
//! ratios, not the absolute times.
//!
//! Run with `cargo bench --bench keyed`, then `python3 benches/keyed_ratios.py` (`--save` and
//! `--spread` for several runs: see the script). Cases: a decision on a key already present
//! (one of [`KEYS`] `u64` keys, taken in turn), always allowed (`*_allowed`) and always
//! rejected (`*_rejected`), on 1 thread and on 2 threads sharing one limiter (time per pair
//! of decisions made in parallel: the inverse of the throughput; the two threads walk the keys
//! from opposite ends):
//!
//! - `keyed_*`: one rate per key, `KeyedLimiter::try_acquire` against governor's `check_key`.
//! - `keyed_two_*`: requests and tokens per key (one request and [`TOKENS_PER_CALL`] tokens a
//!   call), `KeyedMultiLimiter::try_acquire` (both resources or neither) against two governor
//!   keyed limiters side by side (`check_key` on the requests' then `check_key_n` on the
//!   tokens'; governor has no all-or-nothing, so a call its requests refuse stops there, and
//!   one its tokens refuse has already used a request). Rejected: the requests refuse.
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
use tollgate::{KeyedLimiter, KeyedMultiLimiter, Rate, REQUESTS, TOKENS};

/// Keys present in each limiter.
const KEYS: u64 = 1_000;
/// The always-allowed rate: a burst of 10⁹ per key, one unit regenerating every 86.4 µs, so
/// that a key's state never becomes fresh during the run (a key whose state is fresh may be
/// forgotten by tollgate, which would then measure new keys).
const FAST_BURST: u32 = 1_000_000_000;
const FAST_INTERVAL: Duration = Duration::from_nanos(86_400);

/// The always-allowed rate, or one per hour (rejected after the first).
fn rate(fast: bool) -> Rate {
    if fast {
        Rate::new(FAST_BURST.into(), FAST_INTERVAL * FAST_BURST)
    } else {
        Rate::per_hour(1)
    }
}

/// governor's quota for [`rate`].
fn quota(fast: bool) -> Quota {
    if fast {
        Quota::with_period(FAST_INTERVAL)
            .unwrap()
            .allow_burst(NonZeroU32::new(FAST_BURST).unwrap())
    } else {
        Quota::per_hour(NonZeroU32::new(1).unwrap())
    }
}

/// Tokens each call of the two-resource cases takes.
const TOKENS_PER_CALL: u32 = 10;

fn tollgate(fast: bool) -> KeyedLimiter<u64> {
    let limiter = KeyedLimiter::new(rate(fast));
    for key in 0..KEYS {
        limiter.try_acquire(&key).unwrap();
    }
    limiter
}

fn governor(fast: bool) -> DefaultKeyedRateLimiter<u64> {
    let limiter = Governor::keyed(quota(fast));
    for key in 0..KEYS {
        limiter.check_key(&key).unwrap();
    }
    limiter
}

/// Requests (always allowed, or one per hour) and tokens (always allowed) per key.
fn tollgate_two(fast: bool) -> KeyedMultiLimiter<u64, 2> {
    let limiter = KeyedMultiLimiter::new([(REQUESTS, rate(fast)), (TOKENS, rate(true))]).unwrap();
    for key in 0..KEYS {
        limiter
            .try_acquire(&key, &[(TOKENS, TOKENS_PER_CALL.into())])
            .unwrap();
    }
    limiter
}

/// governor's requests and tokens limiters for [`tollgate_two`].
fn governor_two(fast: bool) -> [DefaultKeyedRateLimiter<u64>; 2] {
    let limiters = [Governor::keyed(quota(fast)), Governor::keyed(quota(true))];
    for key in 0..KEYS {
        assert!(governor_two_decides(&limiters, key));
    }
    limiters
}

/// A call on governor's two limiters: a request, then the tokens.
#[inline]
fn governor_two_decides([requests, tokens]: &[DefaultKeyedRateLimiter<u64>; 2], key: u64) -> bool {
    let tokens_per_call = NonZeroU32::new(TOKENS_PER_CALL).unwrap();
    requests.check_key(&key).is_ok()
        && tokens
            .check_key_n(&key, tokens_per_call)
            .is_ok_and(|fits| fits.is_ok())
}

/// One decision on the key of thread `thread`'s `i`-th decision.
type Decide<'a> = Box<dyn Fn(usize, u64) + Sync + 'a>;

/// A case: its group's name, tollgate's decision and governor's (each owning its limiters,
/// built with their keys present).
type Case = (String, Decide<'static>, Decide<'static>);

/// The cases whose decisions are allowed (`fast`) or rejected.
fn cases(fast: bool) -> [Case; 2] {
    let verdict = if fast { "allowed" } else { "rejected" };
    let t = tollgate(fast);
    let g = governor(fast);
    let t2 = tollgate_two(fast);
    let g2 = governor_two(fast);
    [
        (
            format!("keyed_{verdict}"),
            Box::new(move |thread, i| {
                black_box(t.try_acquire(&key_of(thread, i)).is_ok());
            }),
            Box::new(move |thread, i| {
                black_box(g.check_key(&key_of(thread, i)).is_ok());
            }),
        ),
        (
            format!("keyed_two_{verdict}"),
            Box::new(move |thread, i| {
                let costs = [(TOKENS, u64::from(TOKENS_PER_CALL))];
                black_box(t2.try_acquire(&key_of(thread, i), &costs).is_ok());
            }),
            Box::new(move |thread, i| {
                black_box(governor_two_decides(&g2, key_of(thread, i)));
            }),
        ),
    ]
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

fn bench(c: &mut Criterion, fast: bool) {
    for (group, ours, theirs) in cases(fast) {
        let mut group = c.benchmark_group(group);
        for threads in [1usize, 2] {
            group.bench_function(BenchmarkId::new("tollgate", threads), |b| {
                b.iter_custom(|iters| parallel(threads, iters, &ours))
            });
            group.bench_function(BenchmarkId::new("governor", threads), |b| {
                b.iter_custom(|iters| parallel(threads, iters, &theirs))
            });
        }
        group.finish();
    }
}

/// Rounds of the interleaved comparison, and decisions per thread in each measurement.
const ROUNDS: usize = 9;
const DECISIONS: u64 = 2_000_000;

/// Each case measured interleaved (see the module's doc), printed as
/// `interleaved keyed_allowed/1: ratio 0.97 [0.91 – 1.04], tollgate 41.0 ns, governor 42.2 ns`.
fn interleaved() {
    for (group, ours, theirs) in cases(true).into_iter().chain(cases(false)) {
        for threads in [1usize, 2] {
            let per_decision = |decide: &Decide| {
                parallel(threads, DECISIONS, decide).as_nanos() as f64 / DECISIONS as f64
            };
            let rounds: Vec<(f64, f64)> = (0..ROUNDS)
                .map(|round| {
                    if round % 2 == 0 {
                        (per_decision(&ours), per_decision(&theirs))
                    } else {
                        let theirs = per_decision(&theirs);
                        (per_decision(&ours), theirs)
                    }
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
    bench(c, true);
}

fn rejected(c: &mut Criterion) {
    bench(c, false);
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
