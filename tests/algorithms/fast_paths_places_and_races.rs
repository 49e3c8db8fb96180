//! The receipts' places (reservations that went at once, kept without the lock) and the
//! lock-free path under races: stale cancel handles, drops, settles and cancels on many threads,
//! rate changes while threads police, and exact counts and usage throughout.
//!
//! Nothing here sleeps: every limiter runs on a mock clock, except a few real-thread races.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tollgate::algorithm::{
    Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{
    AcquireError, CancelHandle, Clock, Limits, ModelLimiter, MultiLimiter, Nanos, Rate,
    RateLimiter, Reservation, Resource, Runner, REQUESTS, TOKENS,
};

use crate::support;

// ---------------------------------------------------------------------------------------------
// Receipts kept in places (reservations that went at once without a concurrency slot)
// ---------------------------------------------------------------------------------------------

/// A limiter on a frozen mock clock whose units never come back during a test: every charge
/// kept is visible in `in_use`, exactly.
fn frozen_limiter(burst: u64) -> RateLimiter {
    let (clock, _time) = Clock::mock();
    RateLimiter::new(Rate::per_second(1_000).burst(burst)).with_clock(clock)
}

/// More than 32 live reservations (some in places, the rest by id), their cancel handles kept
/// after the reservations are dropped and their places handed out again: the stale handles
/// cancel nothing, the new reservations settle and cancel exactly.
#[test]
fn stale_cancel_handles_cancel_nothing_once_their_places_are_reused() {
    let limiter = frozen_limiter(1_000);
    let old: Vec<Reservation> = (0..40).map(|_| limiter.reserve(1).unwrap()).collect();
    let stale: Vec<_> = old.iter().map(Reservation::cancel_handle).collect();
    drop(old);
    assert_eq!(limiter.available(), 960); // the dropped keep their charges
    let new: Vec<Reservation> = (0..40).map(|_| limiter.reserve(2).unwrap()).collect();
    assert_eq!(limiter.available(), 880);
    for handle in &stale {
        handle.cancel();
    }
    assert_eq!(
        limiter.available(),
        880,
        "a stale handle cancelled someone else"
    );
    for reservation in &new {
        reservation.settle(3).unwrap();
    }
    assert_eq!(limiter.available(), 840);
    let handles: Vec<_> = new.iter().map(Reservation::cancel_handle).collect();
    for handle in &handles[..20] {
        handle.cancel();
    }
    assert_eq!(limiter.available(), 900);
    for (index, reservation) in new.iter().enumerate() {
        let settled = reservation.settle(1);
        if index < 20 {
            assert_eq!(settled, Err(AcquireError::Cancelled), "settle after cancel");
        } else {
            assert_eq!(settled, Ok(()));
        }
    }
    assert_eq!(limiter.available(), 940);
    drop(new);
    for handle in handles.iter().chain(&stale) {
        handle.cancel(); // cancels nothing: every reservation is gone
    }
    assert_eq!(limiter.available(), 940);
    assert_eq!(limiter.stats().in_use, 60);
}

/// What one thread of [`reservations_dropped_settled_and_cancelled_on_many_threads_keep_exact_counts`]
/// does with its `index`th reservation; returns the units it keeps.
fn churn_one(limiter: &RateLimiter, index: u64, keep_alive: &mut Vec<Reservation>) -> u64 {
    let cost = 1 + index % 5;
    let reservation = limiter.reserve(cost).unwrap();
    match index % 6 {
        0 => cost, // dropped: keeps its charge
        1 => {
            reservation.cancel();
            0
        }
        2 => {
            reservation.settle(cost + 2).unwrap();
            cost + 2
        }
        3 => {
            reservation.settle(7).unwrap();
            reservation.cancel();
            0
        }
        4 => {
            let handle = reservation.cancel_handle();
            drop(reservation);
            handle.cancel(); // after the drop: its place may already serve someone else
            cost
        }
        _ => {
            keep_alive.push(reservation);
            cost
        }
    }
}

/// Threads reserve, settle, cancel and drop (dropping marks a place without the lock) while
/// another switches the rate back and forth: on a frozen clock every unit kept is in use at
/// the end, no more, no less.
#[test]
fn reservations_dropped_settled_and_cancelled_on_many_threads_keep_exact_counts() {
    let burst = 10_000_000;
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(1_000).burst(burst)).with_clock(clock);
    let stop = AtomicBool::new(false);
    let kept = std::thread::scope(|scope| {
        let _stop = support::SetOnDrop(&stop);
        scope.spawn(|| {
            let rates = [
                Rate::per_second(1_000).burst(burst),
                Rate::per_second(250).burst(burst),
            ];
            let mut switches = 0;
            while !stop.load(Ordering::Relaxed) || switches < 10 {
                limiter.set_rate(rates[switches % 2]).unwrap();
                switches += 1;
                std::thread::yield_now();
            }
            limiter.set_rate(rates[0]).unwrap();
        });
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let limiter = &limiter;
                scope.spawn(move || {
                    let mut alive = Vec::new();
                    let kept: u64 = (0..3_000)
                        .map(|i| churn_one(limiter, i * 4 + worker, &mut alive))
                        .sum();
                    (kept, alive)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        results
    });
    let total: u64 = kept.iter().map(|(units, _)| units).sum();
    assert_eq!(limiter.stats().in_use, total);
    assert_eq!(limiter.available(), burst - total);
    // The reservations still alive settle and cancel exactly after all that.
    let alive: Vec<&Reservation> = kept.iter().flat_map(|(_, alive)| alive).collect();
    let held: u64 = alive.iter().map(|r| r.cost()).sum();
    for reservation in &alive {
        reservation.settle(0).unwrap();
    }
    assert_eq!(limiter.stats().in_use, total - held);
}

/// Permits on a `MultiLimiter` through the places: more than 32 alive, stale cancel handles,
/// a panic unwinding through permits, usage exact throughout.
#[test]
fn multi_limiter_permits_keep_exact_usage_through_places_and_panics() {
    let (clock, _time) = Clock::mock();
    let limits = Limits::new().rate("tokens", Rate::per_second(1_000).burst(100_000));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let used = |api: &MultiLimiter| api.usage()[0].1.charged();
    let first: Vec<_> = (0..50)
        .map(|_| api.try_acquire(&[("tokens", 10)]).unwrap())
        .collect();
    let stale: Vec<_> = first.iter().map(|p| p.cancel_handle()).collect();
    drop(first);
    let second: Vec<_> = (0..50)
        .map(|_| api.try_acquire(&[("tokens", 20)]).unwrap())
        .collect();
    assert_eq!(used(&api), 1_500);
    stale.iter().for_each(CancelHandle::cancel);
    assert_eq!(used(&api), 1_500, "a stale handle cancelled a newer permit");
    for permit in &second[..25] {
        permit.settle("tokens", 4).unwrap();
    }
    assert_eq!(used(&api), 500 + 25 * 4 + 25 * 20);
    // A thread panics while holding permits: unwinding drops them, their charges stay.
    let panicked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _held: Vec<_> = (0..40)
                    .map(|_| api.try_acquire(&[("tokens", 1)]).unwrap())
                    .collect();
                panic!("deliberate panic while holding permits");
            })
            .join()
    });
    assert!(panicked.is_err());
    assert_eq!(used(&api), 1_100 + 40);
    for permit in second {
        permit.cancel();
    }
    assert_eq!(used(&api), 540);
    assert_eq!(api.active(), 0);
}

/// A concurrency-limited `MultiLimiter` (permits hold slots: no places) mixed with a panic: the
/// slots come back, and another caller gets one at once.
#[test]
fn a_panic_while_holding_slots_frees_them() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(1_000_000).max_parallel(3))
        .unwrap()
        .with_clock(clock);
    let panicked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _held: Vec<_> = (0..3).map(|_| api.try_acquire(&[]).unwrap()).collect();
                assert_eq!(api.active(), 3);
                panic!("deliberate panic while holding slots");
            })
            .join()
    });
    assert!(panicked.is_err());
    assert_eq!(api.active(), 0);
    let again: Vec<_> = (0..3).map(|_| api.try_acquire(&[]).unwrap()).collect();
    assert_eq!(api.active(), 3);
    drop(again);
}

/// Idle models made from the default are forgotten, also when their permits were dropped (their
/// places marked, not yet taken back); a model whose permit is alive, or whose units have not
/// come back, is kept, and its permit still settles on the limiter the model maps to.
#[test]
fn model_limiter_forgets_only_idle_models_with_dropped_permits() {
    let (clock, time) = Clock::mock();
    let models = ModelLimiter::builder()
        .default(Limits::new().rate("tokens", Rate::per_second(1_000)))
        .with_clock(clock)
        .build()
        .unwrap();
    let alive = models.try_acquire("alive", &[("tokens", 5)]).unwrap();
    drop(models.try_acquire("owing", &[("tokens", 900)]).unwrap());
    for model in 0..200 {
        drop(
            models
                .try_acquire(&format!("idle-{model}"), &[("tokens", 1)])
                .unwrap(),
        );
        time.advance(Duration::from_millis(1)); // model's one unit comes back by the next
    }
    let stats = models.stats();
    assert!(
        stats.contains_key("alive"),
        "a model with a live permit was forgotten"
    );
    assert!(
        stats.len() < 150,
        "idle models were not forgotten: {}",
        stats.len()
    );
    alive.settle("tokens", 50).unwrap();
    let limiter = models.limiter("alive").unwrap();
    assert_eq!(
        limiter.usage()[0].1.charged(),
        50,
        "the permit settled on a forgotten limiter"
    );
}

/// The Runner with a concurrency limit and per-job costs: 10⁴ jobs, every result present and in
/// order, on a mock clock.
#[test]
fn the_runner_finishes_ten_thousand_jobs_with_every_result() {
    let (clock, _time) = Clock::mock();
    let mut runner = Runner::new(|job: &u64| Ok::<u64, String>(job * 2))
        .resource(Resource::new("requests", Rate::per_second(2_000)).per_job(|_| 1))
        .resource(Resource::new("points", Rate::per_second(50_000)).per_job(|job: &u64| job % 7))
        .max_concurrent(8)
        .with_clock(clock);
    runner.schedule_all(0..10_000u64).unwrap();
    let report = runner.run();
    assert!(!report.interrupted);
    let (results, errors) = report.into_parts();
    assert_eq!(results.len(), 10_000);
    for (job, result) in results.iter().enumerate() {
        assert_eq!(*result, Some(job as u64 * 2), "job {job}");
    }
    assert!(errors.iter().all(Vec::is_empty));
}

// ---------------------------------------------------------------------------------------------
// The lock-free path racing rate changes
// ---------------------------------------------------------------------------------------------

/// One admission seen by a worker: the clock read just before and just after the call (it was
/// decided at an instant in between), and its cost.
type Admission = (Nanos, Nanos, u64);

/// Many threads police a token bucket lock-free while another advances the mock clock and
/// switches the rate between a tight and a loose one: in any window of one period, no more is
/// admitted than the loose rate allows (its burst, plus one unit per loose emission interval).
#[test]
fn no_window_admits_more_than_the_looser_rate_while_the_rate_changes() {
    let period = Duration::from_secs(1);
    let tight = Rate::new(100, period).burst(10);
    let loose = Rate::new(400, period).burst(40);
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::token_bucket(tight).with_clock(clock);
    let stop = AtomicBool::new(false);
    // Workers running, and admissions so far (the burst is there at once, before the clock moves).
    let (running, admissions_so_far) = (AtomicU64::new(0), AtomicU64::new(0));
    let admissions: Vec<Admission> = std::thread::scope(|scope| {
        let _stop = support::SetOnDrop(&stop);
        let workers: Vec<_> = (0..3u64)
            .map(|worker| {
                let (limiter, time, stop) = (&limiter, &time, &stop);
                let (running, admissions_so_far) = (&running, &admissions_so_far);
                scope.spawn(move || {
                    running.fetch_add(1, Ordering::Relaxed);
                    let mut admitted = Vec::new();
                    let mut i = worker;
                    while !stop.load(Ordering::Relaxed) {
                        let cost = 1 + i % 2;
                        i += 3;
                        let before = time.now();
                        if limiter.try_acquire_n(cost).is_ok() {
                            admissions_so_far.fetch_add(1, Ordering::Relaxed);
                            admitted.push((before, time.now(), cost));
                        }
                    }
                    admitted
                })
            })
            .collect();
        // Every worker under way before the clock moves (on a loaded machine the clock could
        // otherwise run its whole course before any of them ran).
        support::wait_until("every worker running, one admitted", || {
            running.load(Ordering::Relaxed) == 3 && admissions_so_far.load(Ordering::Relaxed) > 0
        });
        for step in 0..20_000u32 {
            time.advance(Duration::from_micros(100));
            if step % 37 == 0 {
                let rate = if step % 74 == 0 { loose } else { tight };
                limiter.set_rate(rate).unwrap();
            }
            if step % 16 == 0 {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    let loose_pace = loose.pace().unwrap();
    let bound = loose_pace.burst() + 400 + 1;
    let window = Nanos::from(period);
    for &(start, _, _) in &admissions {
        let within: u64 = admissions
            .iter()
            .filter(|(before, after, _)| *before >= start && *after <= start.saturating_add(window))
            .map(|(_, _, cost)| cost)
            .sum();
        assert!(
            within <= bound,
            "{within} admitted within one period from {start:?}"
        );
    }
    let elapsed = time.now().as_u64() / loose_pace.interval();
    let total: u64 = admissions.iter().map(|(_, _, cost)| cost).sum();
    assert!(
        total <= loose_pace.burst() + elapsed + 1,
        "{total} admitted in all"
    );
    assert!(total > 0);
}

/// One thread reserves the whole burst (it waits behind what the others took) and cancels it,
/// advancing the mock clock a little each time, while others police lock-free: the cancelled
/// reservations give back exactly their own charges, so the lock-free admissions stay within
/// the rate. (A charge's "queue end before it", read apart from the charge, would take a
/// lock-free admission landing in between out with the cancelled charge.)
fn race_reserve_cancel_with_lock_free<A: Algorithm>(rounds: u32) -> (u64, u64) {
    let rate = Rate::per_second(1_000).burst(8);
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    let stop = AtomicBool::new(false);
    let admitted = std::thread::scope(|scope| {
        let _stop = support::SetOnDrop(&stop);
        let police = scope.spawn(|| {
            let mut admitted = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if limiter.try_acquire().is_ok() {
                    admitted += 1;
                }
            }
            admitted
        });
        for _ in 0..rounds {
            if let Ok(reservation) = limiter.reserve(8) {
                reservation.cancel();
            }
            time.advance(Duration::from_micros(5));
        }
        stop.store(true, Ordering::Relaxed);
        police.join().unwrap()
    });
    let interval = rate.pace().unwrap().interval();
    (admitted, 8 + time.now().as_u64() / interval + 1)
}

#[test]
fn cancelled_waiting_reservations_give_back_only_their_own_charges() {
    for _ in 0..3 {
        let (admitted, bound) = race_reserve_cancel_with_lock_free::<GcraVirtual>(100_000);
        assert!(
            admitted <= bound,
            "gcra: {admitted} admitted, at most {bound} allowed"
        );
        let (admitted, bound) = race_reserve_cancel_with_lock_free::<TokenBucket>(100_000);
        assert!(
            admitted <= bound,
            "token bucket: {admitted} admitted, at most {bound} allowed"
        );
    }
}

/// Threads hammer one limiter on a frozen mock clock: exactly the burst is admitted, whichever
/// algorithm and path, and the counts add up to every call.
fn hammer<A: Algorithm>() -> tollgate::LimiterStats {
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(Rate::new(1_000, Duration::from_secs(1_000)))
        .with_clock(clock);
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let limiter = &limiter;
            scope.spawn(move || {
                for i in 0..5_000u64 {
                    let _ = limiter.try_acquire_n(1 + (i + thread) % 3);
                }
            });
        }
    });
    limiter.stats()
}

#[test]
fn concurrent_callers_get_exactly_the_burst_and_exact_counts() {
    for stats in [
        hammer::<GcraVirtual>(),
        hammer::<GcraContinuous>(),
        hammer::<TokenBucket>(),
        hammer::<LeakyBucket>(),
        hammer::<SlidingWindow>(),
    ] {
        assert_eq!(stats.admitted + stats.rejected, 20_000, "{stats:?}");
        assert_eq!(stats.available, 1_000 - stats.in_use, "{stats:?}");
        // Costs of 1 to 3: the last units may be left when only larger costs came after.
        assert!(stats.in_use >= 998 && stats.in_use <= 1_000, "{stats:?}");
    }
}

/// Every `Clock::new()` carries its own copy of the process's calibration: clocks made on other
/// threads, later, read the same timeline (real time; generous bounds).
#[test]
fn real_clocks_made_apart_read_one_timeline() {
    let first = Clock::new();
    let before = first.now();
    let (made_there, read_there) = std::thread::spawn(|| {
        let clock = Clock::new();
        let reading = clock.now();
        (clock, reading)
    })
    .join()
    .unwrap();
    let after = first.now();
    let slack = Nanos::from_millis(50);
    assert!(
        read_there.saturating_add(slack) >= before,
        "{read_there:?} < {before:?}"
    );
    assert!(
        read_there <= after.saturating_add(slack),
        "{read_there:?} > {after:?}"
    );
    let here = made_there.now();
    let again = first.now();
    assert!(here <= again.saturating_add(slack) && again <= here.saturating_add(slack));
}

/// Costs named twice, in any order, across resources: the sum is charged (and refused whole
/// when the sum exceeds the burst, though each part fits); an unknown resource takes nothing.
#[test]
fn multi_costs_named_twice_in_any_order_cost_their_sum() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(100).tpm(1_000))
        .unwrap()
        .with_clock(clock);
    let usage =
        |api: &MultiLimiter| -> Vec<u64> { api.usage().iter().map(|u| u.1.charged()).collect() };
    let permit = api
        .try_acquire(&[(TOKENS, 5), (REQUESTS, 1), (TOKENS, 7)])
        .unwrap();
    assert_eq!((permit.cost(TOKENS), permit.cost(REQUESTS)), (12, 1));
    assert_eq!(usage(&api), [1, 12]);
    assert!(matches!(
        api.try_acquire(&[(TOKENS, 600), (TOKENS, 600)]),
        Err(tollgate::LimitError::ExceedsCapacity { cost: 1_200, .. })
    ));
    assert!(api.try_acquire(&[(TOKENS, 3), ("nope", 1)]).is_err());
    assert_eq!(usage(&api), [1, 12], "a refused acquire took something");
    permit.settle(TOKENS, 2).unwrap();
    assert_eq!(usage(&api), [1, 2]);
}

/// Permits dropped (a flag, without the lock), cancelled and settled on many threads while
/// another switches a resource's rate: usage at the end is exactly what was kept.
#[test]
fn multi_permits_dropped_on_many_threads_keep_exact_usage() {
    let burst = 10_000_000;
    let (clock, _time) = Clock::mock();
    let limits = Limits::new().rate(TOKENS, Rate::per_second(1_000).burst(burst));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let stop = AtomicBool::new(false);
    let kept: u64 = std::thread::scope(|scope| {
        let _stop = support::SetOnDrop(&stop);
        scope.spawn(|| {
            let mut fast = true;
            while !stop.load(Ordering::Relaxed) {
                let per_second = if fast { 1_000 } else { 400 };
                api.set_rate(TOKENS, Rate::per_second(per_second).burst(burst))
                    .unwrap();
                fast = !fast;
                std::thread::yield_now();
            }
            api.set_rate(TOKENS, Rate::per_second(1_000).burst(burst))
                .unwrap();
        });
        let workers: Vec<_> = (0..4u64)
            .map(|worker| {
                let api = &api;
                scope.spawn(move || {
                    let mut alive = Vec::new();
                    let mut kept = 0;
                    for i in 0..2_500u64 {
                        let cost = 1 + (i + worker) % 4;
                        let permit = api.try_acquire(&[(TOKENS, cost)]).unwrap();
                        kept += match (i + worker) % 5 {
                            0 => cost,
                            1 => {
                                permit.cancel();
                                0
                            }
                            2 => {
                                permit.settle(TOKENS, cost * 3).unwrap();
                                cost * 3
                            }
                            3 => {
                                permit.cancel_handle().cancel();
                                drop(permit);
                                0
                            }
                            _ => {
                                alive.push(permit);
                                cost
                            }
                        };
                    }
                    drop(alive);
                    kept
                })
            })
            .collect();
        let kept = workers.into_iter().map(|w| w.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        kept
    });
    assert_eq!(api.usage()[0].1.charged(), kept);
    assert_eq!(api.active(), 0);
}
