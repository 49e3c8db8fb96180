//! The lock-free form of an algorithm whose whole mutable state fits one word.

use std::fmt;

use super::{Algorithm, Decision, Pace};
use crate::Nanos;

/// An algorithm whose whole mutable state fits one `u64` (the pace aside): a
/// [`RateLimiter`](crate::RateLimiter) keeps the word in an atomic and admits without locking,
/// by compare-and-swap ([`decide_on_word`](OneWord::decide_on_word),
/// [`charge_on_word`](OneWord::charge_on_word)); everything else runs the [`Algorithm`] methods
/// on a state decoded from the word. Register it with
/// `const ONE_WORD: Option<WordForm<Self>> = Some(WordForm::of());` in the
/// [`Algorithm`] implementation.
///
/// The word is also where the queue of charges ends: a charge taken out before it went
/// ([`undo_charge`](OneWord::undo_charge)) comes off exactly, whatever was queued after it.
///
/// The four bucket algorithms share one word through [`Backlog`](super::Backlog): the instant
/// their backlog has drained (GCRA's theoretical arrival time), decided on with GCRA's
/// arithmetic (the same decisions, without converting).
///
/// ```
/// use tollgate::algorithm::{Algorithm, Decision, GcraVirtual, OneWord};
/// use tollgate::{Nanos, Rate};
///
/// let pace = Rate::per_second(10).pace()?;
/// let word = GcraVirtual::charge_on_word(&pace, 0, Nanos::ZERO, 10);
/// assert_eq!(word, Nanos::from_secs(1).as_u64());
/// assert_eq!(
///     GcraVirtual::decide_on_word(&pace, word, Nanos::ZERO, 1),
///     Decision::NotBefore(Nanos::from_millis(100)),
/// );
/// assert_eq!(GcraVirtual::from_word(&pace, word).to_word(), word);
/// # Ok::<(), tollgate::RateError>(())
/// ```
pub trait OneWord: Algorithm {
    /// The whole mutable state as one word.
    fn to_word(&self) -> u64;

    /// The state at `pace` whose mutable part is `word` (from [`to_word`](OneWord::to_word)),
    /// as of instant zero.
    fn from_word(pace: &Pace, word: u64) -> Self;

    /// Takes out, at `now`, the charge that moved the word from `before` (read just before it)
    /// to `mark` (the charge's mark), exactly: including the idle stretch a charge at a later
    /// instant leaves before it, and keeping whatever was queued after it.
    fn undo_charge(&mut self, now: Nanos, before: Nanos, mark: Nanos);

    /// [`decide`](Algorithm::decide) on the state whose word is `word`: the lock-free path's
    /// question. The default decodes the word; an algorithm may answer from it directly.
    #[inline]
    fn decide_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> Decision {
        Self::from_word(pace, word).decide(now, cost)
    }

    /// [`charge`](Algorithm::charge) on the state whose word is `word`: the word after it. The
    /// default decodes, charges and encodes.
    #[inline]
    fn charge_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> u64 {
        let mut state = Self::from_word(pace, word);
        state.charge(now, cost);
        state.to_word()
    }
}

/// An algorithm's [`OneWord`] methods as [`Algorithm::ONE_WORD`] carries them, so that a
/// limiter generic over any [`Algorithm`] can use the one-word form of those that have one
/// (a constant: the calls compile to direct calls, inlined).
///
/// ```
/// use tollgate::algorithm::{Algorithm, GcraVirtual, SlidingWindow};
///
/// assert!(GcraVirtual::ONE_WORD.is_some());
/// assert!(SlidingWindow::ONE_WORD.is_none()); // a log: kept under the limiter's lock
/// ```
pub struct WordForm<A> {
    to_word: fn(&A) -> u64,
    from_word: fn(&Pace, u64) -> A,
    undo_charge: fn(&mut A, Nanos, Nanos, Nanos),
    decide_on_word: fn(&Pace, u64, Nanos, u64) -> Decision,
    charge_on_word: fn(&Pace, u64, Nanos, u64) -> u64,
}

impl<A: OneWord> WordForm<A> {
    /// `A`'s one-word form (`A` is usually inferred: `Some(WordForm::of())` for [`Algorithm::ONE_WORD`]).
    pub const fn of() -> WordForm<A> {
        WordForm {
            to_word: A::to_word,
            from_word: A::from_word,
            undo_charge: A::undo_charge,
            decide_on_word: A::decide_on_word,
            charge_on_word: A::charge_on_word,
        }
    }
}

impl<A> WordForm<A> {
    /// [`OneWord::to_word`].
    #[inline]
    pub(crate) fn encode(&self, state: &A) -> u64 {
        (self.to_word)(state)
    }

    /// [`OneWord::from_word`].
    #[inline]
    pub(crate) fn decode(&self, pace: &Pace, word: u64) -> A {
        (self.from_word)(pace, word)
    }

    /// [`OneWord::undo_charge`].
    #[inline]
    pub(crate) fn undo_charge(&self, state: &mut A, now: Nanos, before: Nanos, mark: Nanos) {
        (self.undo_charge)(state, now, before, mark);
    }

    /// [`OneWord::decide_on_word`].
    #[inline(always)]
    pub(crate) fn decide_on_word(&self, pace: &Pace, word: u64, now: Nanos, cost: u64) -> Decision {
        (self.decide_on_word)(pace, word, now, cost)
    }

    /// [`OneWord::charge_on_word`].
    #[inline(always)]
    pub(crate) fn charge_on_word(&self, pace: &Pace, word: u64, now: Nanos, cost: u64) -> u64 {
        (self.charge_on_word)(pace, word, now, cost)
    }
}

impl<A> Clone for WordForm<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for WordForm<A> {}

impl<A> fmt::Debug for WordForm<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<A>())?;
        f.write_str("'s one-word form")
    }
}
