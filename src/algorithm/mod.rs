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
//! the backlog `X(t)` satisfies `X(t) + c·T ≤ burst·T`.
//!
//! [`SlidingWindow`] is different by design: at most `min(quantity, burst)` per any window of one
//! period, with no smoothing inside the window.
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
pub trait Algorithm: Send + fmt::Debug + Sized {
    /// A full (idle) state for `rate`.
    fn new(rate: &Rate) -> Result<Self, RateError>;

    /// The most one request may cost.
    fn capacity(&self) -> u64;

    /// The earliest instant `≥ now` at which `cost` (`1..=capacity`) fits, given everything
    /// charged so far.
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos;

    /// Takes `cost` (`≥ 1`) at `now`, queued behind everything already charged, even beyond the
    /// capacity: the excess is debt that later requests wait for.
    fn charge(&mut self, now: Nanos, cost: u64);

    /// Gives `cost` back at `now`, never raising the state above full.
    fn refund(&mut self, now: Nanos, cost: u64);

    /// Gives back `cost` of what was charged at instant `charged_at`, at `now`. The same as
    /// [`refund`](Algorithm::refund) for the bucket algorithms; a log-based algorithm takes it
    /// from the entry made at `charged_at`.
    fn refund_charged_at(&mut self, now: Nanos, charged_at: Nanos, cost: u64) {
        let _ = charged_at;
        self.refund(now, cost);
    }

    /// How many units could be taken at `now` without waiting.
    fn available(&self, now: Nanos) -> u64;

    /// Switches to `rate` at `now`. The bucket algorithms keep the backlog measured in units
    /// (what is owed still has to drain, at the new pace); the new burst applies at once.
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError>;

    /// Admits nothing before `until` (the server said the quota is gone until then); from
    /// `until` on, capacity comes back at this algorithm's own pace. Never lowers what is
    /// already owed.
    fn hold_until(&mut self, now: Nanos, until: Nanos);

    /// Takes in what the server says is left: lowers what is available at `now` to at most
    /// `remaining` (never raises it: the local view may be stricter), and with nothing
    /// remaining holds every request until `now + reset`, when given.
    fn observe(&mut self, now: Nanos, remaining: u64, reset: Option<Nanos>) {
        let available = self.available(now);
        if available > remaining {
            self.charge(now, available - remaining);
        }
        if let (0, Some(reset)) = (remaining, reset) {
            self.hold_until(now, now.saturating_add(reset));
        }
    }

    /// The whole mutable state as one word, for algorithms whose state fits one (with
    /// [`from_word`](Algorithm::from_word)): a [`RateLimiter`](crate::RateLimiter) then keeps
    /// the state in an atomic and admits without locking, by compare-and-swap, running these same
    /// methods on a copy. `None` (the default): the limiter keeps the state under its mutex.
    fn to_word(&self) -> Option<u64> {
        None
    }

    /// The state for `pace` whose mutable part is `word` (from [`to_word`](Algorithm::to_word)).
    fn from_word(pace: &Pace, word: u64) -> Option<Self> {
        let _ = (pace, word);
        None
    }

    /// Whether `cost` fits at `now`, without changing anything.
    fn decide(&self, now: Nanos, cost: u64) -> Decision {
        if cost == 0 {
            return Decision::Admitted;
        }
        if cost > self.capacity() {
            return Decision::Never {
                capacity: self.capacity(),
            };
        }
        let at = self.conforms_at(now, cost);
        if at <= now {
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
