//! Whether a change concerns the waiters' threads: a waiter sleeps until its plan's instant, so
//! a change that only moves plans later (a settle that counts a charge from a later instant:
//! the Runner's [`Attempt::answered`](crate::Attempt::answered), a bill equal to the
//! reservation) needs no wake-up. Waking ~1,000 waiting workers at each such change handed the
//! lock through all of them (one context switch each) before the next caller got it: tens of
//! milliseconds per call at 200 calls per second (measured in `tollgate chat`).

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

/// The waiters' standings before a change, in arrival order (see [`Ledger::standings`]).
pub(crate) struct Standings(Vec<(u64, Standing)>);

impl<S: Accounts> Ledger<S> {
    /// Where every waiter stands now, to tell after a change whether any thread must look again
    /// ([`must_wake`](Ledger::must_wake)).
    pub(crate) fn standings(&self) -> Standings {
        Standings(
            self.waiting
                .iter()
                .map(|(id, waiter)| (*id, standing(&waiter.plan)))
                .collect(),
        )
    }

    /// Whether a waiter's thread must look again at `now` since `before`: a plan moved earlier,
    /// a waiter was refused or planned from no instant, one went before its instant (it sleeps
    /// until then), or one joined. Not when plans only stayed or moved later: each thread wakes
    /// at its old instant, finds its new one and waits again (as after any early wake-up).
    pub(crate) fn must_wake(&self, before: &Standings, now: Nanos) -> bool {
        let mut now_waiting = self.waiting.iter().peekable();
        for &(id, was) in &before.0 {
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
                return true;
            }
        }
        // A waiter that joined during the change.
        now_waiting.next().is_some()
    }
}

fn standing(plan: &Plan) -> Standing {
    match plan {
        Plan::Planned(charged) => Standing::At(charged.grant.at),
        Plan::Unplanned(blocked) => Standing::Unplanned(*blocked),
        Plan::Failed(_) => Standing::Failed,
    }
}
