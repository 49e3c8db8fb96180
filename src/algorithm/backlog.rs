//! Integer arithmetic on backlogs (nanoseconds of queued emission intervals) shared by the
//! bucket algorithms.

use super::{Algorithm, Refunded};
use crate::rate::Pace;
use crate::{Nanos, Rate, RateError};

/// A bucket algorithm seen as what they all are underneath: a backlog (nanoseconds of emission
/// intervals owed) at a pace. Rate changes and holds are written once, here, on top of it.
pub(super) trait Backlog {
    /// A full (idle) state at `pace`, as of instant zero.
    fn idle(pace: Pace) -> Self;
    fn pace(&self) -> &Pace;
    /// Nanoseconds owed at `now`.
    fn backlog(&self, now: Nanos) -> u64;
    /// Replaces the state with `backlog` owed at `now`, at `pace`.
    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace);
}

/// The [`Algorithm`] methods every bucket algorithm takes from its backlog view, written once:
/// construction, rate changes, exact refunds of a charge, marks after a rate change, units in use
/// and units available.
macro_rules! backlog_methods {
    () => {
        fn new(rate: &Rate) -> Result<Self, RateError> {
            Ok(<Self as backlog::Backlog>::idle(rate.pace()?))
        }

        fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
            backlog::set_rate(self, now, rate)
        }

        fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
            backlog::refund_charge(self, now, mark, cost)
        }

        fn mark_after_set_rate(&self, now: Nanos, mark: Nanos, old: &Pace) -> Nanos {
            backlog::mark_after_set_rate(self, now, mark, old)
        }

        fn in_use(&self, now: Nanos) -> u64 {
            backlog::in_use(self, now)
        }

        fn available(&self, now: Nanos) -> u64 {
            backlog::available(self, now)
        }
    };
}

/// The one-word form the bucket algorithms other than GCRA take from their backlog view: the
/// instant their backlog has drained (GCRA's theoretical arrival time), decided on with GCRA's
/// arithmetic, which gives the same decisions (the module's equivalence).
macro_rules! gcra_word_methods {
    () => {
        fn to_word(&self) -> Option<u64> {
            Some(backlog::drained_at(self).as_u64())
        }

        fn from_word(pace: &Pace, word: u64) -> Option<Self> {
            let mut state = <Self as backlog::Backlog>::idle(*pace);
            backlog::Backlog::set_backlog(&mut state, Nanos::ZERO, word, *pace);
            Some(state)
        }

        #[inline]
        fn decide_on_word(
            pace: &Pace,
            word: u64,
            now: Nanos,
            cost: u64,
        ) -> Option<super::Decision> {
            super::GcraVirtual::decide_on_word(pace, word, now, cost)
        }

        #[inline]
        fn charge_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> Option<u64> {
            super::GcraVirtual::charge_on_word(pace, word, now, cost)
        }

        fn queue_end(&self) -> Option<Nanos> {
            Some(backlog::drained_at(self))
        }

        fn undo_charge(&mut self, now: Nanos, before: Nanos, mark: Nanos, _cost: u64) {
            backlog::undo_charge(self, now, before, mark);
        }
    };
}

/// Takes out, exactly as GCRA does, the charge that moved the queue's end ([`drained_at`]) from
/// `before` to `mark`: the idle stretch a charge at a later instant left before it included (a
/// refund of what the charge holds would leave that stretch owed), whatever was queued after it
/// kept.
pub(super) fn undo_charge<B: Backlog + Algorithm>(
    state: &mut B,
    now: Nanos,
    before: Nanos,
    mark: Nanos,
) {
    if mark == Nanos::MAX {
        return; // saturated: what it added cannot be told from what others added
    }
    let end = drained_at(state);
    let added = mark.saturating_sub(before);
    let end = end.saturating_sub(added).max(before.min(end));
    let latest = now.max(state.latest());
    let pace = *state.pace();
    state.set_backlog(latest, end.saturating_sub(latest).as_u64(), pace);
}

/// The instant the backlog has drained: the latest instant seen plus what is owed then.
pub(super) fn drained_at<B: Backlog + Algorithm>(state: &B) -> Nanos {
    let latest = state.latest();
    latest.saturating_add(Nanos::new(state.backlog(latest)))
}

/// The earliest instant `≥ now` at which `cost` fits, given what is owed at `now`: as
/// [`conforms_after`] decides it for the queue's end, `now + backlog`.
pub(super) fn conforms_at<B: Backlog + Algorithm>(state: &B, now: Nanos, cost: u64) -> Nanos {
    let now = now.max(state.latest());
    conforms_after(
        now.saturating_add(Nanos::new(state.backlog(now))),
        now,
        state.pace(),
        cost,
    )
}

/// The earliest instant `≥ now` at which `cost` fits in a queue that ends at `end` (the instant
/// everything charged has drained, `≥ now`): `end + cost·T − B·T`, computed wide.
///
/// A queue that reaches [`Nanos::MAX`], the end of the clock's time, is **exhausted**: nothing
/// conforms before `Nanos::MAX`. Its true end (past the end of time) cannot be stored, GCRA's
/// instant saturates there: without this rule each later charge would vanish in the
/// saturation and the bucket admit without limit within a burst of the end. Every bucket decides
/// by this one rule, so the four still decide identically.
pub(super) fn conforms_after(end: Nanos, now: Nanos, pace: &Pace, cost: u64) -> Nanos {
    if end == Nanos::MAX {
        return Nanos::MAX;
    }
    let at = (u128::from(end.as_u64()) + u128::from(pace.span_of(cost)))
        .saturating_sub(u128::from(pace.capacity_span()));
    Nanos::new(u64::try_from(at).unwrap_or(u64::MAX)).max(now)
}

/// Whole units that could be taken at `now` without waiting: what the capacity leaves of the
/// backlog, rounded down; none once the queue reaches the end of time (see [`conforms_after`]).
pub(super) fn available<B: Backlog + Algorithm>(state: &B, now: Nanos) -> u64 {
    let now = now.max(state.latest());
    let owed = state.backlog(now);
    if now.saturating_add(Nanos::new(owed)) == Nanos::MAX {
        return 0;
    }
    let pace = state.pace();
    pace.capacity_span().saturating_sub(owed) / pace.interval
}

/// Switches to `rate`, keeping what is owed in units.
pub(super) fn set_rate(state: &mut impl Backlog, now: Nanos, rate: &Rate) -> Result<(), RateError> {
    let pace = rate.pace()?;
    let owed = rescale(state.backlog(now), state.pace(), &pace);
    state.set_backlog(now, owed, pace);
    Ok(())
}

/// Charges `cost` to count from `at`: at `now` when `at` is the instant it conforms anyway (the
/// backlog queues it there), else at `at` (a later instant another resource chose: the bucket
/// refills until then). Returns the mark: the instant the backlog after it has drained.
pub(super) fn charge_at<B: Backlog + Algorithm>(
    state: &mut B,
    now: Nanos,
    at: Nanos,
    cost: u64,
) -> Nanos {
    let now = now.max(state.latest());
    let from = if at > now && at > state.conforms_at(now, cost) {
        at
    } else {
        now
    };
    state.charge(from, cost);
    from.saturating_add(Nanos::new(state.backlog(from)))
}

/// Gives back what the charge marked `mark` still holds of `cost`: its part of the backlog that
/// has not drained by `now` (the charge drains last of everything owed up to `mark`), to the
/// nanosecond.
pub(super) fn refund_charge<B: Backlog + Algorithm>(
    state: &mut B,
    now: Nanos,
    mark: Nanos,
    cost: u64,
) -> Refunded {
    let now = now.max(state.latest());
    let pace = *state.pace();
    if mark == Nanos::MAX {
        // The charge saturated the queue: what it holds cannot be told from what others hold.
        return Refunded::default();
    }
    let held = mark.saturating_sub(now).as_u64().min(pace.span_of(cost));
    let before = state.backlog(now);
    let given_back = held.min(before);
    if given_back == 0 {
        return Refunded::default();
    }
    state.set_backlog(now, before - given_back, pace);
    Refunded {
        units: given_back.div_ceil(pace.interval),
        later_marks_earlier_by: Nanos::new(given_back),
    }
}

/// The mark `mark` after the queue was re-scaled from `old` to the current pace at `now`.
pub(super) fn mark_after_set_rate<B: Backlog + Algorithm>(
    state: &B,
    now: Nanos,
    mark: Nanos,
    old: &Pace,
) -> Nanos {
    // The queue was re-scaled as of the latest instant seen: the marks must be too.
    let now = now.max(state.latest());
    let ahead = mark.saturating_sub(now).as_u64();
    now.saturating_add(Nanos::new(rescale(ahead, old, state.pace())))
}

/// Whole units owed at `now`, rounded up (debt included).
pub(super) fn in_use<B: Backlog + Algorithm>(state: &B, now: Nanos) -> u64 {
    let now = now.max(state.latest());
    state.backlog(now).div_ceil(state.pace().interval)
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
