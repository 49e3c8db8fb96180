//! The credit semaphore: the seed's trace, fairness, the starvation bound, and no leaks on
//! errors, timeouts or panics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tollgate::{Clock, CreditEvent, CreditSemaphore, MockTime, Nanos, SemaphoreError};

use crate::support;

fn secs(s: u64) -> Nanos {
    Nanos::from_secs(s)
}

/// Runs `(credits, work seconds)` transactions, submitted in order, on a stepped mock clock that
/// advances one second at a time; returns (entries, exits) in seconds, per transaction.
fn run_trace(
    sem: CreditSemaphore,
    clock: Clock,
    time: MockTime,
    txns: &[(u64, u64)],
    until_s: u64,
) -> (Vec<u64>, Vec<u64>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let hook_log = Arc::clone(&log);
    let sem = sem.on_event(move |event| hook_log.lock().unwrap().push(*event));
    std::thread::scope(|s| {
        // Freed when the steps end (or fail): a transaction still at work then (a trace gone
        // wrong) ends, and the assertions say what went wrong, instead of the scope waiting.
        let _freed = support::ClockFreedOnDrop(&time);
        support::watchdog::watch_this_test();
        for (i, &(credits, work)) in txns.iter().enumerate() {
            let (sem, clock) = (&sem, &clock);
            s.spawn(move || {
                sem.transact(credits, Duration::from_secs(10), || {
                    clock.sleep_until(clock.now().saturating_add(secs(work)));
                })
                .unwrap();
            });
            // Submit in order: the next one starts once this one has entered (and sleeps its
            // work) or queued.
            time.wait_for_sleepers(i + 1);
        }
        // Real time between the steps: a transaction that exits notifies those waiting for its
        // credits, and `support::step` cannot see a notified waiter that has not yet looked.
        for _ in 0..until_s {
            std::thread::sleep(Duration::from_millis(15));
            time.advance(Duration::from_secs(1));
        }
    });
    let log = log.lock().unwrap();
    let at = |want_entry: bool, id: u64| {
        log.iter()
            .find_map(|event| match *event {
                CreditEvent::Entered { id: e, at } if want_entry && e == id => Some(at),
                CreditEvent::Exited { id: e, at, .. } if !want_entry && e == id => Some(at),
                _ => None,
            })
            .map(|at| at.as_u64() / 1_000_000_000)
            .unwrap()
    };
    let ids = 0..txns.len() as u64;
    (
        ids.clone().map(|id| at(true, id)).collect(),
        ids.map(|id| at(false, id)).collect(),
    )
}

#[test]
fn the_seed_trace_reproduces_exactly() {
    let (clock, time) = Clock::mock_stepped();
    let sem = CreditSemaphore::new(40).with_clock(clock.clone());
    let txns = [(20, 3), (30, 1), (30, 5), (5, 4), (20, 5), (20, 1)];
    let (entries, exits) = run_trace(sem, clock.clone(), time.clone(), &txns, 60);
    assert_eq!(entries, [0, 13, 24, 13, 39, 39]);
    assert_eq!(exits, [3, 14, 29, 17, 44, 40]);
}

#[test]
fn all_credits_come_back_after_the_trace() {
    let (clock, time) = Clock::mock_stepped();
    let sem = CreditSemaphore::new(40).with_clock(clock.clone());
    std::thread::scope(|s| {
        s.spawn(|| sem.transact(30, Duration::from_secs(10), || ()).unwrap());
    });
    assert_eq!(sem.stats().pending_refund, 30);
    time.advance(Duration::from_secs(10));
    let stats = sem.stats();
    assert_eq!(
        (stats.available, stats.pending_refund, stats.in_use),
        (40, 0, 0)
    );
}

#[test]
fn fair_on_entry_a_newcomer_queues_behind_waiters_even_when_it_fits() {
    let (clock, time) = Clock::mock_stepped();
    let sem = CreditSemaphore::new(40).with_clock(clock);
    let first = sem.acquire(30, Duration::ZERO).unwrap();
    std::thread::scope(|s| {
        let _freed = support::ClockFreedOnPanic::new(&time);
        let big = s.spawn(|| sem.acquire(20, Duration::ZERO).map(|p| p.id()));
        time.wait_for_sleepers(1);
        // 10 credits are free, but someone is waiting: a try fails at once.
        assert!(matches!(
            sem.try_transact(5, Duration::ZERO, || ()),
            Err(SemaphoreError::NotInTime { .. })
        ));
        drop(first);
        assert_eq!(support::join(big).unwrap(), Ok(1));
    });
    time.advance(Duration::from_secs(1));
}

/// Where a large waiter enters among small ones that keep arriving, each entering when the
/// previous one exits (so small ones could pass the large one forever).
fn large_position_among_small(limit: Option<u32>) -> usize {
    let acquiring = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&acquiring);
    let sem = CreditSemaphore::new(10)
        .with_overtake_limit(limit)
        .on_event(move |event| {
            if matches!(event, CreditEvent::Acquiring { .. }) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
    let wait_for_arrivals = |n: u64| {
        support::wait_until(&format!("{n} arrivals"), || {
            acquiring.load(Ordering::SeqCst) >= n
        });
    };
    let order = Mutex::new(Vec::new());
    let h1 = sem.acquire(5, Duration::ZERO).unwrap();
    let h2 = sem.acquire(4, Duration::ZERO).unwrap();
    std::thread::scope(|s| {
        let (sem, order) = (&sem, &order);
        s.spawn(move || {
            let _p = sem.acquire(10, Duration::ZERO).unwrap();
            order.lock().unwrap().push("large");
        });
        wait_for_arrivals(3);
        // Each exit lets the next arrival in: first the holder of 4, then each small one.
        let mut h2 = Some(h2);
        let mut release_previous: Option<std::sync::mpsc::Sender<()>> = None;
        for i in 0..6 {
            let (release, released) = std::sync::mpsc::channel::<()>();
            s.spawn(move || {
                let _p = sem.acquire(1, Duration::ZERO).unwrap();
                order.lock().unwrap().push("small");
                released.recv().ok();
            });
            wait_for_arrivals(4 + i);
            drop(h2.take());
            drop(release_previous.replace(release));
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(release_previous);
        std::thread::sleep(Duration::from_millis(20));
        drop(h1);
    });
    let order = order.into_inner().unwrap();
    order.iter().position(|who| *who == "large").unwrap()
}

#[test]
fn the_overtake_limit_stops_small_requests_from_starving_a_large_one() {
    assert_eq!(large_position_among_small(Some(2)), 2);
    assert_eq!(large_position_among_small(Some(0)), 0);
    // The seed's behaviour: every small one passes.
    assert_eq!(large_position_among_small(None), 6);
}

#[test]
fn credits_above_capacity_fail_at_once_and_timeouts_leak_nothing() {
    let sem = CreditSemaphore::new(40);
    assert_eq!(
        sem.transact(41, Duration::ZERO, || ()),
        Err(SemaphoreError::ExceedsCapacity {
            requested: 41,
            capacity: 40
        })
    );
    let held = sem.acquire(35, Duration::ZERO).unwrap();
    let err = sem.try_transact_for(
        10,
        Duration::ZERO,
        Duration::from_millis(20),
        || unreachable!(),
    );
    assert!(matches!(err, Err(SemaphoreError::NotInTime { .. })));
    drop(held);
    let stats = sem.stats();
    assert_eq!(
        (stats.available, stats.waiting, stats.pending_refund),
        (40, 0, 0)
    );
    // Later callers are not blocked by the failed ones.
    sem.transact(40, Duration::ZERO, || ()).unwrap();
}

#[test]
fn a_panicking_transaction_schedules_its_refund_and_the_panic_reaches_the_caller() {
    let (clock, time) = Clock::mock();
    let sem = CreditSemaphore::new(40).with_clock(clock);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sem.transact(25, Duration::from_secs(10), || panic!("server exploded"))
    }));
    assert!(outcome.is_err());
    assert_eq!(sem.stats().pending_refund, 25);
    time.advance(Duration::from_secs(10));
    assert_eq!(sem.stats().available, 40);
}

#[test]
fn sixteen_threads_never_hold_more_than_the_capacity() {
    let sem = CreditSemaphore::new(10);
    let held = AtomicU64::new(0);
    let most = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..16u64 {
            let (sem, held, most) = (&sem, &held, &most);
            s.spawn(move || {
                for i in 0..500u64 {
                    let credits = 1 + (t + i) % 4;
                    sem.transact(credits, Duration::from_micros(i % 3 * 50), || {
                        let now = held.fetch_add(credits, Ordering::SeqCst) + credits;
                        most.fetch_max(now, Ordering::SeqCst);
                        held.fetch_sub(credits, Ordering::SeqCst);
                    })
                    .unwrap();
                }
            });
        }
    });
    assert!(most.load(Ordering::SeqCst) <= 10);
    std::thread::sleep(Duration::from_millis(2));
    let stats = sem.stats();
    assert_eq!(
        (
            stats.available,
            stats.in_use,
            stats.pending_refund,
            stats.waiting
        ),
        (10, 0, 0, 0)
    );
}

#[test]
fn events_report_each_step_of_a_transaction() {
    let (clock, time) = Clock::mock();
    let log = Arc::new(Mutex::new(Vec::new()));
    let hook_log = Arc::clone(&log);
    let sem = CreditSemaphore::new(40)
        .with_clock(clock)
        .on_event(move |event| hook_log.lock().unwrap().push(*event));
    sem.transact(20, Duration::from_secs(10), || ()).unwrap();
    time.advance(Duration::from_secs(10));
    sem.stats();
    assert_eq!(
        *log.lock().unwrap(),
        [
            CreditEvent::Acquiring { id: 0, credits: 20 },
            CreditEvent::Entered { id: 0, at: secs(0) },
            CreditEvent::Exited {
                id: 0,
                at: secs(0),
                refund_due: secs(10)
            },
            CreditEvent::Refunded {
                id: 0,
                credits: 20,
                at: secs(10)
            },
        ]
    );
}
