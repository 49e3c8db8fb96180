//! The bucket algorithms' one representation, [`Backlog`], and the [`Algorithm`] and
//! [`OneWord`] implementations every bucket takes from it, written once.

use super::{Algorithm, Decision, OneWord, Refunded, WordForm};
use crate::rate::Pace;
use crate::{Nanos, Rate, RateError};

/// A bucket algorithm seen as what they all are underneath: a **backlog** (nanoseconds of
/// emission intervals owed) at a [`Pace`]. Each of the four buckets ([`GcraVirtual`],
/// [`GcraContinuous`], [`TokenBucket`], [`LeakyBucket`]) stores it its own way and implements
/// these few methods; [`Algorithm`] and [`OneWord`] are implemented once for all of them, here,
/// which is why they decide identically.
///
/// A cost `c` conforms at the earliest `t ≥ now` with `backlog(t) + c·T ≤ B·T`, where `T` is
/// the emission interval and `B` the burst; a charge adds `c·T`; the one word is the instant the
/// backlog has drained (GCRA's theoretical arrival time).
///
/// [`Nanos::MAX`] is the end of the clock's time: a queue whose end (`now + backlog`) reaches
/// it is **exhausted**, nothing conforms before `Nanos::MAX` and nothing is available (its true
/// end cannot be stored; without this rule each later charge would vanish in the saturation).
///
/// [`GcraVirtual`]: super::GcraVirtual
/// [`GcraContinuous`]: super::GcraContinuous
/// [`TokenBucket`]: super::TokenBucket
/// [`LeakyBucket`]: super::LeakyBucket
///
/// ```
/// use tollgate::algorithm::{Backlog, TokenBucket};
/// use tollgate::{Nanos, Rate};
///
/// let pace = Rate::per_second(4).pace()?;
/// let mut bucket = TokenBucket::idle(pace);
/// bucket.add_units(Nanos::ZERO, 3); // three tokens taken: 750 ms owed
/// assert_eq!(bucket.backlog(Nanos::ZERO), 750_000_000);
/// assert_eq!(bucket.backlog(Nanos::from_millis(500)), 250_000_000);
/// # Ok::<(), tollgate::RateError>(())
/// ```
pub trait Backlog: Clone + Send + std::fmt::Debug + 'static {
    /// A full (idle) state at `pace`, as of instant zero.
    fn idle(pace: Pace) -> Self;

    /// The pace in force.
    fn pace(&self) -> &Pace;

    /// The latest instant the state was brought up to (an earlier `now` counts as this).
    fn last_update(&self) -> Nanos;

    /// Nanoseconds owed at `now`.
    fn backlog(&self, now: Nanos) -> u64;

    /// Replaces the state with `backlog` owed at `now`, at `pace`.
    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace);

    /// Takes `cost` units at `now` in this representation's own arithmetic (the backlog grows
    /// by `cost·T`, even beyond the burst).
    fn add_units(&mut self, now: Nanos, cost: u64);

    /// Gives `cost` units back at `now` in this representation's own arithmetic (the backlog
    /// shrinks by `cost·T`, never below zero).
    fn remove_units(&mut self, now: Nanos, cost: u64);

    /// The instant everything owed has drained: the queue's end, and the one word. The
    /// default: the latest instant seen plus what is owed then.
    #[inline]
    fn drained_at(&self) -> Nanos {
        let latest = self.last_update();
        latest.saturating_add(Nanos::new(self.backlog(latest)))
    }

    /// Sets the queue's end to `end`, as of `now` (the latest instant seen, if later). The
    /// default: what is owed then, `end − now`.
    #[inline]
    fn set_drained_at(&mut self, now: Nanos, end: Nanos) {
        let now = now.max(self.last_update());
        let pace = *self.pace();
        self.set_backlog(now, end.saturating_sub(now).as_u64(), pace);
    }
}

/// Every bucket's decision math, from its backlog.
impl<B: Backlog> Algorithm for B {
    fn new(rate: &Rate) -> Result<Self, RateError> {
        Ok(B::idle(rate.pace()?))
    }

    /// Keeps what is owed in units.
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
        let pace = rate.pace()?;
        let owed = rescale(self.backlog(now), self.pace(), &pace);
        self.set_backlog(now, owed, pace);
        Ok(())
    }

    #[inline]
    fn capacity(&self) -> u64 {
        self.pace().burst
    }

    /// `end + c·T − B·T` for the queue's end `end = now + backlog`, computed wide (`conforms_after`).
    #[inline]
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        let now = now.max(self.last_update());
        conforms_after(
            now.saturating_add(Nanos::new(self.backlog(now))),
            now,
            self.pace(),
            cost,
        )
    }

    /// Queued at `now` when `at` is the instant it conforms anyway (the backlog queues it
    /// there); behind `at` when another resource chose a later instant, the idle stretch until
    /// then owed too (as GCRA's `TAT = max(TAT, at) + c·T`). Only `now` counts as seen: a
    /// charge placed at a later instant does not make that instant "the latest seen", so what
    /// is charged before it can still go earlier. The mark: the instant the backlog after it
    /// has drained.
    #[inline]
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        let now = now.max(self.last_update());
        if at > now && at > self.conforms_at(now, cost) {
            let end = self
                .drained_at()
                .max(at)
                .saturating_add(Nanos::new(self.pace().span_of(cost)));
            self.set_drained_at(now, end);
        } else {
            self.add_units(now, cost);
        }
        self.drained_at()
    }

    /// Gives back what the charge marked `mark` still holds of `cost`: its part of the backlog
    /// that has not drained by `now` (the charge drains last of everything owed up to `mark`),
    /// to the nanosecond.
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        let now = now.max(self.last_update());
        let pace = *self.pace();
        if mark == Nanos::MAX {
            // The charge saturated the queue: what it holds cannot be told from what others hold.
            return Refunded::default();
        }
        let held = mark.saturating_sub(now).as_u64().min(pace.span_of(cost));
        let before = self.backlog(now);
        let given_back = held.min(before);
        if given_back == 0 {
            return Refunded::default();
        }
        self.set_backlog(now, before - given_back, pace);
        Refunded {
            units: given_back.div_ceil(pace.interval),
            later_marks_earlier_by: Nanos::new(given_back),
        }
    }

    fn refund(&mut self, now: Nanos, cost: u64) {
        self.remove_units(now, cost);
    }

    /// Whole units owed at `now`, rounded up (debt included).
    fn in_use(&self, now: Nanos) -> u64 {
        let now = now.max(self.last_update());
        self.backlog(now).div_ceil(self.pace().interval)
    }

    const ONE_WORD: Option<WordForm<Self>> = Some(WordForm::of());

    #[inline]
    fn latest(&self) -> Nanos {
        self.last_update()
    }

    #[inline]
    fn charge(&mut self, now: Nanos, cost: u64) {
        self.add_units(now, cost);
    }

    /// Whole units that could be taken at `now` without waiting: what the capacity leaves of
    /// the backlog, rounded down; none once the queue reaches the end of time (see
    /// [`Backlog`]).
    fn available(&self, now: Nanos) -> u64 {
        let now = now.max(self.last_update());
        let owed = self.backlog(now);
        if now.saturating_add(Nanos::new(owed)) == Nanos::MAX {
            return 0;
        }
        let pace = self.pace();
        pace.capacity_span().saturating_sub(owed) / pace.interval
    }

    /// The queue was re-scaled in units as of the latest instant seen: so are the marks.
    fn mark_after_set_rate(&self, now: Nanos, mark: Nanos, old: &Pace) -> Nanos {
        let now = now.max(self.last_update());
        let ahead = mark.saturating_sub(now).as_u64();
        now.saturating_add(Nanos::new(rescale(ahead, old, self.pace())))
    }
}

/// Every bucket's one word: the instant its backlog has drained, decided on with GCRA's
/// arithmetic.
impl<B: Backlog> OneWord for B {
    #[inline]
    fn to_word(&self) -> u64 {
        self.drained_at().as_u64()
    }

    #[inline]
    fn from_word(pace: &Pace, word: u64) -> Self {
        let mut state = B::idle(*pace);
        state.set_drained_at(Nanos::ZERO, Nanos::new(word));
        state
    }

    /// As GCRA takes a charge out of its TAT: the queue's end moves back by what the charge
    /// added (`mark − before`), no earlier than `before`; the idle stretch a charge at a later
    /// instant left before it comes out with it (a refund of what the charge holds would leave
    /// that stretch owed).
    fn undo_charge(&mut self, now: Nanos, before: Nanos, mark: Nanos) {
        if mark == Nanos::MAX {
            return; // saturated: what it added cannot be told from what others added
        }
        let end = self.drained_at();
        let added = mark.saturating_sub(before);
        self.set_drained_at(now, end.saturating_sub(added).max(before.min(end)));
    }

    /// Arranged for the lock-free path: whether the cost fits is one comparison of the word
    /// (the TAT) against a bound computed without it (`TAT + cost·T ≤ now + B·T`, which is
    /// [`decide`](Algorithm::decide)'s test, as `TAT ≤ now + (B − cost)·T`), so the answer
    /// follows the word's load by an addition and a comparison. A TAT at the end of time is an
    /// exhausted queue (the end-of-time rule: see [`Backlog`]).
    #[inline]
    fn decide_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> Decision {
        if cost == 0 {
            return Decision::Admitted;
        }
        if cost > pace.burst {
            return Decision::Never {
                capacity: pace.burst,
            };
        }
        // `cost ≤ B`: the slack is not negative.
        let slack = Nanos::new(pace.capacity_span() - pace.span_of(cost));
        let tat = Nanos::new(word);
        if tat < Nanos::MAX && now < Nanos::MAX && tat <= now.saturating_add(slack) {
            Decision::Admitted
        } else {
            Decision::NotBefore(conforms_after(tat.max(now), now, pace, cost))
        }
    }

    /// `TAT = max(TAT, now) + cost·T`, saturating.
    #[inline]
    fn charge_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> u64 {
        Nanos::new(word)
            .max(now)
            .saturating_add(Nanos::new(pace.span_of(cost)))
            .as_u64()
    }
}

/// The earliest instant `≥ now` at which `cost` fits in a queue that ends at `end` (the instant
/// everything charged has drained, `≥ now`): `end + cost·T − B·T`, computed wide.
///
/// A queue that reaches [`Nanos::MAX`], the end of the clock's time, is **exhausted**: nothing
/// conforms before `Nanos::MAX`. Its true end (past the end of time) cannot be stored, GCRA's
/// instant saturates there: without this rule each later charge would vanish in the
/// saturation and the bucket admit without limit within a burst of the end. Every bucket decides
/// by this one rule, so the four still decide identically.
#[inline]
pub(super) fn conforms_after(end: Nanos, now: Nanos, pace: &Pace, cost: u64) -> Nanos {
    if end == Nanos::MAX {
        return Nanos::MAX;
    }
    let at = (u128::from(end.as_u64()) + u128::from(pace.span_of(cost)))
        .saturating_sub(u128::from(pace.capacity_span()));
    Nanos::new(u64::try_from(at).unwrap_or(u64::MAX)).max(now)
}

/// Splits `elapsed` nanoseconds plus a `progress` already accumulated toward the next whole
/// interval into (whole intervals completed, progress toward the next one).
pub(super) fn whole_intervals(progress: u64, elapsed: u64, interval: u64) -> (u64, u64) {
    // Wide: a sum saturated at `u64::MAX` would lose the progress (a state decoded at instant
    // zero and read near the end of time).
    let total = u128::from(progress) + u128::from(elapsed);
    let interval = u128::from(interval);
    (
        u64::try_from(total / interval).unwrap_or(u64::MAX),
        (total % interval) as u64,
    )
}

/// Splits a backlog of `backlog` nanoseconds into (whole units, progress) such that
/// `units × interval − progress == backlog` with `0 ≤ progress < interval`.
pub(super) fn units_and_progress(backlog: u64, interval: u64) -> (u64, u64) {
    let units = backlog.div_ceil(interval);
    let span = u128::from(units) * u128::from(interval);
    (
        units,
        u64::try_from(span - u128::from(backlog)).unwrap_or(0),
    )
}

/// The nanoseconds `units × interval − progress` (the inverse of [`units_and_progress`]),
/// computed wide and saturating only at the end: saturating `units × interval` first would lose
/// `progress` from a backlog that fits.
pub(super) fn span_less_progress(units: u64, progress: u64, interval: u64) -> u64 {
    let span = (u128::from(units) * u128::from(interval)).saturating_sub(u128::from(progress));
    u64::try_from(span).unwrap_or(u64::MAX)
}

/// The backlog `backlog` (nanoseconds at `from`'s interval) expressed at `to`'s interval, keeping
/// the number of units owed; rounded up, saturating.
pub(super) fn rescale(backlog: u64, from: &Pace, to: &Pace) -> u64 {
    let scaled =
        (u128::from(backlog) * u128::from(to.interval)).div_ceil(u128::from(from.interval));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_progress_reassemble_the_backlog() {
        for (backlog, interval) in [(0, 7), (1, 7), (7, 7), (8, 7), (100, 1)] {
            let (units, progress) = units_and_progress(backlog, interval);
            assert!(progress < interval);
            assert_eq!(units * interval - progress, backlog);
        }
    }
}
