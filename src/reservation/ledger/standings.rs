//! Which waiters' threads a change concerns: a waiter sleeps until its plan's instant, so a
//! change that only moves plans later (a settle that counts a charge from a later instant: the
//! Runner's [`Attempt::answered`](crate::Attempt::answered), a bill equal to the reservation)
//! needs no wake-up. Waking ~1,000 waiting workers at each such change handed the lock through
//! all of them (one context switch each) before the next caller got it: tens of milliseconds per
//! call at 200 calls per second (measured in `tollgate chat`).
//!
//! So each waiter's thread sleeps on a condition variable of its own ([`Ledger::wake_of`]), and
//! a change wakes only the threads it concerns ([`Ledger::concerned`]): a bill that gives an
//! instant to the first of ~1,000 calls waiting for the units in flight wakes that one thread.

use std::sync::Arc;

use parking_lot::Condvar;

use super::{Blocked, Ledger, Plan};
use crate::reservation::accounts::Accounts;
use crate::Nanos;

/// Where one waiter stands, as its thread last saw it (or will see it at its instant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Charged, to go at this instant: its thread sleeps until then.
    At(Nanos),
    /// No instant yet: waiting for a concurrency slot or for a bill (its thread sleeps until
    /// what it waits for may have come: a change of kind must wake it).
    Unplanned(Blocked),
    /// Refused: its thread was woken to collect the refusal.
    Failed,
}

/// The waiters' standings before a change, in arrival order, with what their threads sleep on
/// (see [`Ledger::standings`]).
pub(crate) struct Standings(Vec<(u64, Standing, Arc<Condvar>)>);

impl<S: Accounts> Ledger<S> {
    /// Where every waiter stands now, to tell after a change which threads must look again
    /// ([`concerned`](Ledger::concerned)).
    pub(crate) fn standings(&self) -> Standings {
        Standings(
            self.waiting
                .iter()
                .map(|(id, waiter)| (*id, standing(&waiter.plan), Arc::clone(&waiter.wake)))
                .collect(),
        )
    }

    /// What the thread of waiter `id` sleeps on (`None`: it is not waiting).
    pub(crate) fn wake_of(&self, id: u64) -> Option<Arc<Condvar>> {
        self.waiting.get(&id).map(|waiter| Arc::clone(&waiter.wake))
    }

    /// What every waiter's thread sleeps on: to wake them all.
    pub(crate) fn wakes(&self) -> Vec<Arc<Condvar>> {
        let wakes = self.waiting.values().map(|waiter| Arc::clone(&waiter.wake));
        wakes.collect()
    }

    /// What the threads that must look again at `now` since `before` sleep on: a waiter whose
    /// plan moved earlier, that was refused, planned from no instant or unplanned, that went
    /// before its instant (it sleeps until then), or that joined. Not those whose plans only
    /// stayed or moved later: each wakes at its old instant, finds its new one and waits again
    /// (as after any early wake-up). When any is concerned, so are the waiters for a slot: they
    /// sleep until the next waiter's instant, which may have moved.
    pub(crate) fn concerned(&self, before: &Standings, now: Nanos) -> Vec<Arc<Condvar>> {
        let mut concerned = Vec::new();
        let mut now_waiting = self.waiting.iter().peekable();
        for (id, was, wake) in &before.0 {
            let (id, was) = (*id, *was);
            let is = match now_waiting.peek() {
                Some((&next, waiter)) if next == id => {
                    let is = standing(&waiter.plan);
                    now_waiting.next();
                    Some(is)
                }
                _ => None,
            };
            let unconcerned = match (was, is) {
                (Standing::At(was), Some(Standing::At(is))) => is >= was,
                // Its thread wakes at its instant and finds it has no instant any more.
                (Standing::At(_), Some(Standing::Unplanned(_))) => true,
                // Gone: its thread collects its grant when it wakes, at its instant.
                (Standing::At(was), None) => was <= now,
                (was, Some(is)) => was == is,
                // A waiter without an instant that left the queue: its thread waits for word.
                (_, None) => false,
            };
            if !unconcerned {
                concerned.push(Arc::clone(wake));
            }
        }
        // A waiter that joined during the change.
        concerned.extend(now_waiting.map(|(_, waiter)| Arc::clone(&waiter.wake)));
        if !concerned.is_empty() {
            let for_slots = self
                .waiting
                .values()
                .filter(|waiter| matches!(waiter.plan, Plan::Unplanned(Blocked::Slot)));
            concerned.extend(for_slots.map(|waiter| Arc::clone(&waiter.wake)));
        }
        concerned
    }
}

fn standing(plan: &Plan) -> Standing {
    match plan {
        Plan::Planned(charged) => Standing::At(charged.grant.at),
        Plan::Unplanned(blocked) => Standing::Unplanned(*blocked),
        Plan::Failed(_) => Standing::Failed,
    }
}
