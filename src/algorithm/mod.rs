//! The decision math: pure state machines of `(state, now, cost)`.
//!
//! Nothing here locks, sleeps or reads a clock: every method is given the instant `now` (in
//! [`Nanos`] on some clock's timeline) and answers from the state alone, in integer nanoseconds.
//! The blocking layer ([`RateLimiter`](crate::RateLimiter)) supplies time and waiting for all of
//! them alike.
//!
//! | algorithm | state | pick it when |
//! |---|---|---|
//! | [`GcraVirtual`] | one instant (the theoretical arrival time) | the default: smallest state, fastest |
//! | [`GcraContinuous`] | bucket counter + last conformance time | you reason in ITU-T I.371 terms |
//! | [`TokenBucket`] | whole tokens + refill progress | you want to read "tokens left" |
//! | [`LeakyBucket`] | whole units of water + drain progress | you think of a queue draining at a fixed pace |
//! | [`SlidingWindow`] | a log of the last period's admissions | you must match a provider that counts a strict window |
//!
//! The four bucket algorithms are the same rule in four representations: for the same
//! [`Rate`] and the same sequence of requests, refunds and rate changes they give **identical
//! decisions** (same admission, same instant), which `tests/algorithm_equivalence.rs` checks on
//! random sequences. Each admits a unit every emission interval `T = period / quantity` and holds
//! at most `burst` units; a request of cost `c` conforms at the earliest instant `t ≥ now` at which
//! the backlog `X(t)` satisfies `X(t) + c·T ≤ burst·T`. [`Nanos::MAX`] is the end of the
//! clock's time: a queue whose end (`now + X(now)`) reaches it is exhausted, nothing conforms
//! before `Nanos::MAX` and nothing is available, so that the bound holds within a burst of the
//! end too (an instant cannot count past it, and a charge lost in that saturation would let the
//! bucket admit without limit).
//!
//! [`SlidingWindow`] is different by design: at most `quantity` per any window of one period,
//! with no smoothing inside the window; it takes no other burst ([`RateError::BurstOnWindow`]).
//!
//! ```
//! use tollgate::algorithm::{Algorithm, Decision, GcraVirtual};
//! use tollgate::{Nanos, Rate};
//!
//! // 2 per 200 ms: two at once, then one every 100 ms.
//! let mut gcra = GcraVirtual::new(&"2/200ms".parse()?)?;
//! let t0 = Nanos::ZERO;
//! assert_eq!(gcra.try_take(t0, 1), Decision::Admitted);
//! assert_eq!(gcra.try_take(t0, 1), Decision::Admitted);
//! assert_eq!(gcra.try_take(t0, 1), Decision::NotBefore(Nanos::from_millis(100)));
//! assert_eq!(gcra.try_take(t0, 3), Decision::Never { capacity: 2 });
//! # Ok::<(), tollgate::RateError>(())
//! ```

#[macro_use]
mod backlog;
mod gcra_continuous;
mod gcra_virtual;
mod leaky_bucket;
mod sliding_window;
mod token_bucket;

use std::fmt;

pub use gcra_continuous::GcraContinuous;
pub use gcra_virtual::GcraVirtual;
pub use leaky_bucket::LeakyBucket;
pub use sliding_window::SlidingWindow;
pub use token_bucket::TokenBucket;

pub use crate::rate::Pace;
use crate::{Nanos, Rate, RateError};

/// What an algorithm decides about a request of some cost at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The cost fits now.
    Admitted,
    /// The cost does not fit now; it will, at this instant, if nothing else is taken meanwhile.
    NotBefore(Nanos),
    /// The cost is above the capacity: it will never fit.
    Never {
        /// The most one request may cost.
        capacity: u64,
    },
}

/// What [`Algorithm::refund_charge`] gave back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refunded {
    /// Units given back (a part of a unit counts as one).
    pub units: u64,
    /// How much earlier every charge made after the refunded one now drains (the bucket
    /// algorithms queue charges one behind another; a window's entries do not move: zero).
    pub later_marks_earlier_by: Nanos,
}

/// A rate-limiting algorithm: a pure state machine over instants and costs.
///
/// Implementors provide the primitives (`conforms_at`, `charge`, `refund`, `available`,
/// `set_rate`) for costs of at least 1; the provided methods ([`decide`](Algorithm::decide),
/// [`try_take`](Algorithm::try_take), [`reserve`](Algorithm::reserve)) add the rules shared by all:
/// cost 0 is always admitted and changes nothing; a cost above [`capacity`](Algorithm::capacity)
/// is [`Decision::Never`].
///
/// Every method takes the current instant; callers pass instants that never go backwards
/// (an earlier one is treated as the latest seen).
pub trait Algorithm: Send + fmt::Debug + Sized + 'static {
    /// A full (idle) state for `rate`.
    fn new(rate: &Rate) -> Result<Self, RateError>;

    /// The most one request may cost.
    fn capacity(&self) -> u64;

    /// The latest instant this state has seen: every method treats an earlier `now` as this.
    /// (The default, for a state that keeps no instant, is [`Nanos::ZERO`].)
    fn latest(&self) -> Nanos {
        Nanos::ZERO
    }

    /// The earliest instant `≥ now` at which `cost` (`1..=capacity`) fits, given everything
    /// charged so far.
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos;

    /// Takes `cost` (`≥ 1`) at `now`, queued behind everything already charged, even beyond the
    /// capacity: the excess is debt that later requests wait for.
    fn charge(&mut self, now: Nanos, cost: u64);

    /// Gives `cost` back at `now`, never raising the state above full.
    fn refund(&mut self, now: Nanos, cost: u64);

    /// How many units could be taken at `now` without waiting.
    fn available(&self, now: Nanos) -> u64;

    /// Switches to `rate` at `now`. The bucket algorithms keep the backlog measured in units
    /// (what is owed still has to drain, at the new pace); the new burst applies at once.
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError>;

    /// Takes in what the server says is left: lowers what is available at `now` to at most
    /// `remaining` (never raises it: the local view may be stricter). A server's "nothing left
    /// until then" is a hold, an absolute instant kept by the reservation core, not here.
    fn observe(&mut self, now: Nanos, remaining: u64) {
        let available = self.available(now);
        if available > remaining {
            self.charge(now, available - remaining);
        }
    }

    /// Takes `cost` (`≥ 1`) to count from `at` (`≥ now`, and no earlier than the instant it
    /// conforms), deciding at `now`, and returns the charge's **mark**: where it sits in the
    /// accounting, for [`refund_charge`](Algorithm::refund_charge) to give back exactly what it
    /// still holds. For the bucket algorithms the mark is the instant the charge has fully
    /// drained (the end of the backlog after it); for the sliding window, the instant its entry
    /// counts from.
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos;

    /// Where the queue of charges ends, for an algorithm that keeps one (GCRA's theoretical
    /// arrival time); taken before a charge, it lets [`undo_charge`](Algorithm::undo_charge)
    /// take the charge out exactly. `None` (the default): refunds are exact already, or the
    /// state has no such instant.
    fn queue_end(&self) -> Option<Nanos> {
        None
    }

    /// Takes out, at `now`, the charge of `cost` that moved the queue's end from `before`
    /// ([`queue_end`](Algorithm::queue_end) just before it) to `mark`, exactly: including the
    /// idle stretch a charge at a later instant leaves before it, and keeping whatever was
    /// queued after it. The default gives back what the charge still holds
    /// ([`refund_charge`](Algorithm::refund_charge)).
    fn undo_charge(&mut self, now: Nanos, before: Nanos, mark: Nanos, cost: u64) {
        let _ = before;
        self.refund_charge(now, mark, cost);
    }

    /// Records `cost` units already used at `now` (a call that has happened: an actual usage
    /// settled after the call), counted from `now` even beyond the capacity: the excess is debt
    /// that later requests wait for. Returns the charge's mark. The bucket algorithms queue it
    /// like any charge; the sliding window logs it at `now` (not where it would fit), since the
    /// usage is a fact, not a request.
    fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        self.charge_at(now, now, cost)
    }

    /// Gives back up to `cost` units of the charge marked `mark` (from
    /// [`charge_at`](Algorithm::charge_at)), at `now`: only what that charge **still holds**.
    /// Units that have regenerated since it was made (a bucket's backlog drained past it, a
    /// window's entry expired) are not given back a second time.
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded;

    /// Where the charge marked `mark` (made while the pace was `old`) stands after
    /// [`set_rate`](Algorithm::set_rate) at `now`: a bucket's queue was re-scaled in units, so
    /// its marks move with it; a window's entries stay where they were.
    fn mark_after_set_rate(&self, now: Nanos, mark: Nanos, old: &Pace) -> Nanos;

    /// Units in use at `now`: charged and not yet regenerated, debt included (so it can exceed
    /// the capacity after a settle above the estimate).
    fn in_use(&self, now: Nanos) -> u64;

    /// The whole mutable state as one word, for algorithms whose state fits one (with
    /// [`from_word`](Algorithm::from_word)): a [`RateLimiter`](crate::RateLimiter) then keeps
    /// the state in an atomic and admits without locking, by compare-and-swap
    /// ([`decide_on_word`](Algorithm::decide_on_word),
    /// [`charge_on_word`](Algorithm::charge_on_word)); everything else runs these same methods
    /// on a decoded copy. `None` (the default): the limiter keeps the state under its mutex.
    ///
    /// The four bucket algorithms share one word: the instant their backlog has drained (GCRA's
    /// theoretical arrival time), since each state is a backlog at an instant. The three others
    /// decide on that word with GCRA's arithmetic (the same decisions, without converting).
    fn to_word(&self) -> Option<u64> {
        None
    }

    /// The state for `pace` whose mutable part is `word` (from [`to_word`](Algorithm::to_word)).
    fn from_word(pace: &Pace, word: u64) -> Option<Self> {
        let _ = (pace, word);
        None
    }

    /// [`decide`](Algorithm::decide) on the state whose one-word form is `word` (`None` without
    /// one): the lock-free path's question. The default decodes the word
    /// ([`from_word`](Algorithm::from_word)); an algorithm may answer from the word directly.
    #[inline]
    fn decide_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> Option<Decision> {
        Some(Self::from_word(pace, word)?.decide(now, cost))
    }

    /// [`charge`](Algorithm::charge) on the state whose one-word form is `word`: the word after
    /// it (`None` without a one-word form). The default decodes, charges and encodes.
    #[inline]
    fn charge_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> Option<u64> {
        let mut state = Self::from_word(pace, word)?;
        state.charge(now, cost);
        state.to_word()
    }

    /// Whether `cost` fits at `now`, without changing anything.
    #[inline]
    fn decide(&self, now: Nanos, cost: u64) -> Decision {
        if cost == 0 {
            return Decision::Admitted;
        }
        if cost > self.capacity() {
            return Decision::Never {
                capacity: self.capacity(),
            };
        }
        // `Nanos::MAX` is the end of the clock's time: nothing conforms there (charges would
        // saturate away).
        let now = now.max(self.latest());
        let at = self.conforms_at(now, cost);
        if at <= now && at < Nanos::MAX {
            Decision::Admitted
        } else {
            Decision::NotBefore(at)
        }
    }

    /// Takes `cost` if it fits at `now` (policing): the state changes only when the answer is
    /// [`Decision::Admitted`].
    fn try_take(&mut self, now: Nanos, cost: u64) -> Decision {
        let decision = self.decide(now, cost);
        if decision == Decision::Admitted && cost > 0 {
            self.charge(now, cost);
        }
        decision
    }

    /// Takes `cost` now and returns the instant at which it conforms (shaping): the caller waits
    /// until then. Requests reserved one after another conform in the order they were reserved.
    ///
    /// Fails, changing nothing, with [`Decision::Never`] when `cost` is above the capacity.
    fn reserve(&mut self, now: Nanos, cost: u64) -> Result<Nanos, Decision> {
        match self.decide(now, cost) {
            Decision::Admitted if cost == 0 => Ok(now),
            Decision::Admitted => {
                self.charge(now, cost);
                Ok(now)
            }
            Decision::NotBefore(at) => {
                self.charge(now, cost);
                Ok(at)
            }
            never @ Decision::Never { .. } => Err(never),
        }
    }
}
