//! The adaptive concurrency limit: the seed's figures at explicit instants, backpressure, bad
//! input, and no lost or duplicated permits under threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tollgate::{AdaptiveSemaphore, Clock, Nanos, SemaphoreError};

const S: u64 = 1_000; // the start instant, in seconds

fn at(seconds_after_start: f64) -> Nanos {
    Nanos::new(((S as f64 + seconds_after_start) * 1e9).round() as u64)
}

/// The seed's semaphore: starts at S with `base`, one more every `step_time_s`, on `clock`.
fn seed_semaphore(base: u64, step_time_s: u64, clock: Clock) -> AdaptiveSemaphore {
    AdaptiveSemaphore::builder(base)
        .step_time(Duration::from_secs(step_time_s))
        .start_from(at(0.0))
        .with_clock(clock)
        .build()
        .unwrap()
}

#[test]
fn limit_grows_by_step_every_step_time_from_start() {
    let sem = seed_semaphore(1, 10, Clock::mock().0);
    let expected = [
        (-1.0, 1),
        (0.0, 1),
        (9.9, 1),
        (10.0, 2),
        (20.0, 3),
        (55.0, 6),
    ];
    for (t, limit) in expected {
        assert_eq!(sem.limit_at(at(t)), limit, "at S{t:+}");
    }

    let sem = seed_semaphore(3, 5, Clock::mock().0);
    assert_eq!(sem.limit_at(at(-1.0)), 1);
    assert_eq!(sem.limit_at(at(0.0)), 3);
    assert_eq!(sem.limit_at(at(12.0)), 5);
}

#[test]
fn backpressure_drops_the_limit_pauses_and_ignores_repeats_within_the_pause() {
    let (clock, time) = Clock::mock();
    let sem = seed_semaphore(1, 10, clock);
    time.advance_to(at(100.0));
    assert_eq!(sem.limit(), 11);
    let permits: Vec<_> = (0..7).map(|_| sem.acquire()).collect();
    assert!(sem.backpressure(Duration::from_secs(30)));
    assert_eq!(sem.limit_at(at(100.0)), 1);
    assert_eq!(sem.limit_at(at(129.9)), 1);
    assert_eq!(sem.limit_at(at(130.0)), 6);
    assert_eq!(sem.limit_at(at(140.0)), 7);
    assert_eq!(sem.limit_at(at(150.0)), 8);
    time.advance_to(at(110.0));
    assert!(!sem.backpressure(Duration::from_secs(5)));
    assert_eq!(sem.limit_at(at(130.0)), 6);
    assert_eq!(sem.stats().paused_until, Some(at(130.0)));
    drop(permits);
}

#[test]
fn a_waiter_is_woken_by_the_next_step_not_by_polling() {
    let (clock, time) = Clock::mock();
    let sem = AdaptiveSemaphore::builder(1)
        .step_time(Duration::from_secs(7))
        .with_clock(clock)
        .build()
        .unwrap();
    let _first = sem.acquire();
    let _second = sem.acquire();
    assert_eq!(time.now(), Nanos::from_secs(7));
    assert!(matches!(
        sem.try_acquire(),
        Err(SemaphoreError::NotInTime { .. })
    ));
    let _third = sem.try_acquire_for(Duration::from_secs(7)).unwrap();
    assert_eq!(time.now(), Nanos::from_secs(14));
}

#[test]
fn bad_parameters_are_typed_errors() {
    let name_of = |result: Result<AdaptiveSemaphore, SemaphoreError>| match result {
        Err(SemaphoreError::InvalidParameter { name, .. }) => name,
        other => panic!("expected an invalid parameter, got {other:?}"),
    };
    assert_eq!(name_of(AdaptiveSemaphore::new(0)), "limit");
    assert_eq!(
        name_of(
            AdaptiveSemaphore::builder(2)
                .step_time(Duration::ZERO)
                .build()
        ),
        "step_time"
    );
    assert_eq!(
        name_of(AdaptiveSemaphore::builder(5).max_limit(4).build()),
        "max_limit"
    );
}

#[test]
fn sixteen_threads_times_10_000_acquires_lose_and_duplicate_no_permit() {
    let sem = AdaptiveSemaphore::builder(4).step(0).build().unwrap();
    let inside = AtomicU64::new(0);
    let most = AtomicU64::new(0);
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    let _permit = sem.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    total.fetch_add(1, Ordering::Relaxed);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert!(most.load(Ordering::SeqCst) <= 4);
    assert_eq!(total.load(Ordering::SeqCst), 160_000);
    let stats = sem.stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0));
}
