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
//! decisions** (same admission, same instant), which `tests/algorithms/equivalence.rs` checks on
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
//! # Where a new algorithm goes
//!
//! One file, here or in your own crate: a type implementing [`Algorithm`], whose doc lists the
//! eight methods it writes (the decision, the charge and its mark, the refund of a mark, units
//! in use, the rate). Nothing else changes: it runs in a [`RateLimiter`](crate::RateLimiter)
//! (`RateLimiter::<A>::with_algorithm`), in a [`MultiLimiter`](crate::MultiLimiter) or
//! [`ModelLimiter`](crate::ModelLimiter) ([`Limits::rate_with`](crate::Limits::rate_with)) and
//! in the [`Runner`](crate::Runner) ([`Resource::counted_with`](crate::Resource::counted_with));
//! `tests/algorithms/defined_outside.rs` does exactly that with a fixed window. Two optional
//! layers on top:
//!
//! - [`OneWord`]: a state that fits one `u64` is admitted lock-free by a `RateLimiter` (set
//!   [`Algorithm::ONE_WORD`]).
//! - [`Backlog`]: a new *representation* of the bucket rule implements these few methods and
//!   gets [`Algorithm`] and [`OneWord`] from the one implementation in `backlog.rs`, deciding
//!   as the four buckets do.
//!
//! The files: `mod.rs` (the trait and [`Decision`]), `one_word.rs`, `backlog.rs` (the buckets'
//! shared math), one file per algorithm, `sliding_window/tests.rs` (the window against an exact
//! log), and `any_algorithm.rs` (any algorithm as one object, for the multi-resource meters).
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

mod any_algorithm;
mod backlog;
mod gcra_continuous;
mod gcra_virtual;
mod leaky_bucket;
mod one_word;
mod sliding_window;
mod token_bucket;

use std::fmt;

pub(crate) use any_algorithm::AnyAlgorithm;
pub use backlog::Backlog;
pub use gcra_continuous::GcraContinuous;
pub use gcra_virtual::GcraVirtual;
pub use leaky_bucket::LeakyBucket;
pub use one_word::{OneWord, WordForm};
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

impl Refunded {
    /// `units` given back by an algorithm whose charges do not queue behind one another (a
    /// window's entries, a fixed window's counts): no later mark moves.
    ///
    /// ```
    /// use tollgate::algorithm::Refunded;
    /// use tollgate::Nanos;
    ///
    /// assert_eq!(Refunded::units(3).later_marks_earlier_by, Nanos::ZERO);
    /// ```
    pub fn units(units: u64) -> Refunded {
        Refunded {
            units,
            later_marks_earlier_by: Nanos::ZERO,
        }
    }
}

/// A rate-limiting algorithm: the decision math, a pure state machine over instants and costs.
///
/// # What an algorithm writes
///
/// Eight required methods, for costs of at least 1, each given the instant `now` (never earlier
/// than one given before, by the limiters; an earlier one counts as the latest seen):
///
/// | method | question |
/// |---|---|
/// | [`new`](Algorithm::new) | a full (idle) state for a [`Rate`], or why the rate cannot be meant |
/// | [`set_rate`](Algorithm::set_rate) | switch to another rate, keeping what is owed |
/// | [`capacity`](Algorithm::capacity) | the most one request may cost |
/// | [`conforms_at`](Algorithm::conforms_at) | the earliest instant `≥ now` a cost fits |
/// | [`charge_at`](Algorithm::charge_at) | take a cost to count from an instant; return its **mark** |
/// | [`refund_charge`](Algorithm::refund_charge) | give back what the charge with that mark still holds |
/// | [`refund`](Algorithm::refund) | give back units, whatever charge they came from |
/// | [`in_use`](Algorithm::in_use) | units charged and not yet regenerated |
///
/// A **mark** is whatever instant locates a charge in the algorithm's accounting (the end of a
/// bucket's queue after it, a window entry's instant): the reservation core keeps it with the
/// reservation and hands it back to refund exactly what that charge still holds.
///
/// Everything else is provided from those eight: [`decide`](Algorithm::decide),
/// [`try_take`](Algorithm::try_take), [`reserve`](Algorithm::reserve) add the rules shared by
/// all (cost 0 is always admitted and changes nothing; a cost above the capacity is
/// [`Decision::Never`]); [`charge`](Algorithm::charge), [`available`](Algorithm::available),
/// [`observe`](Algorithm::observe), [`record`](Algorithm::record),
/// [`mark_after_set_rate`](Algorithm::mark_after_set_rate) and [`latest`](Algorithm::latest)
/// have defaults an algorithm overrides only to be faster or to keep more. An algorithm whose
/// state fits one word also implements [`OneWord`] and sets [`ONE_WORD`](Algorithm::ONE_WORD):
/// a [`RateLimiter`](crate::RateLimiter) then admits lock-free on it. The four bucket
/// algorithms get all of this from one representation, [`Backlog`].
///
/// # Where it runs
///
/// The same type runs unchanged in a [`RateLimiter`](crate::RateLimiter)
/// (`RateLimiter::<A>::with_algorithm`), in a [`MultiLimiter`](crate::MultiLimiter) or
/// [`ModelLimiter`](crate::ModelLimiter) ([`Limits::rate_with`](crate::Limits::rate_with)) and
/// in the [`Runner`](crate::Runner)
/// ([`Resource::counted_with`](crate::Resource::counted_with)).
///
/// ```
/// use std::collections::BTreeMap;
/// use tollgate::algorithm::{Algorithm, Decision, Refunded};
/// use tollgate::{Nanos, Rate, RateError};
///
/// /// At most `limit` per period, counted in whole periods since the clock's origin.
/// #[derive(Clone, Debug)]
/// struct FixedWindow {
///     limit: u64,
///     period: u64,
///     /// Units per window index: the current one and later ones (reserved ahead).
///     counts: BTreeMap<u64, u64>,
/// }
///
/// impl FixedWindow {
///     fn index(&self, at: Nanos) -> u64 { at.as_u64() / self.period }
///     fn start(&self, index: u64) -> Nanos { Nanos::new(index * self.period) }
///     fn counted(&self, index: u64) -> u64 { self.counts.get(&index).copied().unwrap_or(0) }
/// }
///
/// impl Algorithm for FixedWindow {
///     fn new(rate: &Rate) -> Result<Self, RateError> {
///         let pace = rate.pace()?;
///         Ok(FixedWindow { limit: pace.quantity(), period: pace.period(), counts: BTreeMap::new() })
///     }
///     fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
///         let used = self.in_use(now);
///         *self = FixedWindow::new(rate)?;
///         self.counts.insert(self.index(now), used);
///         Ok(())
///     }
///     fn capacity(&self) -> u64 { self.limit }
///     fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
///         let mut index = self.index(now);
///         while self.counted(index) + cost > self.limit {
///             index += 1;
///         }
///         self.start(index).max(now)
///     }
///     fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
///         let current = self.index(now);
///         self.counts = self.counts.split_off(&current); // past windows are forgotten
///         let index = self.index(at.max(self.conforms_at(now, cost)));
///         *self.counts.entry(index).or_default() += cost;
///         self.start(index) // the mark: the window it counts in
///     }
///     fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
///         let (index, current) = (self.index(mark), self.index(now));
///         let units = match self.counts.get_mut(&index) {
///             Some(units) if index >= current => {
///                 let taken = cost.min(*units);
///                 *units -= taken;
///                 taken
///             }
///             _ => 0, // its window is over: nothing to give back
///         };
///         Refunded::units(units)
///     }
///     fn refund(&mut self, now: Nanos, cost: u64) {
///         self.refund_charge(now, now, cost);
///     }
///     fn in_use(&self, now: Nanos) -> u64 {
///         self.counts.range(self.index(now)..).map(|(_, units)| units).sum()
///     }
/// }
///
/// let mut window = FixedWindow::new(&Rate::per_second(2))?;
/// let ms = Nanos::from_millis;
/// assert_eq!(window.try_take(ms(900), 2), Decision::Admitted);
/// assert_eq!(window.try_take(ms(999), 1), Decision::NotBefore(ms(1_000)));
/// assert_eq!(window.try_take(ms(1_000), 2), Decision::Admitted); // a new window
/// assert_eq!(window.reserve(ms(1_000), 1), Ok(ms(2_000)));       // counted in the next one
/// # Ok::<(), RateError>(())
/// ```
pub trait Algorithm: Clone + Send + fmt::Debug + 'static {
    /// A full (idle) state for `rate`.
    ///
    /// # Errors
    /// The [`RateError`] of an invalid rate, or of one this algorithm cannot mean (a window
    /// given a burst: [`RateError::BurstOnWindow`]).
    fn new(rate: &Rate) -> Result<Self, RateError>;

    /// Switches to `rate` at `now`. The bucket algorithms keep the backlog measured in units
    /// (what is owed still has to drain, at the new pace); the new burst applies at once.
    ///
    /// # Errors
    /// As [`new`](Algorithm::new); the state is unchanged then.
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError>;

    /// The most one request may cost.
    fn capacity(&self) -> u64;

    /// The earliest instant `≥ now` at which `cost` (`1..=capacity`) fits, given everything
    /// charged so far.
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos;

    /// Takes `cost` (`≥ 1`) to count from `at` (`≥ now`, and no earlier than the instant it
    /// conforms), deciding at `now`, even beyond the capacity (the excess is debt that later
    /// requests wait for), and returns the charge's **mark**: where it sits in the accounting,
    /// for [`refund_charge`](Algorithm::refund_charge) to give back exactly what it still
    /// holds. For the bucket algorithms the mark is the instant the charge has fully drained
    /// (the end of the backlog after it); for the sliding window, the instant its entry counts
    /// from.
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos;

    /// Gives back up to `cost` units of the charge marked `mark` (from
    /// [`charge_at`](Algorithm::charge_at)), at `now`: only what that charge **still holds**.
    /// Units that have regenerated since it was made (a bucket's backlog drained past it, a
    /// window's entry expired) are not given back a second time.
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded;

    /// Gives `cost` back at `now`, whatever charge it came from, never raising the state above
    /// full.
    fn refund(&mut self, now: Nanos, cost: u64);

    /// Units in use at `now`: charged and not yet regenerated, debt included (so it can exceed
    /// the capacity after a settle above the estimate).
    fn in_use(&self, now: Nanos) -> u64;

    /// The one-word form of this algorithm, when it has one ([`OneWord`]): set it to
    /// `Some(WordForm::of())` and a [`RateLimiter`](crate::RateLimiter) keeps the state
    /// in an atomic word and admits without locking. `None` (the default): the state is kept
    /// under the limiter's mutex.
    const ONE_WORD: Option<WordForm<Self>> = None;

    /// The latest instant this state has seen: every method treats an earlier `now` as this.
    /// (The default, for a state that keeps no instant, is [`Nanos::ZERO`].)
    fn latest(&self) -> Nanos {
        Nanos::ZERO
    }

    /// Takes `cost` (`≥ 1`) at `now`, queued behind everything already charged, even beyond the
    /// capacity: the excess is debt that later requests wait for. (The default:
    /// [`charge_at`](Algorithm::charge_at) `now`.)
    #[inline]
    fn charge(&mut self, now: Nanos, cost: u64) {
        self.charge_at(now, now, cost);
    }

    /// How many units could be taken at `now` without waiting. (The default: the capacity
    /// less what is [`in_use`](Algorithm::in_use).)
    fn available(&self, now: Nanos) -> u64 {
        self.capacity().saturating_sub(self.in_use(now))
    }

    /// Takes in what the server says is left: lowers what is available at `now` to at most
    /// `remaining` (never raises it: the local view may be stricter). A server's "nothing left
    /// until then" is a hold, an absolute instant kept by the reservation core, not here.
    fn observe(&mut self, now: Nanos, remaining: u64) {
        let available = self.available(now);
        if available > remaining {
            self.charge(now, available - remaining);
        }
    }

    /// Records `cost` units already used at `now` (a call that has happened: an actual usage
    /// settled after the call), counted from `now` even beyond the capacity: the excess is debt
    /// that later requests wait for. Returns the charge's mark. The default charges it at `now`
    /// like any charge; the sliding window logs it at `now` (not where it would fit), since the
    /// usage is a fact, not a request.
    fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        self.charge_at(now, now, cost)
    }

    /// Where the charge marked `mark` (made while the pace was `old`) stands after
    /// [`set_rate`](Algorithm::set_rate) at `now`. The default keeps it where it was (a
    /// window's entries stay); a bucket's queue was re-scaled in units, so its marks move with
    /// it.
    fn mark_after_set_rate(&self, now: Nanos, mark: Nanos, old: &Pace) -> Nanos {
        let _ = (now, old);
        mark
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
    /// # Errors
    /// [`Decision::Never`], changing nothing, when `cost` is above the capacity.
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
