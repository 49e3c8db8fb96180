use std::any::Any;
use std::sync::Arc;

// Not `Algorithm`: every call here goes through `AnyAlgorithm` (see `on_meter!`).
use super::meter_words::MeterWords;
use crate::algorithm::{self, AnyAlgorithm, GcraVirtual, Pace, Refunded, SlidingWindow};
use crate::{Nanos, Rate, RateError};

/// The resources' figures under the reservation core: the seam between the core and the
/// decision math, in this process's memory. The implementations are [`Meters`] (a
/// multi-resource limiter's algorithms) and the single-algorithm state of a `RateLimiter`.
/// (Where a multi-resource limiter's whole state lives is one level up, its
/// [`StateStore`](crate::state::StateStore): in memory this core over `Meters`, or Redis.)
///
/// Resources are numbered `0..resources()`. Every method is called with the core's lock held
/// and an instant that never goes backwards.
pub(crate) trait Accounts: Send + 'static {
    /// Whether only the core changes the state, under its lock (no lock-free path charges it):
    /// a charge then lands exactly where it was planned. `false` (the default) is always safe.
    const CHANGED_ONLY_UNDER_LOCK: bool = false;

    /// How many resources are kept.
    fn resources(&self) -> usize;

    /// The most one reservation may cost of `resource`, or why the resource cannot be used.
    fn capacity(&self, resource: usize) -> Result<u64, RateError>;

    /// The earliest instant `≥ now` at which `cost` of `resource` fits.
    fn conforms_at(&self, resource: usize, now: Nanos, cost: u64) -> Nanos;

    /// Charges `cost` of `resource` to count from `at`, or from the instant it fits if that is
    /// later (a state also written by a lock-free path may have moved since `at` was planned);
    /// returns the charge's mark ([`Algorithm::charge_at`](crate::algorithm::Algorithm::charge_at)) and the instant it counts from.
    fn charge(&mut self, resource: usize, now: Nanos, at: Nanos, cost: u64) -> (Nanos, Nanos);

    /// [`charge`](Self::charge), also returning where the queue ended just before it
    /// ([`queue_end`](Self::queue_end)), read with the charge itself: read apart, a lock-free
    /// admission landing in between would be taken out with the charge by [`undo`](Self::undo).
    fn charge_after_end(
        &mut self,
        resource: usize,
        now: Nanos,
        at: Nanos,
        cost: u64,
    ) -> (Option<Nanos>, Nanos, Nanos) {
        let before = self.queue_end(resource);
        let (mark, from) = self.charge(resource, now, at, cost);
        (before, mark, from)
    }

    /// Charges `cost` of `resource` if it fits at `now`, keeping no mark (a grant nobody will
    /// settle); `false` (nothing charged) if it no longer fits.
    fn take(&mut self, resource: usize, now: Nanos, cost: u64) -> bool {
        if self.conforms_at(resource, now, cost) > now {
            return false;
        }
        self.charge(resource, now, now, cost);
        true
    }

    /// Records `cost` of `resource` used at `now`, even beyond the capacity; returns its mark
    /// ([`Algorithm::record`](crate::algorithm::Algorithm::record)).
    fn record(&mut self, resource: usize, now: Nanos, cost: u64) -> Nanos;

    /// Gives back what the charge marked `mark` still holds of `cost`
    /// ([`Algorithm::refund_charge`](crate::algorithm::Algorithm::refund_charge)).
    fn refund(&mut self, resource: usize, now: Nanos, mark: Nanos, cost: u64) -> Refunded;

    /// Where `resource`'s queue of charges ends ([`OneWord`](crate::algorithm::OneWord): the word), taken before a
    /// waiting reservation is charged so that taking the charge out is exact.
    fn queue_end(&self, resource: usize) -> Option<Nanos>;

    /// Takes out a charge that moved `resource`'s queue end from `before` to `mark`
    /// ([`OneWord::undo_charge`](crate::algorithm::OneWord::undo_charge)).
    fn undo(&mut self, resource: usize, now: Nanos, before: Nanos, mark: Nanos, cost: u64);

    /// Units of `resource` in use at `now`, debt included.
    fn in_use(&self, resource: usize, now: Nanos) -> u64;

    /// A concurrency limit that depends on time (an adaptive limit), at `now`; `None` (the
    /// default) leaves the core's fixed limit, if any.
    fn slot_limit(&self, now: Nanos) -> Option<u64> {
        let _ = now;
        None
    }

    /// The next instant after `now` at which [`slot_limit`](Accounts::slot_limit) rises, for
    /// callers waiting for a slot to wake then.
    fn next_slot_rise(&self, now: Nanos) -> Option<Nanos> {
        let _ = now;
        None
    }

    /// Called before a change of capacity (the waiters' charges are about to come out): the
    /// place to send a lock-free path to the lock until [`publish`](Accounts::publish). A
    /// lock-free admission already under way may still land; `charge`, `take` and `undo` work on
    /// the current state (compare-and-swap) and re-check the fit, so it is never overwritten or
    /// double-booked.
    fn begin_change(&mut self) {}

    /// Whether the view a lock-free path read at `version` is still what was last published
    /// (nothing published since): a decision made on it stands. `false` (the default): no view,
    /// the core decides.
    fn published_at(&self, version: u64) -> bool {
        let _ = version;
        false
    }

    /// Called after every change, with the holds in force (per resource, and the pause over
    /// all of them) and whether a newcomer would be decided by more than the rates (someone
    /// queued, units held in flight, or every concurrency slot held): the place to publish what
    /// a lock-free path reads.
    fn publish(&mut self, now: Nanos, holds: &[Nanos], paused_until: Nanos, behind_others: bool) {
        let _ = (now, holds, paused_until, behind_others);
    }
}

/// One rate resource of a multi-resource limiter: the algorithm its limits chose (the two
/// built-in choices in arms of their own, dispatched statically; any other through one boxed
/// adapter), or the pacing of an exact window whose rate has a burst below its quantity.
#[derive(Clone, Debug)]
pub(crate) enum Meter {
    Gcra(GcraVirtual),
    Window(SlidingWindow),
    /// A window's pacing slot while its burst equals its quantity: admits everything, holds
    /// nothing.
    Unpaced,
    /// Any other [`Algorithm`](crate::algorithm::Algorithm).
    Other(Box<dyn AnyAlgorithm>),
}

impl Meter {
    /// A meter counting `rate` with `A` (in a built-in arm when `A` is one of them).
    pub(crate) fn of<A: algorithm::Algorithm>(rate: &Rate) -> Result<Meter, RateError> {
        let algorithm = A::new(rate)?;
        let any: &dyn Any = &algorithm;
        Ok(if let Some(gcra) = any.downcast_ref::<GcraVirtual>() {
            Meter::Gcra(gcra.clone())
        } else if let Some(window) = any.downcast_ref::<SlidingWindow>() {
            Meter::Window(window.clone())
        } else {
            Meter::Other(Box::new(algorithm))
        })
    }

    /// The pacing of an exact window counting `rate`: GCRA at `quantity / period` with the
    /// rate's burst when it is below the quantity, else nothing.
    pub(crate) fn pacing(rate: &Rate) -> Result<Meter, RateError> {
        Ok(if rate.capacity() < rate.quantity() {
            Meter::of::<GcraVirtual>(rate)?
        } else {
            Meter::Unpaced
        })
    }
}

/// Dispatches one call to the meter's algorithm (`$unpaced` for a pacing slot that paces
/// nothing). The call is written once: [`AnyAlgorithm`], the only algorithm trait in scope here,
/// names it alike on a concrete algorithm (static) and on a boxed one (dynamic).
macro_rules! on_meter {
    ($meter:expr, $algorithm:ident => $call:expr, unpaced => $unpaced:expr) => {
        match $meter {
            Meter::Gcra($algorithm) => $call,
            Meter::Window($algorithm) => $call,
            Meter::Other($algorithm) => $call,
            Meter::Unpaced => $unpaced,
        }
    };
}

/// The in-memory state of a multi-resource limiter: one meter per resource, and their words as
/// a rejection reads them without the core's lock ([`MeterWords`], published after every change).
#[derive(Clone, Debug)]
pub(crate) struct Meters {
    meters: Vec<Meter>,
    words: Arc<MeterWords>,
    /// A change is in progress (a rate may be set): the paces are published with the words.
    changing: bool,
}

impl Meters {
    pub(crate) fn new(meters: Vec<Meter>) -> Meters {
        let words = Arc::new(MeterWords::new(&meters));
        Meters {
            meters,
            words,
            changing: false,
        }
    }

    /// What a rejection reads without the core's lock.
    pub(crate) fn words(&self) -> &Arc<MeterWords> {
        &self.words
    }

    /// The meters, one per resource.
    pub(crate) fn meters(&self) -> &[Meter] {
        &self.meters
    }

    /// The meters, to write their states in a change (the core publishes the words after it).
    pub(crate) fn meters_mut(&mut self) -> &mut [Meter] {
        &mut self.meters
    }
}

impl Accounts for Meters {
    /// The lock-free path only reads the meters ([`MeterWords`]).
    const CHANGED_ONLY_UNDER_LOCK: bool = true;

    fn resources(&self) -> usize {
        self.meters.len()
    }

    #[inline]
    fn capacity(&self, resource: usize) -> Result<u64, RateError> {
        Ok(on_meter!(&self.meters[resource], a => a.capacity(), unpaced => u64::MAX))
    }

    #[inline]
    fn conforms_at(&self, resource: usize, now: Nanos, cost: u64) -> Nanos {
        on_meter!(&self.meters[resource], a => a.conforms_at(now, cost), unpaced => now)
    }

    #[inline(always)]
    fn charge(&mut self, resource: usize, now: Nanos, at: Nanos, cost: u64) -> (Nanos, Nanos) {
        (
            on_meter!(&mut self.meters[resource], a => a.charge_at(now, at, cost), unpaced => Nanos::ZERO),
            at,
        )
    }

    fn record(&mut self, resource: usize, now: Nanos, cost: u64) -> Nanos {
        on_meter!(&mut self.meters[resource], a => a.record(now, cost), unpaced => Nanos::ZERO)
    }

    fn refund(&mut self, resource: usize, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        on_meter!(&mut self.meters[resource], a => a.refund_charge(now, mark, cost), unpaced => Refunded::default())
    }

    fn in_use(&self, resource: usize, now: Nanos) -> u64 {
        on_meter!(&self.meters[resource], a => a.in_use(now), unpaced => 0)
    }

    fn queue_end(&self, resource: usize) -> Option<Nanos> {
        on_meter!(&self.meters[resource], a => a.queue_end(), unpaced => None)
    }

    fn undo(&mut self, resource: usize, now: Nanos, before: Nanos, mark: Nanos, cost: u64) {
        on_meter!(&mut self.meters[resource], a => a.undo_charge(now, before, mark, cost), unpaced => ());
    }

    #[inline]
    fn publish(&mut self, now: Nanos, holds: &[Nanos], paused_until: Nanos, behind_others: bool) {
        let open_from = match behind_others {
            true => Nanos::MAX,
            false => holds
                .iter()
                .fold(paused_until, |last, hold| last.max(*hold)),
        };
        let paces = std::mem::take(&mut self.changing);
        self.words.publish(&self.meters, now, open_from, paces);
    }

    fn begin_change(&mut self) {
        self.changing = true;
    }

    #[inline]
    fn published_at(&self, version: u64) -> bool {
        self.words.still_at(version)
    }
}

impl Meters {
    /// Lowers what `resource` has available at `now` to at most `remaining`.
    pub(crate) fn observe(&mut self, resource: usize, now: Nanos, remaining: u64) {
        on_meter!(&mut self.meters[resource], a => a.observe(now, remaining), unpaced => ());
    }

    /// Switches `resource` to `rate` at `now`.
    pub(crate) fn set_rate(
        &mut self,
        resource: usize,
        now: Nanos,
        rate: &Rate,
    ) -> Result<(), RateError> {
        on_meter!(&mut self.meters[resource], a => a.set_rate(now, rate), unpaced => Ok(()))
    }

    /// Switches the pacing slot `resource` of a window to pace `rate` at `now` ([`Meter::pacing`]):
    /// GCRA to GCRA keeps what is owed (as any rate change); a pacing that starts begins full,
    /// one that ends forgets its charges (whose marks then give nothing back).
    pub(crate) fn set_pacing(
        &mut self,
        resource: usize,
        now: Nanos,
        rate: &Rate,
    ) -> Result<(), RateError> {
        let paces = rate.capacity() < rate.quantity();
        match &mut self.meters[resource] {
            Meter::Gcra(gcra) if paces => AnyAlgorithm::set_rate(gcra, now, rate),
            meter => {
                *meter = Meter::pacing(rate)?;
                Ok(())
            }
        }
    }

    /// Where a charge of `resource` marked `mark` (made while the pace was `old`) stands now.
    pub(crate) fn mark_after_set_rate(
        &self,
        resource: usize,
        now: Nanos,
        mark: Nanos,
        old: &Pace,
    ) -> Nanos {
        on_meter!(&self.meters[resource], a => a.mark_after_set_rate(now, mark, old), unpaced => mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::TokenBucket;

    #[test]
    fn built_in_algorithms_get_their_own_arms_and_any_other_the_boxed_one() {
        let rate = Rate::per_second(3);
        assert!(matches!(
            Meter::of::<GcraVirtual>(&rate),
            Ok(Meter::Gcra(_))
        ));
        assert!(matches!(
            Meter::of::<SlidingWindow>(&rate),
            Ok(Meter::Window(_))
        ));
        assert!(matches!(
            Meter::of::<TokenBucket>(&rate),
            Ok(Meter::Other(_))
        ));
        assert_eq!(
            Meter::of::<SlidingWindow>(&rate.burst(1)).unwrap_err(),
            RateError::BurstOnWindow {
                rate: rate.burst(1)
            }
        );
    }

    #[test]
    fn a_boxed_algorithm_decides_as_itself_and_clones_apart() {
        let rate = Rate::per_second(2);
        let mut meters = Meters::new(vec![Meter::of::<TokenBucket>(&rate).unwrap()]);
        let t0 = Nanos::ZERO;
        let (mark, _) = meters.charge(0, t0, t0, 2);
        assert_eq!(meters.conforms_at(0, t0, 1), Nanos::from_millis(500));
        // The bucket's one word is its queue's end, so a charge comes out exactly.
        assert_eq!(meters.queue_end(0), Some(Nanos::from_secs(1)));
        let copy = meters.clone();
        meters.undo(0, t0, Nanos::ZERO, mark, 2);
        assert_eq!(meters.in_use(0, t0), 0);
        assert_eq!(copy.in_use(0, t0), 2);
    }
}
