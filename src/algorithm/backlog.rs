//! Integer arithmetic on backlogs (nanoseconds of queued emission intervals) shared by the
//! bucket algorithms.

use crate::rate::Pace;
use crate::{Nanos, Rate, RateError};

/// A bucket algorithm seen as what they all are underneath: a backlog (nanoseconds of emission
/// intervals owed) at a pace. Rate changes and holds are written once, here, on top of it.
pub(super) trait Backlog {
    fn pace(&self) -> &Pace;
    /// Nanoseconds owed at `now`.
    fn backlog(&self, now: Nanos) -> u64;
    /// Replaces the state with `backlog` owed at `now`, at `pace`.
    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace);
}

/// Switches to `rate`, keeping what is owed in units.
pub(super) fn set_rate(state: &mut impl Backlog, now: Nanos, rate: &Rate) -> Result<(), RateError> {
    let pace = rate.pace()?;
    let owed = rescale(state.backlog(now), state.pace(), &pace);
    state.set_backlog(now, owed, pace);
    Ok(())
}

/// Owes at least enough that one unit conforms no earlier than `until`:
/// `backlog ≥ (until − now) + (burst − 1)·T`.
pub(super) fn hold_until(state: &mut impl Backlog, now: Nanos, until: Nanos) {
    let pace = *state.pace();
    let needed = until
        .saturating_sub(now)
        .as_u64()
        .saturating_add(pace.capacity_span() - pace.interval);
    let owed = state.backlog(now).max(needed);
    state.set_backlog(now, owed, pace);
}

/// Splits `elapsed` nanoseconds plus a `progress` already accumulated toward the next whole
/// interval into (whole intervals completed, progress toward the next one).
pub(super) fn whole_intervals(progress: u64, elapsed: u64, interval: u64) -> (u64, u64) {
    let total = progress.saturating_add(elapsed);
    (total / interval, total % interval)
}

/// Splits a backlog of `backlog` nanoseconds into (whole units, progress) such that
/// `units × interval − progress == backlog` with `0 ≤ progress < interval`.
pub(super) fn units_and_progress(backlog: u64, interval: u64) -> (u64, u64) {
    let units = backlog.div_ceil(interval);
    (units, units * interval - backlog)
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
