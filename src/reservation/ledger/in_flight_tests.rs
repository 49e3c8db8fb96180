//! Reservations in flight (`in_flight.rs`) at stated instants: held from their grant until their
//! bill whatever the time, counted from the bill after it; given back by a cancel; billed at a
//! drop; waiters without an instant until a bill, refused by their deadlines; the lock-free view
//! sent to the lock. Then a property: no window of one period ever holds more than its bound
//! when every call in flight is counted anywhere from its grant to its bill.

use std::time::Duration;

use proptest::prelude::*;

use super::tests::{at, in_use, ledger, ms, reserve};
use super::{Ledger, Ticket, Turn};
use crate::reservation::{has_place, Accounts, Meter, Meters, Refusal, Verdict};
use crate::time::Patience;
use crate::{Nanos, Rate};

const FOREVER: Patience = Patience::Forever;

/// Reserves `costs` in flight at `now` with `patience`.
fn in_flight(ledger: &mut Ledger<Meters>, costs: &[u64], patience: Patience, now: Nanos) -> Ticket {
    (ledger.reserve_in_flight(costs, costs.len(), patience.due(now), now))
        .expect("reserved in flight")
}

/// Two per second; A (1 unit) granted at 0 and B (1) at 1.5 s, C (1) asked for at 3 s, A billed
/// (its 1 unit) at 5 s; `flight`: A, B and C are in flight, else plain reservations. Returns
/// the ledger and C.
fn two_per_second(window: bool, flight: bool) -> (Ledger<Meters>, Ticket, [Ticket; 2]) {
    let mut ledger = ledger(&[(Rate::per_second(2), window)]);
    let go = |ledger: &mut Ledger<Meters>, now| match flight {
        true => in_flight(ledger, &[1], FOREVER, now),
        false => reserve(ledger, &[1], FOREVER, now),
    };
    let a = go(&mut ledger, ms(0));
    let b = go(&mut ledger, ms(1_500));
    assert!(!a.waiting && !b.waiting, "one unit is left for B");
    let c = go(&mut ledger, ms(3_000));
    (ledger, c, [a, b])
}

#[test]
fn a_window_holds_a_call_in_flight_from_its_grant_until_its_bill_then_a_window_more() {
    // Plain, A's unit came back at 1 s and B's at 2.5 s: C goes at once (the gap).
    let (_, c, _) = two_per_second(true, false);
    assert!(!c.waiting);

    let (mut ledger, c, [a, b]) = two_per_second(true, true);
    assert!(c.waiting, "A and B hold both units, whatever the time");
    assert_eq!(ledger.plan(c.id), None, "no instant works until a bill");
    assert_eq!(ledger.turn(c.id, ms(3_000), ms(4_999)), Turn::Later(None));
    assert_eq!(ledger.in_flight_gone(0), 2);
    ledger.settle(a.id, 0, 1, ms(5_000)).unwrap();
    // A counts from its bill, for a window: C goes when it leaves (B still held).
    assert_eq!(at(&ledger, c), ms(6_000));
    assert_eq!(in_use(&ledger, 0, ms(5_999)), 1);
    assert_eq!(in_use(&ledger, 0, ms(6_000)), 0);
    assert_eq!(ledger.turn(c.id, ms(3_000), ms(6_000)), Turn::Gone);
    assert_eq!(ledger.in_flight_gone(0), 2, "B and C");
    // A bill of 0 (a call the server refused) holds nothing after it.
    ledger.settle(b.id, 0, 0, ms(6_000)).unwrap();
    assert_eq!(ledger.in_flight_gone(0), 1);
}

#[test]
fn a_gcra_does_not_regenerate_a_call_in_flight_until_its_bill() {
    // Plain, A and B have drained by 3 s: C goes at once.
    let (_, c, _) = two_per_second(false, false);
    assert!(!c.waiting);

    let (mut ledger, c, [a, _]) = two_per_second(false, true);
    assert!(c.waiting);
    assert_eq!(ledger.turn(c.id, ms(3_000), ms(100_000)), Turn::Later(None));
    ledger.settle(a.id, 0, 1, ms(100_000)).unwrap();
    // A drains from its bill: half a second for its unit, B still held.
    assert_eq!(at(&ledger, c), ms(100_500));
}

#[test]
fn a_plain_reservation_waits_for_the_units_in_flight_too() {
    let mut ledger = ledger(&[(Rate::per_second(2), true)]);
    let a = in_flight(&mut ledger, &[2], FOREVER, ms(0));
    let plain = reserve(&mut ledger, &[1], FOREVER, ms(5_000));
    assert!(plain.waiting);
    assert_eq!(ledger.plan(plain.id), None);
    ledger.settle(a.id, 0, 1, ms(6_000)).unwrap();
    assert_eq!(at(&ledger, plain), ms(6_000), "1 billed + 1 fits in 2");
}

/// Calls waiting for the units in flight wait without an instant; a bill gives instants to the
/// first ones (which then hold their units): only their threads are woken, the others sleep on.
#[test]
fn a_bill_wakes_only_the_waiters_it_gives_an_instant_to() {
    let mut ledger = ledger_window(2);
    let a = in_flight(&mut ledger, &[2], FOREVER, ms(0));
    let waiters: Vec<Ticket> = (1..=4)
        .map(|n| in_flight(&mut ledger, &[1], FOREVER, ms(n)))
        .collect();
    let wakes: Vec<_> = waiters
        .iter()
        .map(|w| ledger.wake_of(w.id).unwrap())
        .collect();
    let before = ledger.standings();
    ledger.settle(a.id, 0, 1, ms(5_000)).unwrap();
    // The first goes now beside A's bill; the second when A's bill leaves the window, holding
    // the second unit; the others wait for the next bills.
    assert_eq!(ledger.turn(waiters[0].id, ms(1), ms(5_000)), Turn::Gone);
    assert_eq!(at(&ledger, waiters[1]), ms(6_000));
    assert_eq!(ledger.plan(waiters[2].id), None);
    let concerned = ledger.concerned(&before, ms(5_000));
    assert_eq!(concerned.len(), 2);
    assert!(std::sync::Arc::ptr_eq(&concerned[0], &wakes[0]));
    assert!(std::sync::Arc::ptr_eq(&concerned[1], &wakes[1]));
}

#[test]
fn a_cancel_gives_the_units_in_flight_back_gone_or_waiting() {
    let mut ledger = ledger(&[(Rate::per_second(2), true)]);
    let a = in_flight(&mut ledger, &[2], FOREVER, ms(0));
    let b = in_flight(&mut ledger, &[2], FOREVER, ms(100));
    let c = reserve(&mut ledger, &[1], FOREVER, ms(200));
    assert!(b.waiting && c.waiting);
    // B never went: cancelled, it gives nothing back and C still waits for A.
    ledger.cancel(b.id, ms(1_000));
    assert_eq!(ledger.waiting(), 1);
    assert_eq!(ledger.plan(c.id), None);
    // A went: cancelled (refused by the server), its units come back at once, never charged.
    ledger.cancel(a.id, ms(2_000));
    assert_eq!(ledger.turn(c.id, ms(200), ms(2_000)), Turn::Gone);
    assert_eq!(in_use(&ledger, 0, ms(2_000)), 1, "C alone");
    assert_eq!(ledger.in_flight_gone(0), 0);
    assert!(ledger.in_flight.is_empty());
}

#[test]
fn a_call_dropped_unbilled_is_billed_at_its_drop_and_one_dropped_waiting_holds_nothing() {
    let mut ledger = ledger(&[(Rate::per_second(2), true)]);
    let a = in_flight(&mut ledger, &[2], FOREVER, ms(0));
    let b = in_flight(&mut ledger, &[1], FOREVER, ms(100));
    let c = reserve(&mut ledger, &[1], FOREVER, ms(200));
    // B, dropped before it went, made no call: it leaves the line.
    assert!(ledger.forget(b.id, ms(300)));
    assert_eq!(ledger.waiting(), 1);
    // A, dropped at 4 s without a bill: billed then, as a completion, counting until 5 s.
    assert!(ledger.forget(a.id, ms(4_000)));
    let gone = ledger.accounts_of_calls_gone(ms(4_000));
    assert_eq!(gone.in_use(0, ms(4_000)), 2);
    assert_eq!(at(&ledger, c), ms(5_000));
    assert!(ledger.in_flight.is_empty());
}

#[test]
fn a_settle_in_place_of_a_call_in_flight_bills_it_from_now() {
    let mut ledger = ledger(&[(Rate::per_second(2), true)]);
    let a = in_flight(&mut ledger, &[2], FOREVER, ms(0));
    ledger.settle_in_place(a.id, 0, 1, ms(3_000)).unwrap();
    assert_eq!(in_use(&ledger, 0, ms(3_999)), 1);
    assert_eq!(in_use(&ledger, 0, ms(4_000)), 0);
    assert!(ledger.in_flight.is_empty());
}

#[test]
fn units_in_flight_at_the_edges_of_the_integers() {
    // An unpaced slot holds up to u64::MAX: two in flight exceed it without overflowing.
    let mut ledger = Ledger::new(Meters::new(vec![Meter::Unpaced]), None, Duration::MAX);
    let a = in_flight(&mut ledger, &[u64::MAX], FOREVER, ms(0));
    let patient = Patience::For(Nanos::from(Duration::MAX));
    let b = in_flight(&mut ledger, &[u64::MAX], patient, ms(0));
    let one = in_flight(&mut ledger, &[1], patient, ms(0));
    assert!(!a.waiting && b.waiting && one.waiting);
    assert_eq!(ledger.in_flight_gone(0), u64::MAX);
    assert!(matches!(
        ledger.turn(b.id, ms(0), Nanos::MAX.saturating_sub(ms(1))),
        Turn::Later(_)
    ));
    ledger.settle(a.id, 0, u64::MAX, ms(10)).unwrap();
    assert_eq!(ledger.turn(b.id, ms(0), ms(10)), Turn::Gone);
    assert_eq!(ledger.plan(one.id), None, "B holds u64::MAX now");
    ledger.settle(b.id, 0, 0, ms(20)).unwrap();
    assert_eq!(ledger.turn(one.id, ms(0), ms(20)), Turn::Gone);
    // A reservation that costs nothing holds nothing: not in flight, kept where its drop needs
    // no lock.
    let free = in_flight(&mut ledger, &[0], FOREVER, ms(30));
    assert!(!free.waiting && has_place(free.id));
    assert!(!ledger.in_flight.is_marked(free.id));
    // A bill near the end of time counts from there.
    let mut window = ledger_window(1);
    let last = in_flight(&mut window, &[1], FOREVER, ms(0));
    let late = Nanos::MAX.saturating_sub(ms(10_000));
    window.settle(last.id, 0, 1, late).unwrap();
    assert_eq!(in_use(&window, 0, late.saturating_add(ms(999))), 1);
    assert_eq!(in_use(&window, 0, late.saturating_add(ms(2_000))), 0);
}

fn ledger_window(per_second: u64) -> Ledger<Meters> {
    ledger(&[(Rate::per_second(per_second), true)])
}

#[test]
fn a_waiter_for_a_bill_is_refused_by_its_deadline_and_those_behind_it_move_up() {
    let mut ledger = ledger_window(3);
    let a = in_flight(&mut ledger, &[2], FOREVER, ms(0));
    // Cannot wait: refused at once, nothing written.
    let refused = ledger.reserve_in_flight(&[2], 1, Patience::For(Nanos::ZERO).due(ms(0)), ms(0));
    assert_eq!(refused.unwrap_err(), Refusal::NotInTime { wait: None });
    assert_eq!(ledger.waiting(), 0);
    let c = in_flight(&mut ledger, &[2], Patience::For(ms(1_000)), ms(0));
    let d = reserve(&mut ledger, &[1], FOREVER, ms(100));
    assert!(c.waiting && d.waiting);
    assert_eq!(ledger.plan(d.id), None, "FIFO: behind C");
    assert_eq!(
        ledger.turn(c.id, ms(0), ms(500)),
        Turn::Later(Some(ms(1_000)))
    );
    assert_eq!(
        ledger.turn(c.id, ms(0), ms(1_000)),
        Turn::Refused(Refusal::NotInTime { wait: None })
    );
    // D fits beside A's 2 units: planned at once.
    assert_eq!(ledger.turn(d.id, ms(100), ms(1_000)), Turn::Gone);
    assert_eq!(ledger.in_flight_gone(0), 2);
    let _ = a;
}

#[test]
fn a_rate_change_replans_the_waiters_against_the_units_in_flight() {
    let mut ledger = ledger_window(2);
    let a = in_flight(&mut ledger, &[1], FOREVER, ms(0));
    let b = in_flight(&mut ledger, &[1], FOREVER, ms(0));
    let c = reserve(&mut ledger, &[1], FOREVER, ms(0));
    assert_eq!(ledger.plan(c.id), None);
    let set = |ledger: &mut Ledger<Meters>, per_second, now| {
        let rate = Rate::per_second(per_second);
        ledger.change(now, |ledger, now| ledger.accounts.set_rate(0, now, &rate))
    };
    set(&mut ledger, 3, ms(100)).unwrap();
    assert_eq!(ledger.turn(c.id, ms(0), ms(100)), Turn::Gone);
    // Lowered to 1 while 2 are in flight: nothing fits until both are billed.
    set(&mut ledger, 1, ms(200)).unwrap();
    let d = reserve(&mut ledger, &[1], FOREVER, ms(200));
    ledger.settle(a.id, 0, 1, ms(1_000)).unwrap();
    assert_eq!(ledger.plan(d.id), None);
    ledger.settle(b.id, 0, 1, ms(1_000)).unwrap();
    assert_eq!(at(&ledger, d), ms(2_000), "both bills leave at 2 s");
}

/// A server's `remaining` counts the calls in flight that reached it: the meter keeps them
/// apart, so they are not counted twice (4 in flight and 6 remaining of 10: 6 more fit), and a
/// lower `remaining` still binds (2 remaining: 3 more wait, 2 fit).
#[test]
fn what_a_server_reports_remaining_counts_the_calls_in_flight_once() {
    let mut ledger = ledger_window(10);
    let a = in_flight(&mut ledger, &[4], FOREVER, ms(0));
    let observe = |ledger: &mut Ledger<Meters>, remaining, now| {
        ledger.change(now, |ledger, now| {
            ledger.observe_remaining(0, now, remaining)
        });
    };
    observe(&mut ledger, 6, ms(10));
    let six = reserve(&mut ledger, &[6], FOREVER, ms(10));
    assert!(!six.waiting, "4 in flight + 6 = 10");
    ledger.cancel(six.id, ms(20));
    observe(&mut ledger, 2, ms(20));
    let now = Patience::For(Nanos::ZERO).due(ms(20));
    let three = ledger.reserve(&[3], now, true, ms(20));
    assert!(matches!(three, Err(Refusal::NotInTime { .. })), "{three:?}");
    let two = reserve(&mut ledger, &[2], FOREVER, ms(20));
    assert!(!two.waiting);
    let _ = a;
}

#[test]
fn the_lock_free_view_sends_every_call_to_the_lock_while_units_are_in_flight() {
    let mut ledger = ledger(&[(Rate::per_second(10), false)]);
    let read = |ledger: &Ledger<Meters>, cost, now| {
        let view = ledger.accounts.words();
        view.read(&[cost], Patience::For(Nanos::ZERO), now)
    };
    let a = in_flight(&mut ledger, &[5], FOREVER, ms(0));
    // 1 more fits by the meters alone; only the lock knows of A's 5.
    assert_eq!(read(&ledger, 1, ms(0)), Verdict::Locked);
    assert_eq!(read(&ledger, 6, ms(0)), Verdict::Locked);
    ledger.settle(a.id, 0, 5, ms(0)).unwrap();
    assert!(matches!(read(&ledger, 1, ms(0)), Verdict::FitsNow(_)));
    assert!(matches!(read(&ledger, 6, ms(0)), Verdict::Refused(_)));
}

/// One step of the property below.
#[derive(Clone, Debug)]
enum Step {
    /// Time passes, by this many milliseconds.
    Advance(u64),
    /// A reservation of this cost, in flight or not.
    Reserve {
        cost: u64,
        in_flight: bool,
    },
    /// The `n`th call in flight still unbilled (modulo their number): billed `actual` (at most
    /// its cost), cancelled (the server refused it: never counted), or dropped unbilled.
    Bill {
        n: usize,
        actual: u64,
    },
    Cancel {
        n: usize,
    },
    Drop {
        n: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u64..1_500).prop_map(Step::Advance),
        4 => (1u64..=3, any::<bool>()).prop_map(|(cost, in_flight)| Step::Reserve { cost, in_flight }),
        3 => (any::<usize>(), 0u64..=3).prop_map(|(n, actual)| Step::Bill { n, actual }),
        1 => any::<usize>().prop_map(|n| Step::Cancel { n }),
        1 => any::<usize>().prop_map(|n| Step::Drop { n }),
    ]
}

/// A call as the server may count it: `units` stamped at any instant of `[from, to]`.
#[derive(Clone, Copy, Debug)]
struct Counted {
    from: Nanos,
    to: Nanos,
    units: u64,
}

/// Runs `steps` on a window of `limit` per second, granting waiters as their instants come.
/// Returns every call as the server may count it (a plain one at its grant; one in flight from
/// its grant to its bill, or to the end while unbilled).
fn counted_calls(steps: &[Step], limit: u64) -> Vec<Counted> {
    let mut ledger = ledger_window(limit);
    let mut now = Nanos::ZERO;
    let mut waiting: Vec<(Ticket, u64, bool)> = Vec::new();
    let mut flying: Vec<(u64, Nanos, u64)> = Vec::new(); // (id, grant, cost)
    let mut counted = Vec::new();
    for step in steps {
        match *step {
            Step::Advance(by) => now = now.saturating_add(ms(by)),
            Step::Reserve {
                cost,
                in_flight: true,
            } => {
                waiting.push((
                    self::in_flight(&mut ledger, &[cost], FOREVER, now),
                    cost,
                    true,
                ));
            }
            Step::Reserve { cost, .. } => {
                waiting.push((reserve(&mut ledger, &[cost], FOREVER, now), cost, false));
            }
            Step::Bill { n, actual } if !flying.is_empty() => {
                let (id, from, cost) = flying.remove(n % flying.len());
                let units = actual.min(cost);
                ledger.settle(id, 0, units, now).unwrap();
                counted.push(Counted {
                    from,
                    to: now,
                    units,
                });
            }
            Step::Cancel { n } if !flying.is_empty() => {
                let (id, _, _) = flying.remove(n % flying.len());
                ledger.cancel(id, now);
            }
            Step::Drop { n } if !flying.is_empty() => {
                let (id, from, units) = flying.remove(n % flying.len());
                ledger.forget(id, now);
                counted.push(Counted {
                    from,
                    to: now,
                    units,
                });
            }
            Step::Bill { .. } | Step::Cancel { .. } | Step::Drop { .. } => {}
        }
        // Every waiter whose instant came goes, at that instant.
        waiting.retain(|&(ticket, cost, in_flight)| {
            if ledger.turn(ticket.id, now, now) != Turn::Gone {
                return true;
            }
            let grant = ledger.plan(ticket.id).expect("kept").0;
            match in_flight {
                true => flying.push((ticket.id, grant, cost)),
                false => counted.push(Counted {
                    from: grant,
                    to: grant,
                    units: cost,
                }),
            }
            false
        });
    }
    let end = now;
    counted.extend(flying.iter().map(|&(_, from, units)| Counted {
        from,
        to: end,
        units,
    }));
    counted
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever instant of `[from, to]` the server stamps each call at, no window of one second
    /// holds more than the limit: for every window `(t - 1 s, t]`, the calls that may be in it
    /// (`from ≤ t` and `to > t - 1 s`) hold at most the limit together. (The sum changes only
    /// when a call enters, at its `from`: those instants are checked.)
    #[test]
    fn no_window_holds_more_than_its_bound_whenever_calls_in_flight_are_stamped(
        steps in prop::collection::vec(step(), 1..80),
        limit in 3u64..6,
    ) {
        let calls = counted_calls(&steps, limit);
        let second = ms(1_000);
        for call in &calls {
            let t = call.from;
            let in_window: u64 = calls
                .iter()
                .filter(|other| other.from <= t && other.to.saturating_add(second) > t)
                .map(|other| other.units)
                .sum();
            prop_assert!(in_window <= limit, "{in_window} in the window ending at {t:?}: {calls:?}");
        }
    }
}

/// Through a limiter: a permit in flight counts once among those held, whether it holds units
/// or costs nothing (then kept where its drop needs no lock); its units count as used while in
/// flight, and dropped unbilled it is billed then.
#[test]
fn a_limiter_counts_a_permit_in_flight_once_and_its_units_as_used() {
    use crate::{Clock, Limits, MultiLimiter, REQUESTS};

    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(10))
        .unwrap()
        .with_clock(clock);
    let flying = api.reserve_in_flight(&[(REQUESTS, 3)]).unwrap();
    let free = api.reserve_in_flight(&[(REQUESTS, 0)]).unwrap();
    assert_eq!(api.active(), 2);
    assert_eq!(api.usage()[0].1.used, 3);
    drop(free);
    assert_eq!(api.active(), 1);
    drop(flying);
    assert_eq!(api.active(), 0);
    assert_eq!(api.usage()[0].1.used, 3, "billed at its drop");
}

/// A window paced by a burst below its quantity (`Rate::per_second(20).burst(1)`: a start every
/// 50 ms, never more than 20 in a second): the window's units are held in flight, its pacing is
/// not (it spaces starts, as documented for the Runner): calls longer than the pacing interval
/// still start every 50 ms, until the window's 20 are all in flight.
#[test]
fn a_windows_pacing_spaces_starts_and_is_not_held_in_flight() {
    use crate::{Clock, Limits, MultiLimiter, REQUESTS};

    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().window(REQUESTS, Rate::per_second(20).burst(1)))
        .unwrap()
        .with_clock(clock);
    let mut flying = Vec::new();
    for call in 0..20u64 {
        let permit = api.reserve_in_flight(&[(REQUESTS, 1)]).unwrap();
        assert_eq!(
            permit.ready_at(),
            Some(ms(50 * call)),
            "call {call} starts on its pace"
        );
        time.advance_to(ms(50 * call));
        flying.push(permit);
    }
    // The window's 20 are in flight (none billed): the 21st has no instant until a bill.
    let next = api.reserve_in_flight(&[(REQUESTS, 1)]).unwrap();
    assert_eq!(next.ready_at(), None);
    time.advance_to(ms(5_000));
    flying[0].settle(REQUESTS, 1).unwrap();
    assert_eq!(
        next.ready_at(),
        Some(ms(6_000)),
        "a window after the first bill"
    );
}
