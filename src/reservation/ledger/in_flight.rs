//! Reservations in flight: units held from a reservation's grant until it is billed, whatever
//! the time.
//!
//! A server that counts a call when its request arrives stamps it at some instant between the
//! limiter's grant and the call's answer, which nobody knows in advance. A reservation made *in
//! flight* ([`Ledger::reserve_in_flight`](super::Ledger::reserve_in_flight), the Runner's
//! attempts) is therefore not charged to its meters when it goes: its units are held as if
//! charged at every instant, so they never come back nor regenerate while the call runs, and
//! every decision at `now` counts them as charged at `now` (`cost + held` must fit). When a
//! resource is **billed** (a settle: the Runner's answer or completion), its units leave the
//! flight and its bill is charged to the meter at that instant, counted from there as any
//! charge. So the server's count of the call, `[arrival, arrival + window)`, is covered by the
//! limiter's `[grant, bill + window)`: no margin, whatever the call's duration.
//!
//! Held units are those of the reservations that went and those **planned** to go: a newcomer
//! or a waiter is planned no earlier than every waiter ahead of it (FIFO), and from their
//! instants on those are held. So one sum per resource serves every decision: a waiter taken
//! out for a re-planning gives its units back, and takes them again when it is planned anew.
//! A waiter whose cost, with the units held, exceeds a capacity has no instant that works until
//! a bill comes: it waits for one, as for a concurrency slot.

use std::collections::HashMap;

use super::Ledger;
use crate::reservation::id_hasher::BuildIdHasher;
use crate::reservation::per_resource::PerResource;
use crate::reservation::Meters;
use crate::Nanos;

/// The units held in flight, per resource, and which resources of each reservation in flight
/// are not billed yet: nothing at all (one word) while no reservation is in flight, as on every
/// limiter but the Runner's.
#[derive(Debug, Default)]
pub(super) struct InFlight(Option<Box<Flights>>);

#[derive(Debug)]
struct Flights {
    /// Per resource: the units of the reservations in flight that went or are planned.
    units: Vec<u128>,
    /// Per reservation in flight (waiting or gone), by id: whether each resource is still in
    /// flight (not billed). Never empty: the flights go once the last reservation lands.
    flying: HashMap<u64, PerResource<bool>, BuildIdHasher>,
}

impl InFlight {
    /// Whether no reservation is in flight (the short paths then need not look further).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether reservation `id` is in flight (and not yet billed in full).
    #[inline]
    pub(super) fn is_marked(&self, id: u64) -> bool {
        self.0
            .as_ref()
            .is_some_and(|flights| flights.flying.contains_key(&id))
    }

    /// The units of `resource` held in flight.
    #[inline]
    pub(super) fn held(&self, resource: usize) -> u128 {
        let units = self
            .0
            .as_ref()
            .and_then(|flights| flights.units.get(resource));
        units.copied().unwrap_or(0)
    }

    /// Reservation `id` of `costs` (one per resource) is in flight: every resource it costs
    /// among the first `flying` (one that costs nothing holds nothing: a later settle of it is
    /// a plain charge at its instant; the others, a window's pacing, are charged at the grant:
    /// they space starts; a reservation that holds nothing is not in flight at all).
    pub(super) fn mark(&mut self, id: u64, costs: &[u64], flying: usize) {
        let flies = |(resource, &cost): (usize, &u64)| cost > 0 && resource < flying;
        if !costs.iter().enumerate().any(flies) {
            return;
        }
        let mut flying = PerResource::filled(costs.len(), false);
        for (slot, cost) in flying.iter_mut().zip(costs.iter().enumerate()) {
            *slot = flies(cost);
        }
        let flights = self.0.get_or_insert_with(|| {
            Box::new(Flights {
                units: vec![0; costs.len()],
                flying: HashMap::default(),
            })
        });
        flights.flying.insert(id, flying);
    }

    /// Which resources of reservation `id` are still in flight (`None`: it is not in flight).
    pub(super) fn of(&self, id: u64) -> Option<PerResource<bool>> {
        self.0.as_ref()?.flying.get(&id).cloned()
    }

    /// Whether resource `resource` of reservation `id` is still in flight.
    pub(super) fn flies(&self, id: u64, resource: usize) -> bool {
        let flying = self.0.as_ref().and_then(|flights| flights.flying.get(&id));
        flying.is_some_and(|flying| flying.get(resource).copied().unwrap_or(false))
    }

    /// Holds `costs` of the resources still `flying` (a reservation planned or gone).
    pub(super) fn hold(&mut self, costs: &[u64], flying: &[bool]) {
        self.each(costs, flying, u128::saturating_add);
    }

    /// Gives back `costs` of the resources still `flying` (a reservation taken out of its plan,
    /// or cancelled).
    pub(super) fn release(&mut self, costs: &[u64], flying: &[bool]) {
        self.each(costs, flying, u128::saturating_sub);
    }

    /// Resource `resource` of reservation `id`, held for `cost`, is billed: it leaves the flight.
    /// Returns whether it was in flight (else nothing changes). Once no resource of it flies,
    /// the reservation is no longer in flight.
    pub(super) fn land(&mut self, id: u64, resource: usize, cost: u64) -> bool {
        let Some(flights) = self.0.as_mut() else {
            return false;
        };
        let Some(flying) = flights.flying.get_mut(&id) else {
            return false;
        };
        match flying.get_mut(resource) {
            Some(flies) if *flies => *flies = false,
            _ => return false,
        }
        let units = &mut flights.units[resource];
        *units = units.saturating_sub(u128::from(cost));
        if flying.iter().all(|flies| !flies) {
            self.forget(id);
        }
        true
    }

    /// Reservation `id` is no longer in flight (cancelled, refused or billed): what it still
    /// holds must have been [released](Self::release) or [landed](Self::land).
    pub(super) fn forget(&mut self, id: u64) {
        if let Some(flights) = self.0.as_mut() {
            flights.flying.remove(&id);
            if flights.flying.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Applies `apply` to the units and `costs` of the resources still `flying`.
    fn each(&mut self, costs: &[u64], flying: &[bool], apply: fn(u128, u128) -> u128) {
        let Some(flights) = self.0.as_mut() else {
            return;
        };
        let each = flights.units.iter_mut().zip(costs).zip(flying);
        for ((units, &cost), _) in each.filter(|(_, flies)| **flies) {
            *units = apply(*units, u128::from(cost));
        }
    }
}

impl Ledger<Meters> {
    /// Lowers what `resource` has available at `now` to what a server reports `remaining`
    /// (never raised). The server's count includes the calls in flight that reached it, which
    /// the meter does not hold (the ledger holds their units apart, and every decision counts
    /// them): so the meter keeps `remaining` plus the units of the calls in flight that went,
    /// or they would be counted twice. A newcomer then fits when it fits the meter with every
    /// unit in flight, and `remaining` with those of the waiters ahead: as when calls in flight
    /// were charged to the meter at their grant.
    pub(crate) fn observe_remaining(&mut self, resource: usize, now: Nanos, remaining: u64) {
        let flying = self.in_flight_gone(resource);
        (self.accounts).observe(resource, now, remaining.saturating_add(flying));
    }
}
