//! The in-memory store grants a call that fits now from the published view's decision
//! ([`Verdict::FitsNow`]): the lock only commits it, and only while nothing was published since
//! the view was read (`Ledger::go_as_published`). That grant is exactly the core's: the same
//! ticket, the same usage and the same published words as the locked `reserve` on a twin
//! limiter, over random sequences of calls, permits dropped, cancelled and settled, holds,
//! pauses, rate changes and waiters, and with any of those landing between the view's reading
//! and the commit (a stale view is decided again under the lock, never granted as read).

use std::time::Duration;

use proptest::prelude::*;

use super::InMemory;
use crate::reservation::{has_place, Patience, PerResource, Refusal, Verdict};
use crate::{Clock, Limits, MockTime, MultiLimiter, Nanos, Permit, Rate, REQUESTS, TOKENS};

/// A change of capacity or of the queue that may land between a view's reading and its commit.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// A call of (requests, tokens) within a patience in ms (`None`: forever), kept.
    Call(u64, u64, Option<u64>),
    DropOldest,
    Cancel,
    Settle(u64),
    Hold(usize, u64),
    Observe(usize, u64),
    SetRate(usize, u64),
    Pause(u64),
}

/// One step: a change, time passing, or a call decided after the view was read with `change`
/// landing in between.
#[derive(Clone, Copy, Debug)]
enum Step {
    Change(Change),
    Advance(u64),
    /// A call of (requests, tokens) within a patience, its view read before `Change` landed.
    Raced(u64, u64, Option<u64>, Change),
}

fn change() -> impl Strategy<Value = Change> {
    let costs = (0u64..3, prop_oneof![8 => 0u64..80, 1 => Just(u64::MAX)]);
    let patience = prop::option::of(prop_oneof![Just(0u64), 0u64..3_000]);
    prop_oneof![
        6 => (costs, patience).prop_map(|((requests, tokens), patience)| Change::Call(requests, tokens, patience)),
        2 => Just(Change::DropOldest),
        1 => Just(Change::Cancel),
        1 => prop_oneof![0u64..80, Just(u64::MAX)].prop_map(Change::Settle),
        1 => (0usize..2, 0u64..3_000).prop_map(|(resource, ms)| Change::Hold(resource, ms)),
        1 => (0usize..2, 0u64..40).prop_map(|(resource, left)| Change::Observe(resource, left)),
        1 => (0usize..2, 1u64..200).prop_map(|(resource, per_minute)| Change::SetRate(resource, per_minute)),
        1 => (0u64..2_000).prop_map(Change::Pause),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let patience = prop::option::of(prop_oneof![Just(0u64), 0u64..3_000]);
    prop_oneof![
        4 => change().prop_map(Step::Change),
        2 => (0u64..2_000).prop_map(Step::Advance),
        4 => (0u64..3, 0u64..80, patience, change())
            .prop_map(|(requests, tokens, patience, change)| Step::Raced(requests, tokens, patience, change)),
    ]
}

const NAMES: [&str; 2] = [REQUESTS, TOKENS];

/// A limiter on a mock clock and the permits it granted.
struct Twin {
    api: MultiLimiter,
    time: MockTime,
    permits: Vec<Permit>,
}

impl Twin {
    fn new(max_parallel: Option<u64>) -> Twin {
        let (clock, time) = Clock::mock();
        let mut limits = Limits::new()
            .rate(REQUESTS, Rate::per_second(2).burst(3))
            .rate(TOKENS, Rate::per_minute(1_200).burst(60));
        if let Some(max) = max_parallel {
            limits = limits.max_parallel(max);
        }
        let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
        Twin {
            api,
            time,
            permits: Vec::new(),
        }
    }

    fn store(&self) -> &InMemory {
        InMemory::of(&self.api).unwrap()
    }

    /// Keeps the permit of a granted ticket; the outcome as compared between twins.
    /// (Its id and whether it waits.)
    fn keep(
        &mut self,
        costs: [u64; 2],
        ticket: Result<(u64, bool), Refusal>,
    ) -> Result<(u64, bool), Refusal> {
        let (id, waiting) = ticket?;
        let costs = PerResource::from_slice(&costs);
        let permit = Permit::new(self.api.clone(), id, costs, !waiting, has_place(id));
        self.permits.push(permit);
        Ok((id, waiting))
    }

    /// A call decided by the locked core alone.
    fn locked(&mut self, costs: [u64; 2], patience: Patience) -> Result<(u64, bool), Refusal> {
        let ticket = self.store().core.reserve(&costs, patience, true);
        self.keep(costs, ticket.map(|ticket| (ticket.id, ticket.waiting)))
    }

    fn apply(&mut self, change: Change) -> Option<Result<(u64, bool), Refusal>> {
        let now = self.time.now();
        match change {
            Change::Call(requests, tokens, patience) => {
                return Some(self.locked([requests, tokens], patience_of(patience)));
            }
            Change::DropOldest => {
                if !self.permits.is_empty() {
                    drop(self.permits.remove(0));
                }
            }
            Change::Cancel => {
                if let Some(permit) = self.permits.pop() {
                    permit.cancel();
                }
            }
            Change::Settle(tokens) => {
                if let Some(permit) = self.permits.last() {
                    let _ = permit.settle(TOKENS, tokens);
                }
            }
            Change::Hold(resource, ms) => {
                let reset = Duration::from_millis(ms);
                self.api.observe(NAMES[resource], 0, Some(reset)).unwrap();
            }
            Change::Observe(resource, left) => {
                self.api.observe(NAMES[resource], left, None).unwrap();
            }
            Change::SetRate(resource, per_minute) => {
                let rate = match resource {
                    0 => Rate::per_minute(per_minute).burst(3),
                    _ => Rate::per_minute(per_minute * 10).burst(60),
                };
                self.api.set_rate(NAMES[resource], rate).unwrap();
            }
            Change::Pause(ms) => self
                .api
                .pause_until(now.saturating_add(Nanos::from_millis(ms))),
        }
        None
    }

    /// What both twins must agree on: usage, permits held, the published words' decisions.
    fn figures(&self) -> (Vec<(String, crate::Usage)>, u64, Vec<Verdict>) {
        let now = self.time.now();
        let probes = [[1, 1], [0, 60], [3, 0], [1, 61]];
        let verdicts = probes
            .iter()
            .map(|costs| {
                let verdict = self.store().words.read(costs, Patience::Forever, now);
                // The version counts publications, which the twins need not make alike.
                match verdict {
                    Verdict::FitsNow(_) => Verdict::FitsNow(0),
                    other => other,
                }
            })
            .collect();
        (self.api.usage(), self.api.active(), verdicts)
    }
}

fn patience_of(patience: Option<u64>) -> Patience {
    patience.map_or(Patience::Forever, |ms| {
        Patience::For(Nanos::from_millis(ms))
    })
}

/// Runs `steps` on two twins: `fast` decides a raced call through the published view (read
/// before the change landed) and commits it with `reserve_as_published`; `locked` decides it
/// with the locked core after the change. Every outcome and figure must agree. Returns how many
/// calls were committed as read, and how many views were stale at the commit.
fn run(steps: &[Step], max_parallel: Option<u64>) -> Result<(u64, u64), TestCaseError> {
    let mut fast = Twin::new(max_parallel);
    let mut locked = Twin::new(max_parallel);
    let (mut committed_as_read, mut stale) = (0, 0);
    for step in steps {
        match *step {
            Step::Change(change) => {
                prop_assert_eq!(fast.apply(change), locked.apply(change));
            }
            Step::Advance(ms) => {
                fast.time.advance(Duration::from_millis(ms));
                locked.time.advance(Duration::from_millis(ms));
            }
            Step::Raced(requests, tokens, patience, change) => {
                let costs = [requests, tokens];
                let patience = patience_of(patience);
                let reading = fast.time.now();
                let verdict = fast.store().words.read(&costs, patience, reading);
                prop_assert_eq!(fast.apply(change), locked.apply(change));
                let expected = locked.locked(costs, patience);
                let got = match verdict {
                    Verdict::FitsNow(version) => {
                        let still = fast.store().words.still_at(version);
                        committed_as_read += u64::from(still);
                        let ticket = fast
                            .store()
                            .core
                            .reserve_as_published(&costs, patience, version, reading);
                        stale += u64::from(!still);
                        fast.keep(costs, ticket.map(|ticket| (ticket.id, ticket.waiting)))
                    }
                    Verdict::Refused(_) | Verdict::Locked => fast.locked(costs, patience),
                };
                prop_assert_eq!(got, expected, "{:?} then {:?}", verdict, change);
            }
        }
        prop_assert_eq!(fast.figures(), locked.figures(), "after {:?}", step);
    }
    Ok((committed_as_read, stale))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_grant_from_the_view_is_the_locked_cores_grant_even_when_a_change_lands_first(
        steps in prop::collection::vec(step(), 1..60),
        max_parallel in prop::option::of(1u64..4),
    ) {
        run(&steps, max_parallel)?;
    }
}

#[test]
fn the_sequences_commit_from_the_view_and_decide_stale_views_again() {
    // The property above is only worth its name if both paths are taken: a commit as read,
    // and a stale view decided again.
    let fits = [1, 10];
    let steps = [
        Step::Raced(fits[0], fits[1], None, Change::Settle(5)),
        Step::Raced(fits[0], fits[1], None, Change::Cancel),
        Step::Raced(fits[0], fits[1], None, Change::DropOldest),
        Step::Raced(fits[0], fits[1], None, Change::DropOldest),
    ];
    // The first change has no permit to settle: nothing is published, the view stands; a
    // cancel publishes; a drop of a permit kept in a place publishes nothing.
    assert_eq!(run(&steps, None).unwrap(), (3, 1));
}

/// Each change that lands between a view's reading and its commit and makes the call no longer
/// fit now: the call is decided again under the lock (refused, or queued), never granted as read.
#[test]
fn a_view_made_stale_by_a_change_is_never_granted_as_read() {
    /// A change landing on the limiter (at the mock clock's instant).
    type Landing = fn(&MultiLimiter, &MockTime);
    let changes: [(&str, Landing); 7] = [
        ("another call takes the rest", |api, _| {
            std::mem::forget(api.try_acquire(&[(REQUESTS, 1), (TOKENS, 60)]).unwrap());
        }),
        ("a hold on tokens", |api, _| {
            api.observe(TOKENS, 0, Some(Duration::from_secs(5)))
                .unwrap();
        }),
        ("a pause", |api, time| {
            api.pause_until(time.now().saturating_add(Nanos::from_secs(5)));
        }),
        ("the rate lowered", |api, _| {
            api.set_rate(TOKENS, Rate::per_minute(60).burst(5)).unwrap();
        }),
        ("the server says nothing is left", |api, _| {
            api.observe(TOKENS, 0, None).unwrap();
        }),
        ("a waiter queued", |api, _| {
            let first = api.try_acquire(&[(TOKENS, 60)]).unwrap();
            std::mem::forget(api.reserve(&[(TOKENS, 60)]).unwrap());
            drop(first);
        }),
        ("every slot taken", |api, _| {
            std::mem::forget(api.try_acquire(&[(TOKENS, 1)]).unwrap());
        }),
    ];
    for (what, change) in changes {
        let (clock, time) = Clock::mock();
        let limits = Limits::new()
            .rate(REQUESTS, Rate::per_second(2).burst(3))
            .rate(TOKENS, Rate::per_minute(1_200).burst(60))
            .max_parallel(1);
        let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
        let store = InMemory::of(&api).unwrap();
        let costs = [1, 10];
        let reading = time.now();
        let Verdict::FitsNow(version) = store.words.read(&costs, Patience::Forever, reading) else {
            panic!("{what}: a full limiter's view says the call fits now");
        };
        change(&api, &time);
        assert!(
            !store.words.still_at(version),
            "{what}: nothing was published"
        );
        let ticket =
            store
                .core
                .reserve_as_published(&costs, Patience::For(Nanos::ZERO), version, reading);
        let ticket = ticket.map(|ticket| (ticket.id, ticket.waiting));
        assert!(
            ticket.is_err(),
            "{what}: granted from a stale view: {ticket:?}"
        );
    }
}

#[test]
fn a_cost_of_u64_max_is_refused_from_the_view_and_never_fits_now() {
    let api = MultiLimiter::new(Limits::new().rpm(60).tpm(600)).unwrap();
    let store = InMemory::of(&api).unwrap();
    let now = api.clock().now();
    for costs in [[u64::MAX, 1], [1, u64::MAX]] {
        let verdict = store.words.read(&costs, Patience::Forever, now);
        assert!(
            matches!(
                verdict,
                Verdict::Refused(Refusal::ExceedsCapacity { cost: u64::MAX, .. })
            ),
            "{verdict:?}"
        );
    }
    // Nothing taken: the whole capacity still fits now.
    assert!(matches!(
        store.words.read(&[60, 600], Patience::Forever, now),
        Verdict::FitsNow(_)
    ));
}

/// Threads granting from the view while another cancels, settles and changes the rate, on a
/// frozen clock (every charge still held, so every figure is exact): nothing is booked twice or
/// lost.
#[test]
fn grants_from_the_view_race_cancels_settles_and_rate_changes_without_losing_a_unit() {
    const CALLS: u64 = 3_000;
    let (clock, _time) = Clock::mock();
    let high = Rate::per_hour(100_000);
    let low = Rate::per_hour(50_000);
    let limits = Limits::new()
        .rate(REQUESTS, Rate::per_hour(1_000_000))
        .rate(TOKENS, high);
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let live = parking_lot::Mutex::new(Vec::<(Permit, u64)>::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..CALLS {
                    if let Ok(permit) = api.try_acquire(&[(REQUESTS, 1), (TOKENS, 50)]) {
                        live.lock().push((permit, 50));
                    }
                }
            });
        }
        s.spawn(|| {
            for round in 0..CALLS {
                let mut live = live.lock();
                match round % 4 {
                    0 => {
                        if let Some((permit, _)) = live.pop() {
                            permit.cancel();
                        }
                    }
                    1 => {
                        if let Some((permit, tokens)) = live.last_mut() {
                            permit.settle(TOKENS, 20).unwrap();
                            *tokens = 20;
                        }
                    }
                    2 => api.set_rate(TOKENS, low).unwrap(),
                    _ => api.set_rate(TOKENS, high).unwrap(),
                }
                drop(live);
                std::thread::yield_now();
            }
        });
    });
    let live = live.into_inner();
    let usage = api.usage();
    assert_eq!(usage[0].1.used, live.len() as u64, "requests");
    let tokens: u64 = live.iter().map(|(_, tokens)| tokens).sum();
    assert_eq!(usage[1].1.used, tokens, "tokens");
    assert_eq!(api.active(), live.len() as u64);
}
