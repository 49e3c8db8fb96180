//! The ledger at stated instants: no clock, no threads, no lock. Each test builds a ledger over
//! in-memory meters and drives it with explicit instants, as the core would with clock readings.

use std::time::Duration;

use super::{Ledger, Ticket, Turn};
use crate::algorithm::{GcraVirtual, SlidingWindow};
use crate::reservation::{Accounts, Meter, Meters, Refusal};
use crate::time::{Due, Patience};
use crate::{Nanos, Rate};

const FOREVER: Patience = Patience::Forever;

pub(super) fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

/// A ledger over one meter per rate (`true`: an exact sliding window, else GCRA), without a
/// concurrency limit and with holds of up to a minute.
pub(super) fn ledger(rates: &[(Rate, bool)]) -> Ledger<Meters> {
    ledger_with(rates, None, Duration::from_secs(60))
}

/// [`ledger`] with a concurrency limit and a longest hold (the one place that builds meters).
fn ledger_with(
    rates: &[(Rate, bool)],
    max_parallel: Option<u64>,
    max_hold: Duration,
) -> Ledger<Meters> {
    let meters = rates
        .iter()
        .map(|(rate, window)| match window {
            true => Meter::of::<SlidingWindow>(rate),
            false => Meter::of::<GcraVirtual>(rate),
        })
        .map(|meter| meter.expect("a valid rate"))
        .collect();
    Ledger::new(Meters::new(meters), max_parallel, max_hold)
}

/// 10 per second, all 10 at once (GCRA): one unit every 100 ms once the burst is spent.
fn ten_per_second() -> Ledger<Meters> {
    ledger(&[(Rate::per_second(10), false)])
}

/// Reserves `costs` at `now` with `patience`, keeping the receipts (a public reservation).
pub(super) fn reserve(
    ledger: &mut Ledger<Meters>,
    costs: &[u64],
    patience: Patience,
    now: Nanos,
) -> Ticket {
    try_reserve(ledger, costs, patience, now).expect("reserved")
}

fn try_reserve(
    ledger: &mut Ledger<Meters>,
    costs: &[u64],
    patience: Patience,
    now: Nanos,
) -> Result<Ticket, Refusal> {
    ledger.reserve(costs, patience.due(now), true, now)
}

/// When reservation `ticket` may go (it must be planned).
pub(super) fn at(ledger: &Ledger<Meters>, ticket: Ticket) -> Nanos {
    ledger.plan(ticket.id).expect("planned").0
}

pub(super) fn in_use(ledger: &Ledger<Meters>, resource: usize, now: Nanos) -> u64 {
    ledger.accounts.in_use(resource, now)
}

/// The refusal a reservation of `costs` that may not wait gets at `now` (nothing is written).
fn refusal(ledger: &mut Ledger<Meters>, costs: &[u64], now: Nanos) -> Refusal {
    let waiting = ledger.waiting();
    let refused = try_reserve(ledger, costs, Patience::For(Nanos::ZERO), now).unwrap_err();
    assert_eq!(ledger.waiting(), waiting, "a refusal writes nothing");
    refused
}

fn not_in_time(wait: Nanos) -> Refusal {
    Refusal::NotInTime {
        wait: Some(wait.as_duration()),
    }
}

#[test]
fn waiters_are_planned_in_arrival_order_each_after_the_one_before() {
    let mut ledger = ledger(&[
        (Rate::per_second(10), false),
        (Rate::per_second(1_000), false),
    ]);
    let burst = reserve(&mut ledger, &[10, 0], FOREVER, Nanos::ZERO);
    assert!(!burst.waiting, "the burst goes at once");
    let five = reserve(&mut ledger, &[5, 0], FOREVER, Nanos::ZERO);
    let one = reserve(&mut ledger, &[1, 0], FOREVER, ms(10));
    // Costs nothing of the busy resource, yet queues behind the others: FIFO over the line.
    let tokens_only = reserve(&mut ledger, &[0, 1], FOREVER, ms(20));
    let two = reserve(&mut ledger, &[2, 0], FOREVER, ms(30));
    assert!(five.waiting && one.waiting && tokens_only.waiting && two.waiting);
    assert_eq!(ledger.plan(five.id), Some((ms(500), Some(0))));
    assert_eq!(ledger.plan(one.id), Some((ms(600), Some(0))));
    assert_eq!(
        ledger.plan(tokens_only.id),
        Some((ms(600), None)),
        "the floor"
    );
    assert_eq!(at(&ledger, two), ms(800));
    assert_eq!(ledger.waiting(), 4);
    assert_eq!(ledger.reserved_by_waiters(0, ms(30)), 8);
    assert_eq!(ledger.reserved_by_waiters(1, ms(30)), 1);
    // What the calls that went use: the burst, not the waiters' charges.
    let gone = ledger.accounts_of_calls_gone(ms(30));
    assert_eq!(gone.in_use(0, ms(30)), 10);
    assert_eq!(gone.in_use(1, ms(30)), 0);

    // Their turns come at their instants, in order; each counts its wait.
    let asked = ms(30);
    assert_eq!(
        ledger.turn(five.id, asked, ms(499)),
        Turn::Later(Some(ms(500)))
    );
    assert_eq!(ledger.turn(five.id, asked, ms(500)), Turn::Gone);
    assert_eq!(ledger.waited, ms(470));
    assert_eq!(
        ledger.turn(two.id, asked, ms(700)),
        Turn::Later(Some(ms(800)))
    );
    assert_eq!(
        ledger.waiting(),
        1,
        "`one` and `tokens_only` went at 600 ms"
    );
    assert_eq!(ledger.turn(one.id, asked, ms(700)), Turn::Gone);
    assert_eq!(ledger.turn(two.id, asked, ms(800)), Turn::Gone);
    assert_eq!(ledger.waiting(), 0);
}

#[test]
fn a_newcomer_queues_behind_the_waiters_even_when_its_cost_fits_now() {
    let mut ledger = ledger(&[(Rate::per_second(10), false), (Rate::per_second(10), false)]);
    reserve(&mut ledger, &[10, 0], FOREVER, Nanos::ZERO);
    let waiter = reserve(&mut ledger, &[1, 0], FOREVER, Nanos::ZERO);
    assert_eq!(at(&ledger, waiter), ms(100));
    // Resource 1 is untouched, but the line is not: it goes no earlier than the waiter.
    let newcomer = reserve(&mut ledger, &[0, 10], FOREVER, ms(50));
    assert_eq!(ledger.plan(newcomer.id), Some((ms(100), None)));
    assert!(!ledger.take_now(&[1], ms(50)), "nobody jumps the line");
}

#[test]
fn a_refund_gives_back_only_what_the_charge_still_holds() {
    let mut ledger = ten_per_second();
    let first = reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    // 400 ms later, 4 units of the 10 came back by themselves: the cancel returns the other 6.
    assert_eq!(in_use(&ledger, 0, ms(400)), 6);
    ledger.cancel(first.id, ms(400));
    assert_eq!(in_use(&ledger, 0, ms(400)), 0);

    // Charged again at 1 s; the earlier charge (fully regenerated) gives nothing back.
    let old = reserve(&mut ledger, &[10], FOREVER, ms(1_000));
    let new = reserve(&mut ledger, &[10], FOREVER, ms(2_000));
    assert!(!old.waiting && !new.waiting);
    ledger.cancel(old.id, ms(2_000));
    assert_eq!(in_use(&ledger, 0, ms(2_000)), 10, "the new charge stands");
    assert_eq!(refusal(&mut ledger, &[1], ms(2_000)), not_in_time(ms(100)));
    // Cancelled twice: the second finds no receipt and gives nothing.
    ledger.cancel(old.id, ms(2_000));
    assert_eq!(in_use(&ledger, 0, ms(2_000)), 10);
}

#[test]
fn a_refund_moves_the_receipts_behind_it_so_their_refunds_stay_exact() {
    let mut ledger = ten_per_second();
    let first = reserve(&mut ledger, &[4], FOREVER, Nanos::ZERO);
    let second = reserve(&mut ledger, &[4], FOREVER, Nanos::ZERO);
    let third = reserve(&mut ledger, &[2], FOREVER, Nanos::ZERO);
    // Cancelled at once, `first` returns all 4, and the charges behind it move 400 ms earlier
    // in the bucket's queue.
    ledger.cancel(first.id, Nanos::ZERO);
    assert_eq!(in_use(&ledger, 0, Nanos::ZERO), 6);
    // By 100 ms one unit of `second` came back (the queue regenerates oldest first): it holds
    // 3, not the 4 its receipt would claim had it not moved, which would take one of `third`'s.
    ledger.cancel(second.id, ms(100));
    assert_eq!(in_use(&ledger, 0, ms(100)), 2);
    ledger.cancel(third.id, ms(100));
    assert_eq!(in_use(&ledger, 0, ms(100)), 0);
}

#[test]
fn a_refund_on_a_window_after_its_period_gives_nothing_back() {
    let mut ledger = ledger(&[(Rate::per_second(10), true)]);
    let old = reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    // A window of one second: the 10 count until 1 s, then a new 10 fit.
    assert_eq!(refusal(&mut ledger, &[1], ms(999)), not_in_time(ms(1)));
    let new = reserve(&mut ledger, &[10], FOREVER, ms(1_000));
    assert!(!new.waiting);
    ledger.cancel(old.id, ms(1_500));
    assert_eq!(in_use(&ledger, 0, ms(1_500)), 10);
    assert_eq!(refusal(&mut ledger, &[1], ms(1_500)), not_in_time(ms(500)));
    // The new charge is still in its window: cancelled, all of it comes back.
    ledger.cancel(new.id, ms(1_500));
    assert_eq!(in_use(&ledger, 0, ms(1_500)), 0);
}

#[test]
fn cancelling_a_waiter_moves_those_behind_it_earlier() {
    let mut ledger = ten_per_second();
    reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    let first = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    let second = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    let third = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    assert_eq!(
        [at(&ledger, first), at(&ledger, second), at(&ledger, third)],
        [ms(500), ms(1_000), ms(1_100)]
    );
    ledger.cancel(first.id, ms(100));
    assert_eq!(ledger.plan(first.id), None);
    assert_eq!(at(&ledger, second), ms(500));
    assert_eq!(at(&ledger, third), ms(600));
    assert_eq!(
        ledger.turn(first.id, Nanos::ZERO, ms(100)),
        Turn::Refused(Refusal::Cancelled)
    );
    // Withdrawing takes back only a waiter: one that went stays charged.
    assert!(ledger.withdraw(second.id, ms(200)));
    assert_eq!(at(&ledger, third), ms(200), "planned at once, and gone");
    assert!(
        ledger.take_now(&[0], ms(200)),
        "a cost of 0 goes through anything"
    );
    assert_eq!(ledger.turn(third.id, Nanos::ZERO, ms(200)), Turn::Gone);
    assert!(!ledger.withdraw(third.id, ms(200)), "gone: not withdrawn");
    assert_eq!(in_use(&ledger, 0, ms(200)), 9);
}

#[test]
fn a_hold_delays_every_waiter_of_its_resource_and_a_pause_every_resource() {
    let mut ledger = ledger(&[
        (Rate::per_second(10), false),
        (Rate::per_second(1_000), false),
    ]);
    reserve(&mut ledger, &[10, 0], FOREVER, Nanos::ZERO);
    let requests = reserve(&mut ledger, &[1, 100], FOREVER, Nanos::ZERO);
    let behind = reserve(&mut ledger, &[0, 100], FOREVER, Nanos::ZERO);
    assert_eq!(at(&ledger, requests), ms(100));
    assert_eq!(at(&ledger, behind), ms(100));

    // A server holds resource 0 until 3 s: every waiter is planned again behind the hold.
    ledger.change(ms(50), |ledger, _| ledger.hold(Some(0), ms(3_000)));
    assert_eq!(ledger.plan(requests.id), Some((ms(3_000), Some(0))));
    assert_eq!(ledger.plan(behind.id), Some((ms(3_000), None)), "FIFO");
    // Nobody waiting, a cost of resource 1 alone is not held; one of resource 0 is.
    let mut fresh = ledger_pair();
    fresh.change(Nanos::ZERO, |ledger, _| ledger.hold(Some(0), ms(3_000)));
    assert!(!reserve(&mut fresh, &[0, 1], FOREVER, Nanos::ZERO).waiting);
    assert_eq!(
        refusal(&mut fresh, &[1, 0], Nanos::ZERO),
        not_in_time(ms(3_000))
    );

    // A pause holds every resource, whatever the waiters cost.
    fresh.change(Nanos::ZERO, |ledger, _| ledger.hold(None, ms(5_000)));
    let tokens = reserve(&mut fresh, &[0, 1], FOREVER, ms(10));
    assert_eq!(fresh.plan(tokens.id), Some((ms(5_000), None)));
    assert!(!fresh.take_now(&[1], ms(10)));
    // Holds are absolute instants and only ever extended.
    fresh.change(ms(10), |ledger, _| ledger.hold(None, ms(1_000)));
    assert_eq!(at(&fresh, tokens), ms(5_000));
    assert!(!fresh.is_idle(ms(4_999)));
}

/// Two resources, 10 and 1,000 per second, nothing reserved.
fn ledger_pair() -> Ledger<Meters> {
    ledger(&[
        (Rate::per_second(10), false),
        (Rate::per_second(1_000), false),
    ])
}

#[test]
fn a_hold_longer_than_the_longest_allowed_is_refused_not_waited_for() {
    let mut ledger = ledger_pair();
    ledger.change(Nanos::ZERO, |ledger, _| ledger.hold(Some(1), ms(61_000)));
    assert_eq!(
        try_reserve(&mut ledger, &[1, 1], FOREVER, Nanos::ZERO).unwrap_err(),
        Refusal::HeldTooLong {
            resource: 1,
            wait: Duration::from_secs(61)
        }
    );
    // One second later the same hold is within the minute allowed.
    let held = reserve(&mut ledger, &[1, 1], FOREVER, ms(1_000));
    assert_eq!(at(&ledger, held), ms(61_000));
}

#[test]
fn a_change_refuses_the_waiters_whose_deadline_it_makes_unreachable() {
    let mut ledger = ten_per_second();
    reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    let patient = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    let hurried = reserve(&mut ledger, &[1], Patience::Until(ms(500)), Nanos::ZERO);
    let last = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    assert_eq!(at(&ledger, hurried), ms(200));
    assert_eq!(at(&ledger, last), ms(300));

    ledger.change(ms(50), |ledger, _| ledger.hold(Some(0), ms(1_000)));
    // Not in time any more: refused with the wait it would need, holding nothing; the waiter
    // behind takes its place.
    assert_eq!(ledger.plan(hurried.id), None);
    assert_eq!(at(&ledger, patient), ms(1_000));
    assert_eq!(
        at(&ledger, last),
        ms(1_000),
        "the burst allows both at the hold's end"
    );
    assert_eq!(
        ledger.turn(hurried.id, Nanos::ZERO, ms(100)),
        Turn::Refused(not_in_time(ms(950))),
        "the wait from the change that refused it"
    );
    assert_eq!(
        ledger.turn(hurried.id, Nanos::ZERO, ms(100)),
        Turn::Refused(Refusal::Cancelled),
        "collected once: then unknown"
    );
}

#[test]
fn a_settle_above_the_estimate_is_debt_that_later_callers_wait_for() {
    let mut ledger = ten_per_second();
    let estimated = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    let waiter_before = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    assert!(!waiter_before.waiting, "the burst holds both");
    // 15 used where 5 were estimated: charged now, beyond the capacity, never a wait.
    assert_eq!(ledger.settle(estimated.id, 0, 15, ms(100)), Ok(()));
    // The 1 unit come back by 100 ms was the settled charge's: 5 + 15 in use.
    assert_eq!(in_use(&ledger, 0, ms(100)), 20);
    // The next unit fits once 11 have come back: 1.1 s after the settle.
    let later = reserve(&mut ledger, &[1], FOREVER, ms(100));
    assert_eq!(at(&ledger, later), ms(1_200));
    // Settled below the estimate instead: the waiter moves earlier at once.
    assert_eq!(ledger.settle(estimated.id, 0, 0, ms(200)), Ok(()));
    assert_eq!(at(&ledger, later), ms(200));

    // A reservation still waiting waits for its actual cost; above the capacity it could
    // never go: refused, nothing changed.
    let mut ledger = ten_per_second();
    reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    let waiting = reserve(&mut ledger, &[2], FOREVER, Nanos::ZERO);
    assert_eq!(at(&ledger, waiting), ms(200));
    assert_eq!(ledger.settle(waiting.id, 0, 4, Nanos::ZERO), Ok(()));
    assert_eq!(at(&ledger, waiting), ms(400));
    assert_eq!(
        ledger.settle(waiting.id, 0, 11, Nanos::ZERO),
        Err(Refusal::ExceedsCapacity {
            resource: 0,
            cost: 11,
            capacity: 10
        })
    );
    assert_eq!(at(&ledger, waiting), ms(400));
    ledger.cancel(waiting.id, Nanos::ZERO);
    assert_eq!(
        ledger.settle(waiting.id, 0, 1, Nanos::ZERO),
        Err(Refusal::Cancelled)
    );
}

#[test]
fn concurrency_slots_are_taken_in_order_and_freed_by_forget() {
    let mut ledger = ledger_with(&[], Some(2), Duration::ZERO);
    let first = reserve(&mut ledger, &[], FOREVER, Nanos::ZERO);
    let second = reserve(&mut ledger, &[], FOREVER, Nanos::ZERO);
    assert!(!first.waiting && !second.waiting);
    assert_eq!(ledger.slots_in_use(), 2);
    // No slot free: one that may not wait is refused, the wait unknown; one that may queues.
    assert_eq!(
        refusal(&mut ledger, &[], Nanos::ZERO),
        Refusal::NotInTime { wait: None }
    );
    let third = reserve(&mut ledger, &[], FOREVER, Nanos::ZERO);
    let hurried = reserve(&mut ledger, &[], Patience::For(ms(100)), Nanos::ZERO);
    assert!(third.waiting && hurried.waiting);
    assert_eq!(
        ledger.plan(third.id),
        None,
        "no instant while it waits for a slot"
    );
    assert_eq!(
        ledger.turn(third.id, Nanos::ZERO, ms(10)),
        Turn::Later(None)
    );
    assert_eq!(
        ledger.turn(hurried.id, Nanos::ZERO, ms(10)),
        Turn::Later(Some(ms(100)))
    );
    assert_eq!(
        ledger.turn(hurried.id, Nanos::ZERO, ms(100)),
        Turn::Refused(Refusal::NotInTime { wait: None })
    );

    // Dropping a permit frees its slot: the first in line takes it, in the same change.
    assert!(ledger.forget(first.id, ms(200)));
    assert_eq!(ledger.slots_in_use(), 2);
    assert_eq!(ledger.turn(third.id, Nanos::ZERO, ms(200)), Turn::Gone);
    // A cancel frees a slot too; so does forgetting the last, until none is in use.
    ledger.cancel(second.id, ms(300));
    assert!(ledger.forget(third.id, ms(300)));
    assert_eq!(ledger.slots_in_use(), 0);
    assert!(ledger.is_idle(ms(300)));
}

#[test]
fn a_waiter_dropped_unwaited_goes_in_its_turn_and_frees_its_slot_then() {
    let mut ledger = ledger_with(&[(Rate::per_second(10), false)], Some(1), Duration::ZERO);
    let first = reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    assert!(!first.waiting);
    assert!(ledger.forget(first.id, Nanos::ZERO), "its slot comes free");
    let planned = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    assert_eq!(at(&ledger, planned), ms(500));
    let behind = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    assert_eq!(
        ledger.plan(behind.id),
        None,
        "the one slot is the planned one's"
    );
    assert!(
        !ledger.forget(planned.id, ms(100)),
        "nothing changes for anyone yet"
    );
    assert_eq!(
        ledger.turn(behind.id, Nanos::ZERO, ms(100)),
        Turn::Later(Some(ms(500))),
        "woken when the orphan goes"
    );
    // At 500 ms the orphan goes (its charges stay) and its slot is free for the next.
    assert_eq!(
        ledger.turn(behind.id, Nanos::ZERO, ms(500)),
        Turn::Replanned
    );
    assert_eq!(at(&ledger, behind), ms(600));
    assert_eq!(ledger.slots_in_use(), 1);
}

#[test]
fn a_cost_above_capacity_is_refused_and_writes_nothing() {
    let mut ledger = ledger_pair();
    for (costs, resource, cost, capacity) in [
        ([11, 0], 0, 11, 10),
        ([0, 1_001], 1, 1_001, 1_000),
        ([u64::MAX, 1], 0, u64::MAX, 10),
    ] {
        assert_eq!(
            try_reserve(&mut ledger, &costs, FOREVER, Nanos::ZERO).unwrap_err(),
            Refusal::ExceedsCapacity {
                resource,
                cost,
                capacity
            }
        );
    }
    assert!(!ledger.take_now(&[11], Nanos::ZERO));
    assert!(ledger.is_idle(Nanos::ZERO));
    // The full capacity is not above it.
    assert!(!reserve(&mut ledger, &[10, 1_000], FOREVER, Nanos::ZERO).waiting);
}

#[test]
fn the_end_of_time_is_never_reached_and_instants_never_go_backwards() {
    let mut ledger = ten_per_second();
    // Readings are clamped to the latest seen.
    assert_eq!(ledger.observe(ms(5_000)), ms(5_000));
    assert_eq!(ledger.observe(ms(3_000)), ms(5_000));
    assert_eq!(ledger.latest(), ms(5_000));

    // A patience to the end of time saturates: everything short of it is in time.
    let patient = Patience::For(Nanos::MAX);
    reserve(&mut ledger, &[10], patient, ms(5_000));
    let next = reserve(&mut ledger, &[10], patient, ms(5_000));
    assert_eq!(at(&ledger, next), ms(6_000));

    // A hold to the end of time, even when that long a hold is allowed, is not waited for:
    // the end of time is not an instant anyone goes at.
    let mut held = ledger_with(&[(Rate::per_second(10), false)], None, Duration::MAX);
    held.change(Nanos::ZERO, |ledger, _| ledger.hold(Some(0), Nanos::MAX));
    assert_eq!(
        try_reserve(&mut held, &[1], FOREVER, ms(1)).unwrap_err(),
        not_in_time(Nanos::MAX.saturating_sub(ms(1)))
    );
    assert!(held.waiting() == 0 && held.accounts.in_use(0, ms(1)) == 0);

    // A debt of u64::MAX units saturates the queue at the end of time: nothing goes after it.
    let mut ledger = ten_per_second();
    let other = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    let huge = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO);
    assert!(!other.waiting && !huge.waiting);
    assert_eq!(ledger.settle(huge.id, 0, u64::MAX, Nanos::ZERO), Ok(()));
    assert!(matches!(
        try_reserve(&mut ledger, &[1], FOREVER, ms(1)),
        Err(Refusal::NotInTime { .. })
    ));
    // Settled back to nothing: a saturated charge cannot be told from the others' (its mark is
    // the end of time), so nothing comes back and `other`'s units are never given away.
    assert_eq!(ledger.settle(huge.id, 0, 0, ms(1)), Ok(()));
    assert!(in_use(&ledger, 0, ms(1)) > 10);

    // Decided at the end of time itself: nothing is taken.
    let mut ledger = ten_per_second();
    assert!(!ledger.take_now(&[1], Nanos::MAX));
    assert!(matches!(
        try_reserve(&mut ledger, &[1], FOREVER, Nanos::MAX),
        Err(Refusal::NotInTime { .. })
    ));
    assert_eq!(ledger.waiting(), 0);
}

#[test]
fn a_due_counts_from_the_call_and_the_wait_from_the_decision() {
    let mut ledger = ten_per_second();
    reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    let due: Due = Patience::For(ms(150)).due(ms(50)); // by 200 ms
    let first = ledger.reserve(&[1], due, true, ms(50)).unwrap();
    let second = ledger.reserve(&[1], due, true, ms(60)).unwrap();
    assert_eq!(
        [at(&ledger, first), at(&ledger, second)],
        [ms(100), ms(200)]
    );
    // 300 ms is past the deadline: refused with the wait from this decision (at 70 ms).
    let late = ledger.reserve(&[1], due, true, ms(70)).unwrap_err();
    assert_eq!(late, not_in_time(ms(230)));
}

/// A settle in place lowers a charge where it stands: on a window, the units left keep counting
/// from the charge's instant (a plain settle counts them from now); a bill above the charge is a
/// plain settle, counted from now.
#[test]
fn a_settle_in_place_keeps_the_charges_instant() {
    let window = || ledger(&[(Rate::per_second(10), true)]);
    let mut ledger = window();
    let call = reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    assert_eq!(ledger.settle(call.id, 0, 10, ms(100)), Ok(())); // re-stamped at 100 ms
    assert_eq!(ledger.settle_in_place(call.id, 0, 4, ms(900)), Ok(()));
    assert_eq!(in_use(&ledger, 0, ms(900)), 4);
    let next = reserve(&mut ledger, &[7], FOREVER, ms(900));
    assert_eq!(at(&ledger, next), ms(1_100), "the 4 left count from 100 ms");

    let mut ledger = window();
    let call = reserve(&mut ledger, &[10], FOREVER, Nanos::ZERO);
    assert_eq!(ledger.settle(call.id, 0, 10, ms(100)), Ok(()));
    assert_eq!(ledger.settle(call.id, 0, 4, ms(900)), Ok(()));
    let next = reserve(&mut ledger, &[7], FOREVER, ms(900));
    assert_eq!(
        at(&ledger, next),
        ms(1_900),
        "a plain settle counts from now"
    );

    let mut ledger = window();
    let call = reserve(&mut ledger, &[4], FOREVER, Nanos::ZERO);
    assert_eq!(ledger.settle(call.id, 0, 4, ms(100)), Ok(()));
    assert_eq!(ledger.settle_in_place(call.id, 0, 9, ms(900)), Ok(()));
    assert_eq!(in_use(&ledger, 0, ms(900)), 9);
    let next = reserve(&mut ledger, &[2], FOREVER, ms(900));
    assert_eq!(at(&ledger, next), ms(1_900), "above the charge: from now");
    assert_eq!(
        ledger.settle_in_place(12_345, 0, 1, ms(900)),
        Err(Refusal::Cancelled),
        "an unknown reservation"
    );
}

/// On a bucket, what is left of a charge lowered in place drains earlier, as the charges queued
/// behind it do: a later cancel gives back only what it still holds, not its neighbour's units.
#[test]
fn a_settle_in_place_on_a_bucket_moves_the_rest_of_the_charge_earlier() {
    let mut ledger = ten_per_second();
    let first = reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO); // drains by 500 ms
    reserve(&mut ledger, &[5], FOREVER, Nanos::ZERO); // by 1 s
    assert_eq!(ledger.settle_in_place(first.id, 0, 2, Nanos::ZERO), Ok(()));
    assert_eq!(in_use(&ledger, 0, Nanos::ZERO), 7);
    // By 300 ms the first call's 2 units (now draining by 200 ms) are gone: nothing to give back.
    ledger.cancel(first.id, ms(300));
    assert_eq!(
        in_use(&ledger, 0, ms(300)),
        4,
        "the second call's 4 units left"
    );
}

/// A settle that counts a charge from a later instant (the Runner's answered call) moves the
/// queue later: no waiter's thread must look again before its instant. One that gives units
/// back lets the next go earlier (granted now, before its instant: it must be told), and one
/// that makes a waiter miss its deadline refuses it (its thread collects the refusal).
#[test]
fn only_a_settle_that_lets_a_waiter_go_earlier_or_refuses_one_concerns_the_waiters() {
    let window = || ledger(&[(Rate::per_second(1), true)]);
    let mut ledger = window();
    let call = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    let next = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    assert_eq!(at(&ledger, next), ms(1_000));
    let before = ledger.standings();
    assert_eq!(ledger.settle(call.id, 0, 1, ms(100)), Ok(())); // re-stamped at 100 ms
    assert_eq!(at(&ledger, next), ms(1_100));
    assert!(ledger.concerned(&before, ms(100)).is_empty(), "only later");
    let before = ledger.standings();
    assert_eq!(ledger.settle_in_place(call.id, 0, 1, ms(200)), Ok(()));
    assert!(
        ledger.concerned(&before, ms(200)).is_empty(),
        "nothing moved"
    );
    let before = ledger.standings();
    assert_eq!(ledger.settle_in_place(call.id, 0, 0, ms(300)), Ok(()));
    assert_eq!(
        at(&ledger, next),
        ms(300),
        "gone at 300 ms, before 1,100 ms"
    );
    assert_eq!(
        ledger.concerned(&before, ms(300)).len(),
        1,
        "granted before its instant"
    );

    let mut ledger = window();
    let call = reserve(&mut ledger, &[1], FOREVER, Nanos::ZERO);
    let hurried = reserve(&mut ledger, &[1], Patience::Until(ms(1_050)), Nanos::ZERO);
    let before = ledger.standings();
    assert_eq!(ledger.settle(call.id, 0, 1, ms(100)), Ok(()));
    assert_eq!(
        ledger.plan(hurried.id),
        None,
        "refused: 1,100 ms is past its deadline"
    );
    assert_eq!(ledger.concerned(&before, ms(100)).len(), 1, "refused");
}
