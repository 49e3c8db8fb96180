//! The sliding window's decision cost against the number of admissions it has logged, with GCRA
//! (`GcraVirtual`, one instant of state) as the reference in the same run.
//!
//! Run with `cargo bench --bench sliding_window`. Cases, each with 10³, 10⁵ and 10⁶ admissions
//! of cost 1 logged one per millisecond, all within the current hour-long window:
//! (a) `try_take_allowed`: a quantity of 10¹²/hour, so the next `try_take` is admitted (and
//!     logged);
//! (b) `try_take_rejected`: a quantity equal to the admissions, so the window is full and the
//!     next `try_take` is refused (it finds the instant the first entry expires);
//! (c) `try_take_rejected_entries`: the worst case for the log's length: as many units reserved
//!     one per grid instant (2 s) ahead, one entry each, and a full window.
//!
//! And through a limiter (`limiter_try_acquire`): `RateLimiter::sliding_window(rate)`, which
//! decides under the reservation core's lock, against `RateLimiter::new(rate)` (GCRA, lock-free),
//! on a mock clock standing still after 10⁵ acquisitions: `allowed` as (a), one per millisecond;
//! `rejected` as (b) (GCRA's taken at one instant).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tollgate::algorithm::{Algorithm, Decision, GcraVirtual, SlidingWindow};
use tollgate::{Clock, Nanos, Rate, RateLimiter};

const SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];

/// More than any run admits: every `try_take` of case (a) is admitted.
const HUGE: u64 = 1_000_000_000_000;

/// A decision as one word, the form both algorithms' loops hand to `black_box`: the 16-byte
/// `Decision` itself goes through memory as two 8-byte stores read back by one 16-byte load, a
/// store-forwarding stall of several nanoseconds that would swamp decisions of 2 to 5 ns.
fn outcome(decision: Decision) -> u64 {
    match decision {
        Decision::Admitted => 0,
        Decision::NotBefore(at) => at.as_u64(),
        Decision::Never { .. } => 1,
    }
}

/// The instant of the `i`-th admission: one per millisecond (10⁶ of them take 1 000 s).
fn instant(i: u64) -> Nanos {
    Nanos::from_millis(i)
}

/// `algorithm` after `admissions` of cost 1, one per millisecond; returns the instant after.
fn filled<A: Algorithm>(rate: &Rate, admissions: u64) -> (A, Nanos) {
    let mut algorithm = A::new(rate).unwrap();
    for i in 0..admissions {
        assert_eq!(algorithm.try_take(instant(i), 1), Decision::Admitted);
    }
    (algorithm, instant(admissions))
}

/// GCRA holding `admissions` units at one instant: full when the quantity is `admissions`.
fn gcra_filled(rate: &Rate, admissions: u64) -> (GcraVirtual, Nanos) {
    let mut gcra = GcraVirtual::new(rate).unwrap();
    let now = instant(admissions);
    for _ in 0..admissions {
        assert_eq!(gcra.try_take(now, 1), Decision::Admitted);
    }
    (gcra, now)
}

fn allowed(c: &mut Criterion) {
    let mut group = c.benchmark_group("try_take_allowed");
    let rate = Rate::per_hour(HUGE);
    for admissions in SIZES {
        let (mut window, now) = filled::<SlidingWindow>(&rate, admissions);
        group.bench_function(BenchmarkId::new("sliding_window", admissions), |b| {
            b.iter(|| black_box(outcome(window.try_take(black_box(now), 1))))
        });
        let (mut gcra, now) = gcra_filled(&rate, admissions);
        group.bench_function(BenchmarkId::new("gcra_virtual", admissions), |b| {
            b.iter(|| black_box(outcome(gcra.try_take(black_box(now), 1))))
        });
    }
    group.finish();
}

fn rejected(c: &mut Criterion) {
    let mut group = c.benchmark_group("try_take_rejected");
    for admissions in SIZES {
        let rate = Rate::per_hour(admissions);
        let (mut window, now) = filled::<SlidingWindow>(&rate, admissions);
        assert!(matches!(window.try_take(now, 1), Decision::NotBefore(_)));
        group.bench_function(BenchmarkId::new("sliding_window", admissions), |b| {
            b.iter(|| black_box(outcome(window.try_take(black_box(now), 1))))
        });
        let (mut gcra, now) = gcra_filled(&rate, admissions);
        assert!(matches!(gcra.try_take(now, 1), Decision::NotBefore(_)));
        group.bench_function(BenchmarkId::new("gcra_virtual", admissions), |b| {
            b.iter(|| black_box(outcome(gcra.try_take(black_box(now), 1))))
        });
    }
    group.finish();
}

fn rejected_entries(c: &mut Criterion) {
    let mut group = c.benchmark_group("try_take_rejected_entries");
    let grid = Nanos::from_secs(2).as_u64();
    for entries in SIZES {
        let mut window = SlidingWindow::new(&Rate::per_hour(entries)).unwrap();
        for i in 0..entries {
            let at = Nanos::new(i * grid);
            assert_eq!(window.charge_at(Nanos::ZERO, at, 1), at);
        }
        let now = Nanos::from_millis(1);
        assert!(matches!(window.try_take(now, 1), Decision::NotBefore(_)));
        group.bench_function(BenchmarkId::new("sliding_window", entries), |b| {
            b.iter(|| black_box(outcome(window.try_take(black_box(now), 1))))
        });
    }
    group.finish();
}

/// A limiter on a mock clock after `admissions` acquisitions, `spacing` apart; the clock then
/// stands still.
fn limiter_filled<A: Algorithm>(rate: Rate, admissions: u64, spacing: Duration) -> RateLimiter<A> {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    for _ in 0..admissions {
        limiter.try_acquire().unwrap();
        time.advance(spacing);
    }
    limiter
}

fn limiter(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter_try_acquire");
    let admissions = 100_000;
    let spaced = Duration::from_millis(1);
    let window = limiter_filled::<SlidingWindow>(Rate::per_hour(HUGE), admissions, spaced);
    group.bench_function("allowed/sliding_window", |b| {
        b.iter(|| black_box(window.try_acquire()).unwrap())
    });
    let gcra = limiter_filled::<GcraVirtual>(Rate::per_hour(HUGE), admissions, spaced);
    group.bench_function("allowed/gcra_virtual", |b| {
        b.iter(|| black_box(gcra.try_acquire()).unwrap())
    });
    let rate = Rate::per_hour(admissions);
    let window = limiter_filled::<SlidingWindow>(rate, admissions, spaced);
    group.bench_function("rejected/sliding_window", |b| {
        b.iter(|| black_box(window.try_acquire()).unwrap_err())
    });
    let gcra = limiter_filled::<GcraVirtual>(rate, admissions, Duration::ZERO);
    group.bench_function("rejected/gcra_virtual", |b| {
        b.iter(|| black_box(gcra.try_acquire()).unwrap_err())
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = sliding_window;
    config = config();
    targets = allowed, rejected, rejected_entries, limiter
}
criterion_main!(sliding_window);
