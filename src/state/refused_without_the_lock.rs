//! The in-memory store refuses a call that cannot go in time without the core's lock
//! ([`MeterWords::refuse`](crate::reservation::MeterWords)), and that refusal is exactly the
//! core's: the same answer as the locked `reserve` at the same instant on the same state, over
//! random sequences of reservations, permits dropped, cancelled and settled, holds, pauses and
//! rate changes; never an admission; nothing decided from the view while anyone is queued.

use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

use super::InMemory;
use crate::reservation::{has_place, Patience, PerResource, Refusal};
use crate::{Clock, LimitError, Limits, MultiLimiter, Nanos, Permit, Rate, REQUESTS, TOKENS};

#[test]
fn a_rejection_is_decided_while_another_thread_holds_the_lock() {
    let api = MultiLimiter::new(Limits::new().rpm(1).tpm(100)).unwrap();
    let _first = api.acquire(&[(TOKENS, 100)]).unwrap();
    let store = InMemory::of(&api).unwrap();
    store.core.read(|_, _| {
        // The lock is held here: a refusal that needed it could not answer.
        let (sent, answer) = mpsc::channel();
        let other = api.clone();
        std::thread::spawn(move || {
            let refused = other.try_acquire(&[(TOKENS, 1)]).map(drop);
            sent.send(refused).unwrap();
        });
        let refused = answer
            .recv_timeout(Duration::from_secs(20))
            .expect("the refusal waited for the core's lock");
        assert!(
            matches!(refused, Err(LimitError::NotInTime { wait: Some(_) })),
            "{refused:?}"
        );
    });
}

#[test]
fn behind_a_waiter_the_lock_decides_and_the_newcomer_queues_behind_it() {
    let (clock, time) = Clock::mock();
    let limits = Limits::new().rate(REQUESTS, Rate::per_second(1).burst(1));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let _first = api.acquire(&[]).unwrap();
    let waiter = api.reserve(&[]).unwrap();
    assert_eq!(waiter.ready_at(), Some(Nanos::from_secs(1)));
    let store = InMemory::of(&api).unwrap();
    // The view does not decide while someone is queued, even where the rates alone would.
    time.advance(Duration::from_millis(1_500));
    let now = time.now();
    for patience in [Patience::For(Nanos::ZERO), Patience::Forever] {
        assert_eq!(store.words.refuse(&[1], patience, now), None);
    }
    // The limiter answers as the core does: behind the waiter (which went at 1 s), at 2 s.
    assert_eq!(
        api.try_acquire(&[]).map(drop),
        Err(LimitError::NotInTime {
            wait: Some(Duration::from_millis(500))
        })
    );
    let behind = api
        .try_acquire_for(&[], Duration::from_millis(500))
        .unwrap();
    assert_eq!(time.now(), Nanos::from_secs(2));
    drop((waiter, behind));
}

#[test]
fn with_nobody_queued_the_view_refuses_as_the_core_and_writes_nothing() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(60).tpm(600).max_parallel(3))
        .unwrap()
        .with_clock(clock);
    let _all = api.acquire(&[(REQUESTS, 60), (TOKENS, 300)]).unwrap();
    let store = InMemory::of(&api).unwrap();
    let now = time.now();
    let asked = [1, 500];
    let fast = store.words.refuse(&asked, Patience::For(Nanos::ZERO), now);
    // Tokens bind: 200 more than the 300 left, at 10 per second.
    let wait = Duration::from_secs(20);
    assert_eq!(fast, Some(Refusal::NotInTime { wait: Some(wait) }));
    let locked = store.core.reserve(&asked, Patience::For(Nanos::ZERO), true);
    assert_eq!(locked.map(|ticket| ticket.id), Err(fast.unwrap()));
    let too_big = store.words.refuse(&[1, 601], Patience::Forever, now);
    assert_eq!(
        too_big,
        Some(Refusal::ExceedsCapacity {
            resource: 1,
            cost: 601,
            capacity: 600
        })
    );
    // Nothing was taken: at the instant reported, the same call goes.
    let usage = api.usage();
    assert_eq!(
        api.try_acquire(&[(TOKENS, 500)]).map(drop),
        Err(LimitError::NotInTime { wait: Some(wait) })
    );
    assert_eq!(api.usage(), usage);
    time.advance(wait);
    assert!(api.try_acquire(&[(TOKENS, 500)]).is_ok());
}

#[test]
fn slots_held_holds_and_pauses_leave_the_decision_to_the_lock() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(60).tpm(600).max_parallel(1))
        .unwrap()
        .with_clock(clock);
    let store = InMemory::of(&api).unwrap();
    let held = api.acquire(&[(TOKENS, 600)]).unwrap();
    let now = time.now();
    assert_eq!(
        store.words.refuse(&[1, 1], Patience::For(Nanos::ZERO), now),
        None
    );
    // The slot decides, not the tokens: no wait is known.
    assert_eq!(
        api.try_acquire(&[(TOKENS, 1)]).map(drop),
        Err(LimitError::NotInTime { wait: None })
    );
    drop(held);
    api.observe(REQUESTS, 0, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        store.words.refuse(&[1, 1], Patience::For(Nanos::ZERO), now),
        None
    );
    // The hold on requests binds (the tokens fit in 0.1 s).
    assert_eq!(
        api.try_acquire(&[(TOKENS, 1)]).map(drop),
        Err(LimitError::NotInTime {
            wait: Some(Duration::from_secs(5))
        })
    );
}

/// One step of a random sequence.
#[derive(Clone, Debug)]
enum Step {
    /// A reservation of (requests, tokens) within a patience (`None`: forever), decided by the
    /// view and by the locked core, compared; kept as a permit when granted.
    Try(u64, u64, Option<u64>),
    Advance(u64),
    DropOldest,
    Cancel,
    Settle(u64),
    Hold(usize, u64),
    Observe(usize, u64),
    SetRate(usize, u64),
    Pause(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u64..3, 0u64..80, prop::option::of(prop_oneof![Just(0u64), 0u64..3_000, Just(60_000)]))
            .prop_map(|(requests, tokens, patience)| Step::Try(requests, tokens, patience)),
        3 => (0u64..2_000).prop_map(Step::Advance),
        2 => Just(Step::DropOldest),
        1 => Just(Step::Cancel),
        1 => (0u64..80).prop_map(Step::Settle),
        1 => (0usize..2, 0u64..3_000).prop_map(|(resource, ms)| Step::Hold(resource, ms)),
        1 => (0usize..2, 0u64..40).prop_map(|(resource, left)| Step::Observe(resource, left)),
        1 => (0usize..2, 1u64..200).prop_map(|(resource, per_minute)| Step::SetRate(resource, per_minute)),
        1 => (0u64..2_000).prop_map(Step::Pause),
    ]
}

const NAMES: [&str; 2] = [REQUESTS, TOKENS];

fn run(steps: &[Step], max_parallel: Option<u64>) -> Result<(), TestCaseError> {
    let (clock, time) = Clock::mock();
    let mut limits = Limits::new()
        .rate(REQUESTS, Rate::per_second(2).burst(3))
        .rate(TOKENS, Rate::per_minute(1_200).burst(60));
    if let Some(max) = max_parallel {
        limits = limits.max_parallel(max);
    }
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let store = InMemory::of(&api).unwrap();
    let mut permits: Vec<Permit> = Vec::new();
    // No newcomer is decided by the rates alone before this (the last hold or pause).
    let mut held_until = Nanos::ZERO;
    for step in steps {
        let now = time.now();
        match *step {
            Step::Try(requests, tokens, patience) => {
                let costs = [requests, tokens];
                let patience = patience.map_or(Patience::Forever, |ms| {
                    Patience::For(Nanos::from_millis(ms))
                });
                let fast = store.words.refuse(&costs, patience, now);
                let open = store.core.read(|ledger, now| {
                    ledger.waiting() == 0
                        && ledger
                            .slot_limit(now)
                            .map_or(true, |max| ledger.slots_in_use() < max)
                });
                let locked = store.core.reserve(&costs, patience, true);
                match (&fast, &locked) {
                    (Some(refusal), Err(core)) => prop_assert_eq!(refusal, core),
                    (Some(refusal), Ok(_)) => {
                        prop_assert!(false, "refused {refusal:?} where the core granted")
                    }
                    (
                        None,
                        Err(core @ (Refusal::NotInTime { .. } | Refusal::ExceedsCapacity { .. })),
                    ) if open && held_until <= now => {
                        prop_assert!(false, "not refused where the core refused {core:?}")
                    }
                    _ => {}
                }
                if let Ok(ticket) = locked {
                    let costs = PerResource::from_slice(&costs);
                    let (went, counted) = (!ticket.waiting, has_place(ticket.id));
                    permits.push(Permit::new(api.clone(), ticket.id, costs, went, counted));
                }
            }
            Step::Advance(ms) => time.advance(Duration::from_millis(ms)),
            Step::DropOldest => {
                if !permits.is_empty() {
                    drop(permits.remove(0));
                }
            }
            Step::Cancel => {
                if let Some(permit) = permits.pop() {
                    permit.cancel();
                }
            }
            Step::Settle(tokens) => {
                if let Some(permit) = permits.last() {
                    let _ = permit.settle(TOKENS, tokens);
                }
            }
            Step::Hold(resource, ms) => {
                let reset = Duration::from_millis(ms);
                api.observe(NAMES[resource], 0, Some(reset)).unwrap();
                held_until = held_until.max(now.saturating_add(Nanos::from(reset)));
            }
            Step::Observe(resource, left) => api.observe(NAMES[resource], left, None).unwrap(),
            Step::SetRate(resource, per_minute) => {
                let rate = match resource {
                    0 => Rate::per_minute(per_minute).burst(3),
                    _ => Rate::per_minute(per_minute * 10).burst(60),
                };
                api.set_rate(NAMES[resource], rate).unwrap();
            }
            Step::Pause(ms) => {
                let until = now.saturating_add(Nanos::from_millis(ms));
                api.pause_until(until);
                held_until = held_until.max(until);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_view_refuses_exactly_as_the_locked_core(
        steps in prop::collection::vec(step(), 1..60),
        max_parallel in prop::option::of(1u64..4),
    ) {
        run(&steps, max_parallel)?;
    }
}
