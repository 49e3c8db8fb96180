use std::collections::VecDeque;

use crate::rate::Pace;
use crate::{Nanos, Rate, RateError};

use super::{Algorithm, Refunded};

/// An exact sliding window: at most `limit = min(quantity, burst)` units in any window of one
/// period, counted from a log of admissions, the way LLM providers count "per minute" quotas.
///
/// An entry admitted at instant `e` counts until `e + period`. A cost `c` conforms at the
/// earliest instant `t ≥ now` at which the entries still counting at `t` (including any already
/// reserved for later instants) leave room for `c`; it is logged at that instant. The log holds
/// only entries of the current window (one per admission, never more than `limit` of them unless
/// debt was charged), pruned as time passes.
///
/// Unlike the bucket algorithms it does not smooth within the window: a full window's quota may
/// go at once, and then nothing until the first entry expires.
///
/// ```
/// use tollgate::algorithm::{Algorithm, Decision, SlidingWindow};
/// use tollgate::{Nanos, Rate};
///
/// let mut window = SlidingWindow::new(&Rate::per_minute(3))?;
/// assert_eq!(window.try_take(Nanos::ZERO, 2), Decision::Admitted);
/// assert_eq!(window.try_take(Nanos::from_secs(10), 1), Decision::Admitted);
/// // Full until the first entry (2 units at 0 s) leaves the window at 60 s.
/// assert_eq!(window.try_take(Nanos::from_secs(30), 1), Decision::NotBefore(Nanos::from_secs(60)));
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    limit: u64,
    period: Nanos,
    /// `(instant, cost)` of each admission, in instant order.
    log: VecDeque<(Nanos, u64)>,
}

impl SlidingWindow {
    /// The entries that still count at `now`, oldest first.
    fn counting(&self, now: Nanos) -> impl Iterator<Item = &(Nanos, u64)> {
        let period = self.period;
        self.log
            .iter()
            .skip_while(move |(at, _)| at.saturating_add(period) <= now)
    }

    fn used(&self, now: Nanos) -> u64 {
        self.counting(now)
            .map(|(_, cost)| *cost)
            .fold(0, u64::saturating_add)
    }

    fn forget_expired(&mut self, now: Nanos) {
        while let Some((at, _)) = self.log.front() {
            if at.saturating_add(self.period) > now {
                break;
            }
            self.log.pop_front();
        }
    }
}

impl Algorithm for SlidingWindow {
    fn new(rate: &Rate) -> Result<Self, RateError> {
        let pace = rate.pace()?;
        Ok(SlidingWindow {
            limit: pace.quantity.min(pace.burst),
            period: Nanos::new(pace.period),
            log: VecDeque::new(),
        })
    }

    fn capacity(&self) -> u64 {
        self.limit
    }

    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        // Fits once the entries still counting leave `limit - cost` at most; a cost above the
        // limit (debt) is placed once the window is empty.
        let allowed = self.limit.saturating_sub(cost);
        let mut used = self.used(now);
        if used <= allowed {
            return now;
        }
        for (at, entry_cost) in self.counting(now) {
            used = used.saturating_sub(*entry_cost);
            if used <= allowed {
                return at.saturating_add(self.period).max(now);
            }
        }
        now
    }

    fn charge(&mut self, now: Nanos, cost: u64) {
        self.charge_at(now, now, cost);
    }

    fn refund(&mut self, now: Nanos, mut cost: u64) {
        self.forget_expired(now);
        while cost > 0 {
            let Some(newest) = self.log.back_mut() else {
                break;
            };
            let given_back = newest.1.min(cost);
            newest.1 -= given_back;
            cost -= given_back;
            if newest.1 == 0 {
                self.log.pop_back();
            }
        }
    }

    fn available(&self, now: Nanos) -> u64 {
        self.limit.saturating_sub(self.used(now))
    }

    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        let at = at.max(self.conforms_at(now, cost));
        self.forget_expired(now);
        let index = self.log.partition_point(|(logged, _)| *logged <= at);
        self.log.insert(index, (at, cost));
        at
    }

    /// Takes from the entries logged at `mark` only (entries of one instant expire together, so
    /// which of them gives back does not matter); nothing once they have expired.
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, mut cost: u64) -> Refunded {
        self.forget_expired(now);
        let start = self.log.partition_point(|(at, _)| *at < mark);
        let mut units = 0;
        for entry in self.log.iter_mut().skip(start) {
            if entry.0 != mark || cost == 0 {
                break;
            }
            let given_back = entry.1.min(cost);
            entry.1 -= given_back;
            cost -= given_back;
            units += given_back;
        }
        self.log.retain(|(_, entry_cost)| *entry_cost > 0);
        Refunded {
            units,
            later_marks_earlier_by: Nanos::ZERO,
        }
    }

    fn mark_after_set_rate(&self, _now: Nanos, mark: Nanos, _old: &Pace) -> Nanos {
        mark
    }

    fn in_use(&self, now: Nanos) -> u64 {
        self.used(now)
    }

    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
        let replacement = SlidingWindow::new(rate)?;
        self.limit = replacement.limit;
        self.period = replacement.period;
        self.forget_expired(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Decision;

    #[test]
    fn a_reservation_counts_from_its_own_instant() {
        let mut window = SlidingWindow::new(&Rate::per_minute(2)).unwrap();
        let at = |s| Nanos::from_secs(s);
        assert_eq!(window.reserve(at(0), 2), Ok(at(0)));
        assert_eq!(window.reserve(at(1), 1), Ok(at(60)));
        // The reserved unit counts during [60 s, 120 s): only one more fits at 60 s.
        assert_eq!(window.try_take(at(61), 1), Decision::Admitted);
        assert_eq!(window.try_take(at(61), 1), Decision::NotBefore(at(120)));
    }

    #[test]
    fn the_log_keeps_only_the_current_window() {
        let mut window = SlidingWindow::new(&Rate::per_second(5)).unwrap();
        for i in 0..10_000u64 {
            let now = Nanos::from_millis(i * 200);
            assert_eq!(window.try_take(now, 1), Decision::Admitted);
            assert!(window.log.len() <= 5);
        }
    }
}
