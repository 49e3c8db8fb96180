//! Integer arithmetic on backlogs (nanoseconds of queued emission intervals) shared by the
//! bucket algorithms.

use crate::rate::Pace;

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
