//! How the ledger plans its queue: the floor no reservation goes before, the instant costs fit
//! ([`plan_at`](Ledger::plan_at)), charging a plan and taking a charge out exactly, refunds,
//! granting the waiters whose instant came, and re-planning the queue after a change.

use super::{Blocked, Charged, Grant, Ledger, Plan, Waiter};
use crate::reservation::accounts::Accounts;
use crate::reservation::core::Refusal;
use crate::reservation::per_resource::PerResource;
use crate::time::Due;
use crate::Nanos;

impl<S: Accounts> Ledger<S> {
    /// Refuses costs one of which is above what its resource could ever hold (or a resource
    /// that cannot be used).
    pub(super) fn check_capacity(&self, costs: &[u64]) -> Result<(), Refusal> {
        for (resource, &cost) in costs.iter().enumerate() {
            self.check_cost(resource, cost)?;
        }
        Ok(())
    }

    /// Refuses `cost` of `resource` when it is above what it could ever hold; its capacity.
    pub(super) fn check_cost(&self, resource: usize, cost: u64) -> Result<u64, Refusal> {
        let capacity = self
            .accounts
            .capacity(resource)
            .map_err(|error| Refusal::InvalidRate { resource, error })?;
        if cost > capacity {
            return Err(Refusal::ExceedsCapacity {
                resource,
                cost,
                capacity,
            });
        }
        Ok(capacity)
    }

    /// Refuses an instant set by a server's hold further away than the longest hold allowed.
    pub(super) fn check_hold(
        &self,
        at: Nanos,
        binding: Option<usize>,
        now: Nanos,
    ) -> Result<(), Refusal> {
        let wait = at.saturating_sub(now);
        match binding {
            Some(resource) if self.holds[resource] == at && wait > self.max_hold => {
                Err(Refusal::HeldTooLong {
                    resource,
                    wait: wait.as_duration(),
                })
            }
            _ => Ok(()),
        }
    }

    pub(super) fn slot_free(&self, now: Nanos) -> bool {
        self.slot_limit(now)
            .map_or(true, |max| self.slots_used < max)
    }

    pub(super) fn release_slot(&mut self, slot: bool) {
        if slot {
            self.slots_used = self.slots_used.saturating_sub(1);
        }
    }

    /// What a newcomer waits for before it can be planned, if anything: what a waiter without
    /// an instant waits for (it waits behind it), else a slot when none is free.
    pub(super) fn blocked(&self, now: Nanos) -> Option<Blocked> {
        let queued = match self.waiting.is_empty() {
            true => None,
            false => self.waiting.values().find_map(|waiter| match waiter.plan {
                Plan::Unplanned(blocked) => Some(blocked),
                _ => None,
            }),
        };
        queued.or((!self.slot_free(now)).then_some(Blocked::Slot))
    }

    /// No reservation goes before this: now, the pause, and (FIFO) the last waiter's instant.
    pub(super) fn floor(&self, now: Nanos) -> Nanos {
        if self.waiting.is_empty() {
            return now.max(self.paused_until);
        }
        let last_planned = self
            .waiting
            .values()
            .rev()
            .find_map(|waiter| match &waiter.plan {
                Plan::Planned(charged) => Some(charged.grant.at),
                _ => None,
            })
            .unwrap_or(Nanos::ZERO);
        now.max(self.paused_until).max(last_planned)
    }

    /// The instant every resource allows `costs` (no earlier than `floor`), and the resource
    /// that sets it when it is later than `floor`; refused as by
    /// [`check_capacity`](Ledger::check_capacity) (in the same pass). The units held in flight
    /// count as charged at that instant too (`in_flight.rs`): `None` when, with them, a cost
    /// exceeds its capacity (no instant works until a bill).
    pub(super) fn plan_at(
        &self,
        costs: &[u64],
        now: Nanos,
        floor: Nanos,
    ) -> Result<Option<(Nanos, Option<usize>)>, Refusal> {
        let mut at = floor;
        let mut binding = None;
        let mut fits_with_flights = true;
        for (resource, &cost) in costs.iter().enumerate() {
            let capacity = self.check_cost(resource, cost)?;
            if cost == 0 {
                continue;
            }
            let with_flights = u128::from(cost) + self.in_flight.held(resource);
            let Ok(with_flights) = u64::try_from(with_flights) else {
                fits_with_flights = false;
                continue;
            };
            if with_flights > capacity {
                fits_with_flights = false;
                continue;
            }
            let fits = self
                .accounts
                .conforms_at(resource, now, with_flights)
                .max(self.holds[resource]);
            if fits > at {
                at = fits;
                binding = Some(resource);
            }
        }
        Ok(fits_with_flights.then_some((at, binding)))
    }

    /// Charges reservation `id`'s `costs` to go at `at` (later if a lock-free path took units
    /// since it was planned), with a concurrency slot when the ledger limits concurrency. In
    /// flight, its units are held instead of charged (`in_flight.rs`).
    pub(super) fn charge(
        &mut self,
        id: u64,
        costs: PerResource<u64>,
        now: Nanos,
        at: Nanos,
        binding: Option<usize>,
        keep: bool,
    ) -> Charged {
        let slot = self.slot_limit(now).is_some();
        let mut before = PerResource::filled(costs.len(), None);
        let mut marks = PerResource::filled(costs.len(), Nanos::ZERO);
        let mut at = at;
        let flying = self.flying(id);
        let each = costs.iter().zip(before.iter_mut()).zip(marks.iter_mut());
        for (resource, ((&cost, before), mark)) in each.enumerate() {
            if cost > 0 && !flies(flying.as_deref(), resource) {
                let (end, charged, from) = self.accounts.charge_after_end(resource, now, at, cost);
                *before = end;
                at = at.max(from);
                *mark = charged;
            }
        }
        if slot {
            self.slots_used += 1;
        }
        if let Some(flying) = &flying {
            self.in_flight.hold(&costs, flying);
        }
        Charged {
            grant: Grant {
                costs,
                marks,
                at,
                binding: binding.filter(|_| at > now),
                slot,
                keep,
            },
            before,
        }
    }

    /// Gives back what `grant`'s charge of `resource` still holds; the kept receipts queued
    /// behind it move earlier by as much as the queue did.
    pub(super) fn refund(&mut self, grant: &Grant, resource: usize, now: Nanos) {
        self.refund_part(grant, resource, grant.costs[resource], now);
    }

    /// Gives back up to `cost` of what `grant`'s charge of `resource` still holds, as
    /// [`refund`](Self::refund); returns how much earlier the charges queued behind it now
    /// drain (the bucket algorithms; zero for a window), which is also how much earlier what is
    /// left of this charge drains.
    pub(super) fn refund_part(
        &mut self,
        grant: &Grant,
        resource: usize,
        cost: u64,
        now: Nanos,
    ) -> Nanos {
        let mark = grant.marks[resource];
        if cost == 0 {
            return Nanos::ZERO;
        }
        let refunded = self.accounts.refund(resource, now, mark, cost);
        let shift = refunded.later_marks_earlier_by;
        if shift > Nanos::ZERO {
            for other in self.granted.values_mut() {
                if other.marks[resource] > mark {
                    other.marks[resource] = other.marks[resource].saturating_sub(shift);
                }
            }
        }
        shift
    }

    /// Waiters whose instant has come are granted, in order (inline: with nobody waiting, as
    /// on most decisions, it is one test).
    #[inline]
    pub(super) fn graduate(&mut self, now: Nanos) {
        if !self.waiting.is_empty() {
            self.graduate_waiters(now);
        }
    }

    fn graduate_waiters(&mut self, now: Nanos) {
        let ready: Vec<u64> = self
            .waiting
            .iter()
            .take_while(|(_, waiter)| !matches!(waiter.plan, Plan::Unplanned(_)))
            .filter(|(_, waiter)| matches!(&waiter.plan, Plan::Planned(c) if c.grant.at <= now))
            .map(|(id, _)| *id)
            .collect();
        let graduated = !ready.is_empty();
        for id in ready {
            if let Some(Waiter {
                plan: Plan::Planned(Charged { grant, .. }),
                orphan,
                ..
            }) = self.waiting.remove(&id)
            {
                if orphan {
                    self.release_slot(grant.slot);
                } else {
                    self.granted.insert(id, grant);
                }
            }
        }
        if graduated {
            // The queue is shorter (a slot may be free): what a lock-free path reads changed.
            self.publish(now);
        }
    }

    /// Takes reservation `id`'s `charged` charges out exactly (it is the newest on the state),
    /// gives back its units in flight and frees its slot.
    pub(super) fn undo(&mut self, id: u64, charged: &Charged, now: Nanos) {
        let flying = self.flying(id);
        take_out(&mut self.accounts, charged, flying.as_deref(), now);
        if let Some(flying) = &flying {
            self.in_flight.release(&charged.grant.costs, flying);
        }
        self.release_slot(charged.grant.slot);
    }

    /// Which resources of reservation `id` are in flight, if it is (`None` at once while none
    /// is: the common case costs no lookup).
    fn flying(&self, id: u64) -> Option<PerResource<bool>> {
        match self.in_flight.is_empty() {
            true => None,
            false => self.in_flight.of(id),
        }
    }

    /// The accounts as they would be without the waiters' charges: what the calls that went
    /// use. (A waiter is charged at its future instant; read with it, some algorithms count the
    /// time before that instant as use, as a GCRA's backlog does.)
    pub(crate) fn accounts_of_calls_gone(&self, now: Nanos) -> S
    where
        S: Clone,
    {
        let mut accounts = self.accounts.clone();
        for (&id, waiter) in self.waiting.iter().rev() {
            if let Plan::Planned(charged) = &waiter.plan {
                take_out(&mut accounts, charged, self.flying(id).as_deref(), now);
            }
        }
        accounts
    }

    /// Takes every waiting reservation's charges out, newest first (so each comes off the
    /// state exactly as it went on), and frees their slots.
    pub(super) fn take_out_waiters(&mut self, now: Nanos) {
        let planned: Vec<u64> = self.waiting.keys().rev().copied().collect();
        for id in planned {
            let Some(waiter) = self.waiting.get_mut(&id) else {
                continue;
            };
            if !matches!(waiter.plan, Plan::Planned(_)) {
                continue;
            }
            let unplanned = Plan::Unplanned(Blocked::Slot); // planned again next
            if let Plan::Planned(charged) = std::mem::replace(&mut waiter.plan, unplanned) {
                self.undo(id, &charged, now);
            }
        }
    }

    /// Charges the waiters again in arrival order: each at the earliest instant its costs fit,
    /// no earlier than the one before it. A waiter whose cost no longer fits the capacity, or
    /// whose deadline can no longer be met, is refused (and holds nothing). One that cannot be
    /// planned (no slot free; with the units in flight, a cost above its capacity) waits without
    /// an instant, and so does every one behind it.
    pub(super) fn replan(&mut self, now: Nanos) {
        let mut floor = self.floor(now);
        let mut blocked = None;
        let ids: Vec<u64> = self.waiting.keys().copied().collect();
        for id in ids {
            let waiter = &self.waiting[&id];
            if !matches!(waiter.plan, Plan::Unplanned(_)) {
                continue;
            }
            let costs = waiter.costs.clone();
            let (due, keep) = (waiter.due, waiter.keep);
            let waits_for = blocked.or((!self.slot_free(now)).then_some(Blocked::Slot));
            let plan = if let Some(waits_for) = waits_for {
                match self.check_capacity(&costs) {
                    Err(refusal) => Plan::Failed(refusal),
                    Ok(()) => {
                        blocked = Some(waits_for);
                        Plan::Unplanned(waits_for)
                    }
                }
            } else {
                match self.plan_in_time(&costs, due, now, floor) {
                    Err(refusal) => Plan::Failed(refusal),
                    Ok(None) if due.passed(now) => Plan::Failed(Refusal::NotInTime { wait: None }),
                    Ok(None) => {
                        blocked = Some(Blocked::Bills);
                        Plan::Unplanned(Blocked::Bills)
                    }
                    Ok(Some((at, binding))) => {
                        match self.charge_in_time(id, costs, due, keep, now, at, binding) {
                            Err(refusal) => Plan::Failed(refusal),
                            Ok(charged) => {
                                floor = charged.grant.at;
                                Plan::Planned(charged)
                            }
                        }
                    }
                }
            };
            if let Some(waiter) = self.waiting.get_mut(&id) {
                waiter.plan = plan;
            }
        }
        // A waiter planned to go now stays in the queue until the next lock round grants it:
        // its thread, which may sleep without an instant, is found there to be woken.
    }

    /// The instant `costs` may go, no earlier than `floor` ([`plan_at`](Ledger::plan_at)), and
    /// the resource that sets it (`None`: none until a bill); refused when a hold is too long or
    /// it would not go by `due`.
    pub(super) fn plan_in_time(
        &self,
        costs: &[u64],
        due: Due,
        now: Nanos,
        floor: Nanos,
    ) -> Result<Option<(Nanos, Option<usize>)>, Refusal> {
        let Some((at, binding)) = self.plan_at(costs, now, floor)? else {
            return Ok(None);
        };
        self.check_hold(at, binding, now)?;
        due.in_time(at, now)
            .map_err(|wait| Refusal::NotInTime { wait: Some(wait) })?;
        Ok(Some((at, binding)))
    }

    /// [`charge`](Ledger::charge)s a plan of [`plan_in_time`](Ledger::plan_in_time), unless
    /// the charge goes later than `due` allows (a lock-free path took units since it was
    /// planned): then it is taken out again and refused.
    #[allow(clippy::too_many_arguments)] // one per figure of the plan it charges
    pub(super) fn charge_in_time(
        &mut self,
        id: u64,
        costs: PerResource<u64>,
        due: Due,
        keep: bool,
        now: Nanos,
        at: Nanos,
        binding: Option<usize>,
    ) -> Result<Charged, Refusal> {
        let charged = self.charge(id, costs, now, at, binding, keep);
        if let Err(wait) = due.in_time(charged.grant.at, now) {
            self.undo(id, &charged, now);
            return Err(Refusal::NotInTime { wait: Some(wait) });
        }
        Ok(charged)
    }

    /// Tells the accounts what a lock-free path reads: the holds, the pause, and whether a
    /// newcomer would wait behind others.
    /// A newcomer is decided by the rates alone (so the view may decide it) only while no unit
    /// is held in flight: the view's meters do not count them.
    pub(super) fn publish(&mut self, now: Nanos) {
        let behind_others =
            !self.waiting.is_empty() || !self.in_flight.is_empty() || !self.slot_free(now);
        self.accounts
            .publish(now, &self.holds, self.paused_until, behind_others);
    }
}

/// Takes `charged`'s charges off `accounts` exactly (it is the newest on them), but for the
/// resources `flying` (never charged: their units are held in flight).
fn take_out<S: Accounts>(accounts: &mut S, charged: &Charged, flying: Option<&[bool]>, now: Nanos) {
    let grant = &charged.grant;
    for (resource, (&cost, &mark)) in grant.costs.iter().zip(grant.marks.iter()).enumerate() {
        match (cost, charged.before[resource]) {
            (0, _) => {}
            _ if flies(flying, resource) => {}
            (_, Some(before)) => accounts.undo(resource, now, before, mark, cost),
            (_, None) => {
                accounts.refund(resource, now, mark, cost);
            }
        }
    }
}

/// Whether `resource` is among those `flying` (`None`: none is).
fn flies(flying: Option<&[bool]>, resource: usize) -> bool {
    flying.is_some_and(|flying| flying.get(resource).copied().unwrap_or(false))
}
