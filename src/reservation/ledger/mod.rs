//! The ledger: the state behind the core's lock, and every operation on it at a stated instant.
//!
//! The ledger holds the accounts, the holds, the concurrency slots and every live reservation:
//! the FIFO queue of those waiting and the receipts of those gone. Its operations take the
//! instant they decide at (`now`, never going backwards) and read no clock, take no lock and
//! never block: [`Core`](super::Core) takes the lock, reads the clock, waits and wakes; the
//! unit tests (`tests.rs`) state instants. How the queue is planned (the floor, the instant a
//! cost fits, charging and taking charges out, re-planning) is in `planning.rs`; whether a
//! change concerns the waiters' threads, in `standings.rs`.

mod in_flight;
#[cfg(test)]
mod in_flight_tests;
mod planning;
mod standings;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Condvar;

use super::accounts::Accounts;
use super::core::Refusal;
use super::per_resource::PerResource;
use super::receipts::{id_of, Dropped, Receipts};
use crate::time::Due;
use crate::Nanos;
use in_flight::InFlight;
pub(crate) use standings::Standings;

/// What a granted reservation holds (its receipt): its cost and charge mark per resource, the
/// instant it went, the resource that made it wait, and whether it holds a concurrency slot.
#[derive(Clone, Debug)]
struct Grant {
    costs: PerResource<u64>,
    marks: PerResource<Nanos>,
    at: Nanos,
    binding: Option<usize>,
    slot: bool,
    /// Kept after it went, for a later settle or cancel (a public reservation); a plain
    /// acquire's grant is dropped once its thread collected it.
    keep: bool,
}

/// A grant as its charge made it: per resource, where the queue ended before the charge, where
/// the accounts keep one ([`Accounts::queue_end`]), to take the charge out exactly while it
/// waits (a grant that went keeps only its receipt).
#[derive(Debug)]
struct Charged {
    grant: Grant,
    before: PerResource<Option<Nanos>>,
}

#[derive(Debug)]
enum Plan {
    /// No instant yet: it waits for what [`Blocked`] says (and so does every waiter behind it).
    Unplanned(Blocked),
    /// Charged, to go at `grant.at`.
    Planned(Charged),
    /// Refused after it began waiting (its deadline can no longer be met, its cost no longer
    /// fits the capacity); its thread collects the refusal.
    Failed(Refusal),
}

/// What a waiter without an instant waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// A concurrency slot (or a waiter ahead that waits for one).
    Slot,
    /// A bill: its costs, with the units held in flight, exceed a capacity (or a waiter ahead's
    /// do): no instant works until a reservation in flight is billed (`in_flight.rs`).
    Bills,
}

#[derive(Debug)]
struct Waiter {
    costs: PerResource<u64>,
    due: Due,
    plan: Plan,
    keep: bool,
    /// Nobody waits for it any more (its reservation was dropped): once it goes, it keeps its
    /// charges and frees its slot.
    orphan: bool,
    /// What its thread sleeps on: a change wakes only the threads it concerns
    /// (`standings.rs`).
    wake: Arc<Condvar>,
}

/// A reservation as the ledger hands it out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    pub(crate) id: u64,
    /// In the queue: [`Core::wait`](super::Core::wait) for it (else it went at once).
    pub(crate) waiting: bool,
}

/// Where a waiting reservation stands, as [`Ledger::turn`] finds it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Turn {
    /// It went: its wait is counted, and a receipt nobody settles is dropped.
    Gone,
    /// Refused (cancelled, or its deadline failed): it holds nothing and left the queue.
    Refused(Refusal),
    /// Not yet: look again at this instant (`None`: when the ledger changes).
    Later(Option<Nanos>),
    /// A concurrency slot came free since it queued: the queue was planned again, and every
    /// waiter must look again now.
    Replanned,
}

/// The state behind the core's lock: the accounts, the holds, the concurrency slots and every
/// live reservation.
pub(crate) struct Ledger<S> {
    pub(crate) accounts: S,
    /// The latest instant decided at: clock readings are clamped to it.
    latest: Nanos,
    /// Per resource: nothing that uses it goes before this instant (a server's hold).
    holds: Vec<Nanos>,
    /// Nothing at all goes before this instant (a pause).
    paused_until: Nanos,
    /// The fixed concurrency limit, if any (an adaptive one comes from the accounts).
    max_parallel: Option<u64>,
    /// Concurrency slots in use.
    slots_used: u64,
    /// The longest a reservation may wait for a server's hold.
    max_hold: Nanos,
    /// Reservations not yet gone, by arrival: the FIFO queue.
    waiting: BTreeMap<u64, Waiter>,
    /// Reservations gone whose receipts are kept (for a later settle or cancel).
    granted: Receipts<Grant>,
    /// The reservations in flight and the units they hold (`in_flight.rs`).
    in_flight: InFlight,
    /// The serial number of the next reservation (its id: [`id_of`]).
    next_id: u64,
    /// Total time reservations waited.
    pub(crate) waited: Nanos,
}

impl<S: Accounts> Ledger<S> {
    /// A ledger over `accounts`, nothing reserved, at the origin of time.
    pub(super) fn new(accounts: S, max_parallel: Option<u64>, max_hold: Duration) -> Ledger<S> {
        let resources = accounts.resources();
        Ledger {
            accounts,
            latest: Nanos::ZERO,
            holds: vec![Nanos::ZERO; resources],
            paused_until: Nanos::ZERO,
            max_parallel,
            slots_used: 0,
            max_hold: Nanos::from(max_hold),
            waiting: BTreeMap::new(),
            granted: Receipts::new(),
            in_flight: InFlight::default(),
            next_id: 0,
            waited: Nanos::ZERO,
        }
    }

    /// The instant to decide at for a clock `reading`: the latest seen, never going backwards.
    pub(super) fn observe(&mut self, reading: Nanos) -> Nanos {
        self.latest = self.latest.max(reading);
        self.latest
    }

    /// Takes back the places of receipts whose reservations were dropped (at every lock round:
    /// see [`Receipts`]).
    #[inline]
    pub(super) fn take_back(&mut self, dropped: &Dropped) {
        self.granted.take_back(dropped);
    }

    /// The latest instant decided at.
    pub(super) fn latest(&self) -> Nanos {
        self.latest
    }

    /// The longest a reservation may wait for a server's hold.
    pub(super) fn max_hold(&self) -> Nanos {
        self.max_hold
    }

    /// Reserves `costs` (one per resource) and, when the ledger limits concurrency, a slot, to
    /// go by `due`; nothing is written when the answer is a refusal. The ticket says whether
    /// it waits. `keep` keeps its receipts for a later settle, cancel or
    /// [`forget`](Ledger::forget), which frees its slot: it must be `true` with slots.
    pub(super) fn reserve(
        &mut self,
        costs: &[u64],
        due: Due,
        keep: bool,
        now: Nanos,
    ) -> Result<Ticket, Refusal> {
        self.graduate(now);
        let serial = self.next_id;
        let id = id_of(serial, None);
        // Marked in flight by `reserve_in_flight` before it came here.
        let in_flight = self.in_flight.is_marked(id);
        if let Some(blocked) = self.blocked(now) {
            self.check_capacity(costs)?;
            return self.queue_unplanned(id, costs, due, keep, blocked, now);
        }
        if keep && !in_flight {
            if let Some(id) = self.go_at_once(costs, now) {
                return Ok(Ticket { id, waiting: false });
            }
        }
        let Some((at, binding)) = self.plan_in_time(costs, due, now, self.floor(now))? else {
            return self.queue_unplanned(id, costs, due, keep, Blocked::Bills, now);
        };
        self.next_id += 1;
        if at <= now && !keep && costs.len() == 1 && self.accounts.take(0, now, costs[0]) {
            // Gone at once and nobody settles it later: charged, no receipt kept.
            self.publish(now);
            return Ok(Ticket { id, waiting: false });
        }
        let costs = PerResource::from_slice(costs);
        let charged = match self.charge_in_time(id, costs, due, keep, now, at, binding) {
            Ok(charged) => charged,
            Err(refusal) => {
                self.publish(now);
                return Err(refusal);
            }
        };
        let at = charged.grant.at;
        let id = if at <= now {
            // Gone at once: holding no slot (nor units in flight, which its drop bills), it is
            // kept where its drop needs no lock.
            let placed = keep && !charged.grant.slot && !in_flight;
            self.granted.keep(serial, charged.grant, placed)
        } else {
            let costs = charged.grant.costs.clone();
            self.queue(id, costs, due, Plan::Planned(charged), keep);
            id
        };
        self.publish(now);
        Ok(Ticket {
            id,
            waiting: at > now,
        })
    }

    /// [`reserve`](Ledger::reserve)s `costs`, kept, **in flight** (`in_flight.rs`): once it
    /// goes, its units are held as if charged at every instant until each resource is billed
    /// ([`settle`](Ledger::settle)); a [`cancel`](Ledger::cancel) gives them back, a
    /// [`forget`](Ledger::forget) bills what is left at its instant (one dropped before it went
    /// gives everything back: it made no call).
    ///
    /// Only the first `flying` resources are held; the others (a window's pacing, which
    /// spaces starts) are charged at the grant as any.
    pub(super) fn reserve_in_flight(
        &mut self,
        costs: &[u64],
        flying: usize,
        due: Due,
        now: Nanos,
    ) -> Result<Ticket, Refusal> {
        let id = id_of(self.next_id, None);
        self.in_flight.mark(id, costs, flying);
        let reserved = self.reserve(costs, due, true, now);
        if reserved.is_err() {
            self.in_flight.forget(id);
        }
        reserved
    }

    /// Queues reservation `id` without an instant, waiting for what `blocked` says (refused when
    /// `due` has passed: it cannot tell when it would go).
    fn queue_unplanned(
        &mut self,
        id: u64,
        costs: &[u64],
        due: Due,
        keep: bool,
        blocked: Blocked,
        now: Nanos,
    ) -> Result<Ticket, Refusal> {
        if due.passed(now) {
            return Err(Refusal::NotInTime { wait: None });
        }
        self.next_id += 1;
        let costs = PerResource::from_slice(costs);
        self.queue(id, costs, due, Plan::Unplanned(blocked), keep);
        self.publish(now);
        Ok(Ticket { id, waiting: true })
    }

    /// The short path of a kept reservation that goes at once, as [`reserve`](Ledger::reserve)
    /// decides it when nobody waits, no pause or hold is in force, a slot is free and every
    /// cost fits now: charged at `now`, its receipt kept; its id. Only on accounts that no
    /// lock-free path charges (a charge lands where it was planned). `None` (nothing written):
    /// `reserve` decides, and explains a refusal.
    #[inline]
    fn go_at_once(&mut self, costs: &[u64], now: Nanos) -> Option<u64> {
        // The end of time is not an instant anyone goes at (no deadline is in time there).
        if !S::CHANGED_ONLY_UNDER_LOCK
            || now == Nanos::MAX
            || !self.waiting.is_empty()
            || !self.in_flight.is_empty()
            || self.paused_until > now
            || !self.slot_free(now)
        {
            return None;
        }
        for (resource, &cost) in costs.iter().enumerate() {
            if self
                .accounts
                .capacity(resource)
                .map_or(true, |capacity| cost > capacity)
            {
                return None;
            }
            if cost > 0
                && (self.holds[resource] > now
                    || self.accounts.conforms_at(resource, now, cost) > now)
            {
                return None;
            }
        }
        Some(self.grant_now(costs, now))
    }

    /// [`go_at_once`](Ledger::go_at_once) for costs a lock-free path found to fit now on the
    /// view the accounts published at `version` ([`Accounts::published_at`]): while nothing was
    /// published since, the accounts, the queue, the holds, the pause and the slots are those
    /// the costs were decided on (every lock round that changes any of them publishes; one that
    /// only shortens the queue may not, which only sends more calls to the lock), and a cost
    /// that fit at the view's instant fits at `now`, no earlier. So it is granted at once
    /// without deciding again, exactly as `go_at_once` would grant it. `None` (nothing
    /// written): the view changed, or `now` is the end of time; `reserve` decides.
    #[inline]
    pub(super) fn go_as_published(
        &mut self,
        costs: &[u64],
        version: u64,
        now: Nanos,
    ) -> Option<u64> {
        if !self.stands_as_published(version, now) {
            return None;
        }
        Some(self.grant_now(costs, now))
    }

    /// Whether a decision made on the view published at `version` holds at `now`: the accounts
    /// change only under the lock, nothing was published since, and `now` is not the end of
    /// time (no one goes then).
    #[inline(always)]
    fn stands_as_published(&self, version: u64, now: Nanos) -> bool {
        S::CHANGED_ONLY_UNDER_LOCK && now < Nanos::MAX && self.accounts.published_at(version)
    }

    /// [`go_as_published`](Ledger::go_as_published) for a call that keeps nothing (a charge
    /// nobody will settle or cancel, and no concurrency slot: a call that ends as it starts, so
    /// the free slot the view saw is all it needs): `costs` charged at `now`. `false` (nothing
    /// written): the view changed, or `now` is the end of time.
    #[inline]
    pub(crate) fn charge_as_published(&mut self, costs: &[u64], version: u64, now: Nanos) -> bool {
        if !self.stands_as_published(version, now) {
            return false;
        }
        let mut marks = PerResource::filled(costs.len(), Nanos::ZERO);
        self.charge_now(costs, now, &mut marks);
        self.publish(now);
        true
    }

    /// Charges each cost at `now`, its mark written in `marks` (left as it is for a cost of
    /// 0, which takes nothing). Written where the caller keeps them: a mark returned would be
    /// read back wider than it was written (a store-forwarding stall per decision).
    #[inline(always)]
    fn charge_now(&mut self, costs: &[u64], now: Nanos, marks: &mut [Nanos]) {
        for (resource, (&cost, mark)) in costs.iter().zip(marks).enumerate() {
            if cost > 0 {
                *mark = self.accounts.charge(resource, now, now, cost).0;
            }
        }
    }

    /// Charges `costs` at `now`, takes a slot when the ledger limits concurrency, and keeps the
    /// receipt (in a place when it holds no slot, written over the receipt last kept there);
    /// its id. Nothing is checked: the caller found that every cost fits now with nobody
    /// waiting and nothing held.
    #[inline]
    fn grant_now(&mut self, costs: &[u64], now: Nanos) -> u64 {
        let mut marks = PerResource::filled(costs.len(), Nanos::ZERO);
        self.charge_now(costs, now, &mut marks);
        let slot = self.slot_limit(now).is_some();
        if slot {
            self.slots_used += 1;
        }
        let grant = || Grant {
            costs: PerResource::from_slice(costs),
            marks: marks.clone(),
            at: now,
            binding: None,
            slot,
            keep: true,
        };
        let serial = self.next_id;
        self.next_id += 1;
        let id = match slot {
            true => self.granted.keep(serial, grant(), false),
            false => self.granted.keep_placed(
                serial,
                |kept| {
                    kept.costs.copy_from(costs);
                    kept.marks.copy_from(&marks);
                    (kept.at, kept.binding, kept.slot, kept.keep) = (now, None, false, true);
                },
                grant,
            ),
        };
        self.publish(now);
        id
    }

    /// Puts reservation `id` in the queue (ids without a place sort by arrival: FIFO).
    fn queue(&mut self, id: u64, costs: PerResource<u64>, due: Due, plan: Plan, keep: bool) {
        let waiter = Waiter {
            costs,
            due,
            plan,
            keep,
            orphan: false,
            wake: Arc::default(),
        };
        self.waiting.insert(id, waiter);
    }

    /// Takes `costs` if they fit at `now` and nobody waits (no slots, holds or queue in the
    /// way): the short path of an admitted decision. `false` changes nothing:
    /// [`reserve`](Ledger::reserve) then decides (and explains a refusal).
    pub(super) fn take_now(&mut self, costs: &[u64], now: Nanos) -> bool {
        // A cost of 0 takes nothing: it goes at once, before anyone waiting and through any hold
        // (as on the lock-free path), once the rate is known valid.
        if costs == [0] {
            return self.accounts.capacity(0).is_ok();
        }
        if !self.waiting.is_empty()
            || !self.in_flight.is_empty()
            || self.paused_until > now
            || self.slot_limit(now).is_some()
        {
            return false;
        }
        // One resource (the limiter's own): `take` checks that it fits.
        let [cost] = costs else {
            return false;
        };
        if self.holds[0] > now
            || now == Nanos::MAX
            || !self.accounts.capacity(0).is_ok_and(|c| *cost <= c)
            || !self.accounts.take(0, now, *cost)
        {
            return false;
        }
        self.publish(now);
        true
    }

    /// When reservation `id` may go and the resource that set that instant: `None` while it
    /// waits for a concurrency slot, or once it is unknown (cancelled, refused, or gone without
    /// receipts).
    pub(super) fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        let grant = match self.granted.get(id) {
            Some(grant) => grant,
            None => match &self.waiting.get(&id)?.plan {
                Plan::Planned(charged) => &charged.grant,
                _ => return None,
            },
        };
        Some((grant.at, grant.binding))
    }

    /// Where reservation `id`, asked for at `asked`, stands at `now` (waiters whose instant has
    /// come are granted first). Once it went or was refused, its thread is done with it.
    pub(super) fn turn(&mut self, id: u64, asked: Nanos, now: Nanos) -> Turn {
        self.graduate(now);
        if let Some(grant) = self.granted.get(id) {
            let (at, keep) = (grant.at, grant.keep);
            self.waited = self.waited.saturating_add(at.saturating_sub(asked));
            if !keep {
                self.granted.remove(id);
            }
            return Turn::Gone;
        }
        let Some(waiter) = self.waiting.get(&id) else {
            return Turn::Refused(Refusal::Cancelled);
        };
        match &waiter.plan {
            Plan::Failed(refusal) => {
                let refusal = refusal.clone();
                self.drop_waiter(id);
                Turn::Refused(refusal)
            }
            Plan::Unplanned(Blocked::Slot) if self.slot_free(now) => {
                // A slot rose or came free since it queued: plan the line again.
                self.replan(now);
                Turn::Replanned
            }
            Plan::Unplanned(_) if waiter.due.passed(now) => {
                // Those behind it may be planned without it (as after any change).
                self.change(now, |ledger, _| ledger.drop_waiter(id));
                Turn::Refused(Refusal::NotInTime { wait: None })
            }
            // Only a bill (a change, which wakes every waiter) gives it an instant.
            Plan::Unplanned(Blocked::Bills) => Turn::Later(waiter.due.at()),
            Plan::Unplanned(Blocked::Slot) => {
                // A slot may come free when the limit rises, or when a planned waiter (one
                // dropped unwaited, whose slot no thread releases) goes.
                let next_graduation = self.waiting.values().find_map(|waiter| match &waiter.plan {
                    Plan::Planned(charged) => Some(charged.grant.at),
                    _ => None,
                });
                let wakes = [
                    waiter.due.at(),
                    self.accounts.next_slot_rise(now),
                    next_graduation,
                ];
                Turn::Later(wakes.into_iter().flatten().min())
            }
            Plan::Planned(charged) => Turn::Later(Some(charged.grant.at)),
        }
    }

    /// Cancels reservation `id`: a waiting one leaves the queue and gives back all it was
    /// charged; one already gone gives back what its charges still hold. Frees its slot.
    pub(super) fn cancel(&mut self, id: u64, now: Nanos) {
        self.change(now, |ledger, now| {
            if let Some(grant) = ledger.granted.remove(id) {
                for (resource, &cost) in grant.costs.iter().enumerate() {
                    // Units in flight come back as they are: they were never charged.
                    if !ledger.in_flight.land(id, resource, cost) {
                        ledger.refund(&grant, resource, now);
                    }
                }
                ledger.release_slot(grant.slot);
                ledger.in_flight.forget(id);
            } else {
                // Waiting: its charges were taken out before this change and are not put back.
                ledger.drop_waiter(id);
            }
        });
    }

    /// Cancels reservation `id` only if it is still waiting (a stop that must not take back a
    /// call already let go). Returns whether it was.
    pub(super) fn withdraw(&mut self, id: u64, now: Nanos) -> bool {
        if !self.waiting.contains_key(&id) {
            return false;
        }
        self.change(now, |ledger, _| ledger.drop_waiter(id))
    }

    /// Drops the receipts of reservation `id`, keeping its charges; frees its slot. Returns
    /// whether anything changed for others (the queue was planned again).
    pub(super) fn forget(&mut self, id: u64, now: Nanos) -> bool {
        if self.in_flight.is_marked(id) {
            self.change(now, |ledger, now| ledger.forget_in_flight(id, now));
            return true;
        }
        let release_slot = match self.granted.remove(id) {
            Some(grant) if grant.slot => true,
            Some(_) => return false, // its charges stay: nothing changes for anyone
            None => match self.waiting.get_mut(&id) {
                // Planned: it goes when its turn comes (its charges stay), but nobody collects
                // it; its slot comes free then.
                Some(waiter) if matches!(waiter.plan, Plan::Planned(_)) => {
                    waiter.orphan = true;
                    return false;
                }
                // Refused, or still waiting for a slot: it holds nothing; it leaves the line.
                Some(_) => {
                    self.drop_waiter(id);
                    false
                }
                None => return false,
            },
        };
        // Those behind it may go now.
        self.change(now, |ledger, _| ledger.release_slot(release_slot));
        true
    }

    /// Forgets reservation `id`, in flight, in a change: gone, what is still in flight is billed
    /// at `now` (as a completion) and its slot freed; still waiting, it leaves the line holding
    /// nothing (it made no call).
    fn forget_in_flight(&mut self, id: u64, now: Nanos) {
        match self.granted.remove(id) {
            Some(grant) => {
                for (resource, &cost) in grant.costs.iter().enumerate() {
                    if self.in_flight.land(id, resource, cost) && cost > 0 {
                        self.accounts.record(resource, now, cost);
                    }
                }
                self.release_slot(grant.slot);
                self.in_flight.forget(id);
            }
            None => {
                self.drop_waiter(id);
            }
        }
    }

    /// Takes waiter `id` out of the line (it holds nothing: refused, unplanned, or its charges
    /// taken out in a change); whether it was there.
    fn drop_waiter(&mut self, id: u64) -> bool {
        self.in_flight.forget(id);
        self.waiting.remove(&id).is_some()
    }

    /// Replaces what reservation `id` is charged for `resource` by `actual`, counted from
    /// `now`: what its charge still holds comes back, `actual` is charged at this instant
    /// (beyond the capacity if need be: debt, never a wait). A reservation still waiting waits
    /// for `actual` instead (refused, changing nothing, when `actual` exceeds the capacity: it
    /// could never go).
    pub(super) fn settle(
        &mut self,
        id: u64,
        resource: usize,
        actual: u64,
        now: Nanos,
    ) -> Result<(), Refusal> {
        self.change(now, |ledger, now| {
            if ledger.waiting.contains_key(&id) {
                ledger.check_cost(resource, actual)?;
                if let Some(waiter) = ledger.waiting.get_mut(&id) {
                    waiter.costs[resource] = actual;
                }
                return Ok(());
            }
            let Some(mut grant) = ledger.granted.remove(id) else {
                return Err(Refusal::Cancelled);
            };
            // In flight, it is billed: its units leave the flight, never charged; else what
            // its charge still holds comes back.
            if !ledger.in_flight.land(id, resource, grant.costs[resource]) {
                ledger.refund(&grant, resource, now);
            }
            grant.costs[resource] = actual;
            if actual > 0 {
                grant.marks[resource] = ledger.accounts.record(resource, now, actual);
            }
            ledger.granted.insert(id, grant);
            Ok(())
        })
    }

    /// Lowers what reservation `id`, gone, is charged for `resource` to `actual` **where the
    /// charge stands**: what it still holds above `actual` comes back and the rest keeps counting
    /// from the instant it was charged at (an earlier [`settle`](Self::settle)). An `actual`
    /// above the charge, or a reservation still waiting, is a plain [`settle`](Self::settle),
    /// counted from `now`.
    pub(super) fn settle_in_place(
        &mut self,
        id: u64,
        resource: usize,
        actual: u64,
        now: Nanos,
    ) -> Result<(), Refusal> {
        // A charge in flight stands nowhere yet: billed from now.
        let charged = self.granted.get(id).map(|grant| grant.costs[resource]);
        let charged = charged.filter(|_| !self.in_flight.flies(id, resource));
        match charged {
            Some(cost) if actual <= cost => self.change(now, |ledger, now| {
                let Some(mut grant) = ledger.granted.remove(id) else {
                    return Err(Refusal::Cancelled);
                };
                let moved = ledger.refund_part(&grant, resource, cost - actual, now);
                grant.marks[resource] = grant.marks[resource].saturating_sub(moved);
                grant.costs[resource] = actual;
                ledger.granted.insert(id, grant);
                Ok(())
            }),
            _ => self.settle(id, resource, actual, now),
        }
    }

    /// Applies `change` at `now` with every waiting reservation's charges taken out, then
    /// re-plans the queue in arrival order. The one path of every change of capacity.
    ///
    /// A panic in `change` (a user algorithm's `observe` or `set_rate`) reaches the caller
    /// after the queue is re-planned: the waiters keep their plans and their order, and the
    /// lock (released on unwind) guards a consistent ledger.
    pub(super) fn change<R>(
        &mut self,
        now: Nanos,
        change: impl FnOnce(&mut Self, Nanos) -> R,
    ) -> R {
        self.graduate(now);
        self.accounts.begin_change();
        self.take_out_waiters(now);
        let changed = panic::catch_unwind(AssertUnwindSafe(|| change(self, now)));
        self.replan(now);
        self.publish(now);
        changed.unwrap_or_else(|panicked| panic::resume_unwind(panicked))
    }

    /// Resources are held until `until` (a server said so); `None`: every resource (a pause).
    pub(crate) fn hold(&mut self, resource: Option<usize>, until: Nanos) {
        match resource {
            Some(resource) => self.holds[resource] = self.holds[resource].max(until),
            None => self.paused_until = self.paused_until.max(until),
        }
    }

    /// Reservations waiting (not yet gone).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Units of `resource` charged to reservations whose instant is still after `now`
    /// (counted by the accounts already, from that instant).
    pub(crate) fn reserved_by_waiters(&self, resource: usize, now: Nanos) -> u64 {
        self.waiting
            .values()
            .filter_map(|waiter| match &waiter.plan {
                Plan::Planned(charged) if charged.grant.at > now => {
                    Some(charged.grant.costs[resource])
                }
                _ => None,
            })
            .fold(0, u64::saturating_add)
    }

    /// Units of `resource` held in flight by reservations that went (those of the waiters are
    /// in [`reserved_by_waiters`](Ledger::reserved_by_waiters)).
    pub(crate) fn in_flight_gone(&self, resource: usize) -> u64 {
        let waiting = self
            .waiting
            .iter()
            .filter(|(id, waiter)| {
                matches!(waiter.plan, Plan::Planned(_)) && self.in_flight.flies(**id, resource)
            })
            .fold(0u128, |sum, (_, waiter)| {
                sum + u128::from(waiter.costs[resource])
            });
        let gone = self.in_flight.held(resource).saturating_sub(waiting);
        u64::try_from(gone).unwrap_or(u64::MAX)
    }

    /// Whether the ledger is as new at `now`: nothing in use, held, waiting or kept.
    pub(crate) fn is_idle(&self, now: Nanos) -> bool {
        self.holds_nothing(now)
            && (0..self.holds.len()).all(|resource| self.accounts.in_use(resource, now) == 0)
    }

    /// Whether only the accounts' state tells the ledger from a new one at `now`: nothing
    /// waiting, kept, held or paused, no slot in use (what a model at rest keeps is that
    /// state alone: `keyed::ModelsAtRest`).
    pub(crate) fn holds_nothing(&self, now: Nanos) -> bool {
        self.waiting.is_empty()
            && self.granted.is_empty()
            && self.slots_in_use() == 0
            && self.paused_until <= now
            && self.holds.iter().all(|hold| *hold <= now)
    }

    /// Reservations kept in a place ([`has_place`](super::receipts::has_place)) and not yet
    /// dropped: each went at once, and is live until its drop (a cancel keeps its place).
    pub(crate) fn kept_in_places(&self) -> u64 {
        self.granted.places_taken()
    }

    /// Concurrency slots in use.
    pub(crate) fn slots_in_use(&self) -> u64 {
        self.slots_used
    }

    /// The concurrency limit at `now`, if there is one.
    pub(crate) fn slot_limit(&self, now: Nanos) -> Option<u64> {
        self.accounts.slot_limit(now).or(self.max_parallel)
    }

    /// Moves every kept receipt of `resource` through `remap` (after a rate change re-scaled
    /// what a bucket owes).
    pub(crate) fn remap_marks(&mut self, resource: usize, remap: impl Fn(&S, Nanos) -> Nanos) {
        let accounts = &self.accounts;
        for grant in self.granted.values_mut() {
            grant.marks[resource] = remap(accounts, grant.marks[resource]);
        }
    }
}
