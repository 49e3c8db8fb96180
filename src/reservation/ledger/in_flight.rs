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

use crate::reservation::id_hasher::BuildIdHasher;
use crate::reservation::per_resource::PerResource;

/// The units held in flight, per resource, and which resources of each reservation in flight
/// are not billed yet.
#[derive(Debug)]
pub(super) struct InFlight {
    /// Per resource: the units of the reservations in flight that went or are planned.
    units: Vec<u128>,
    /// Per reservation in flight (waiting or gone), by id: whether each resource is still in
    /// flight (not billed).
    flying: HashMap<u64, PerResource<bool>, BuildIdHasher>,
}

impl InFlight {
    /// Nothing in flight, over `resources` resources.
    pub(super) fn new(resources: usize) -> InFlight {
        InFlight {
            units: vec![0; resources],
            flying: HashMap::default(),
        }
    }

    /// Whether no reservation is in flight (the short paths then need not look further).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.flying.is_empty()
    }

    /// Whether reservation `id` is in flight (and not yet billed in full).
    #[inline]
    pub(super) fn is_marked(&self, id: u64) -> bool {
        !self.flying.is_empty() && self.flying.contains_key(&id)
    }

    /// The units of `resource` held in flight.
    #[inline]
    pub(super) fn held(&self, resource: usize) -> u128 {
        self.units.get(resource).copied().unwrap_or(0)
    }

    /// Reservation `id` is in flight, every resource of it.
    pub(super) fn mark(&mut self, id: u64) {
        let resources = self.units.len();
        self.flying.insert(id, PerResource::filled(resources, true));
    }

    /// Which resources of reservation `id` are still in flight (`None`: it is not in flight).
    pub(super) fn of(&self, id: u64) -> Option<PerResource<bool>> {
        self.flying.get(&id).cloned()
    }

    /// Whether resource `resource` of reservation `id` is still in flight.
    pub(super) fn flies(&self, id: u64, resource: usize) -> bool {
        self.flying
            .get(&id)
            .is_some_and(|flying| flying.get(resource).copied().unwrap_or(false))
    }

    /// Holds `costs` of the resources still `flying` (a reservation planned or gone).
    pub(super) fn hold(&mut self, costs: &[u64], flying: &[bool]) {
        for ((units, &cost), _) in self.each(costs, flying) {
            *units = units.saturating_add(u128::from(cost));
        }
    }

    /// Gives back `costs` of the resources still `flying` (a reservation taken out of its plan,
    /// or cancelled).
    pub(super) fn release(&mut self, costs: &[u64], flying: &[bool]) {
        for ((units, &cost), _) in self.each(costs, flying) {
            *units = units.saturating_sub(u128::from(cost));
        }
    }

    /// Resource `resource` of reservation `id`, held for `cost`, is billed: it leaves the flight.
    /// Returns whether it was in flight (else nothing changes). Once no resource of it flies,
    /// the reservation is no longer in flight.
    pub(super) fn land(&mut self, id: u64, resource: usize, cost: u64) -> bool {
        let Some(flying) = self.flying.get_mut(&id) else {
            return false;
        };
        match flying.get_mut(resource) {
            Some(flies) if *flies => *flies = false,
            _ => return false,
        }
        if flying.iter().all(|flies| !flies) {
            self.flying.remove(&id);
        }
        self.units[resource] = self.units[resource].saturating_sub(u128::from(cost));
        true
    }

    /// Reservation `id` is no longer in flight (cancelled, refused or billed): what it still
    /// holds must have been [released](Self::release) or [landed](Self::land).
    pub(super) fn forget(&mut self, id: u64) {
        self.flying.remove(&id);
    }

    /// The units, costs and flags of the resources still flying.
    fn each<'a>(
        &'a mut self,
        costs: &'a [u64],
        flying: &'a [bool],
    ) -> impl Iterator<Item = ((&'a mut u128, &'a u64), &'a bool)> {
        self.units
            .iter_mut()
            .zip(costs)
            .zip(flying)
            .filter(|(_, flies)| **flies)
    }
}
