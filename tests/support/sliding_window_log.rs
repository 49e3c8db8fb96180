//! The naive sliding window: one `(grid instant, units)` entry per charge, everything recomputed
//! from the log at each question. The oracle the window's fast paths (its searches and caches)
//! are checked against, step by step (`tests/algorithms/fast_paths_sliding_window.rs`): the one
//! naive window of the test suite.

use std::time::Duration;

use tollgate::algorithm::Decision;
use tollgate::{Nanos, Rate};

/// Rates whose grid step the documentation states (`SlidingWindow`, "Grid"): switching between
/// them changes the grid under entries already logged.
pub const WINDOW_GRIDS: [(u64, u64, u64, u64); 6] = [
    // (quantity, period ns, burst, step ns)
    (3, 1_000, 3, 1),
    (2, 4_096, 2, 1),
    (20, 1_000_000_000, 20, 500_000),
    (4, 1_000_000_000, 4, 500_000),
    (7, 1_500_000_000, 7, 1_000_000),
    (5, 60_000_000_000, 5, 50_000_000),
];

pub fn window_rate(index: usize) -> (Rate, u64) {
    let (quantity, period, burst, step) = WINDOW_GRIDS[index % WINDOW_GRIDS.len()];
    (
        Rate::new(quantity, Duration::from_nanos(period)).burst(burst),
        step,
    )
}

/// The naive log: one `(grid instant, units)` per charge, instants rounded up to the step as the
/// window documents, everything recomputed from scratch.
pub struct GridLog {
    /// What one period admits: the rate's `min(quantity, burst)`.
    pub limit: u64,
    period: u64,
    step: u64,
    /// The latest instant seen (a stale instant counts as this).
    pub latest: Nanos,
    log: Vec<(Nanos, u64)>,
}

impl GridLog {
    /// An empty log on the grid `WINDOW_GRIDS[index]`.
    pub fn new(index: usize) -> GridLog {
        let mut log = GridLog {
            limit: 0,
            period: 0,
            step: 1,
            latest: Nanos::ZERO,
            log: Vec::new(),
        };
        log.set_rate(Nanos::ZERO, index);
        log
    }

    /// Switches to the grid `WINDOW_GRIDS[index]` at `now`.
    pub fn set_rate(&mut self, now: Nanos, index: usize) {
        let (quantity, period, burst, step) = WINDOW_GRIDS[index % WINDOW_GRIDS.len()];
        self.latest = self.latest.max(now);
        (self.limit, self.period, self.step) = (quantity.min(burst), period, step);
        // Entries expired under the old period but not yet forgotten count again for a longer
        // new one, as the window does (it forgets at charges, refunds and rate changes only).
        self.forget_expired();
    }

    fn slot(&self, at: Nanos) -> Nanos {
        match at.as_u64().div_ceil(self.step).checked_mul(self.step) {
            Some(slot) => Nanos::new(slot),
            None => Nanos::MAX,
        }
    }

    fn counts(&self, at: Nanos, now: Nanos) -> bool {
        at.saturating_add(Nanos::new(self.period)) > now
    }

    /// The units counting at `now` (entries less than one period old).
    pub fn used(&self, now: Nanos) -> u64 {
        let now = now.max(self.latest);
        self.log
            .iter()
            .filter(|(at, _)| self.counts(*at, now))
            .map(|(_, units)| *units)
            .fold(0u64, u64::saturating_add)
    }

    /// The first instant from `now` at which `cost` more units fit.
    pub fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        let now = now.max(self.latest);
        let allowed = self.limit.saturating_sub(cost);
        let mut counting: Vec<_> = self
            .log
            .iter()
            .filter(|(at, _)| self.counts(*at, now))
            .copied()
            .collect();
        counting.sort();
        let mut used = self.used(now);
        for (at, units) in counting {
            if used <= allowed {
                break;
            }
            used -= units;
            if used <= allowed {
                return at.saturating_add(Nanos::new(self.period)).max(now);
            }
        }
        now
    }

    /// What the window answers to `cost` at `now`, changing nothing.
    pub fn decide(&self, now: Nanos, cost: u64) -> Decision {
        if cost == 0 {
            return Decision::Admitted;
        }
        if cost > self.limit {
            return Decision::Never {
                capacity: self.limit,
            };
        }
        let now = now.max(self.latest);
        match self.conforms_at(now, cost) {
            at if at <= now && at < Nanos::MAX => Decision::Admitted,
            at => Decision::NotBefore(at),
        }
    }

    fn log_at(&mut self, at: Nanos, cost: u64) -> Nanos {
        self.forget_expired();
        self.log.push((at, cost));
        at
    }

    /// Charges `cost` at `at` or the first instant it fits after; returns the entry's instant.
    pub fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        self.latest = self.latest.max(now);
        let at = self.slot(at.max(self.conforms_at(self.latest, cost)));
        self.log_at(at, cost)
    }

    /// Records `cost` taken at `now` (at the latest instant seen); returns the entry's instant.
    pub fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        self.latest = self.latest.max(now);
        let at = self.slot(self.latest);
        self.log_at(at, cost)
    }

    /// Takes `cost` at `now` if it fits.
    pub fn try_take(&mut self, now: Nanos, cost: u64) -> Decision {
        let decision = self.decide(now, cost);
        if decision == Decision::Admitted && cost > 0 {
            self.record(now, cost);
        }
        decision
    }

    fn forget_expired(&mut self) {
        let now = self.latest;
        let period = self.period;
        self.log
            .retain(|(at, _)| at.saturating_add(Nanos::new(period)) > now);
    }

    /// Gives back `cost` from the newest entries (by instant) still counting.
    pub fn refund(&mut self, now: Nanos, mut cost: u64) {
        self.latest = self.latest.max(now);
        self.forget_expired();
        self.log.sort_by_key(|(at, _)| *at);
        while cost > 0 {
            let Some(newest) = self.log.last_mut() else {
                break;
            };
            let given = newest.1.min(cost);
            newest.1 -= given;
            cost -= given;
            if newest.1 == 0 {
                self.log.pop();
            }
        }
    }

    /// Gives back up to `cost` from the entries at `mark`; returns the units given back.
    pub fn refund_charge(&mut self, now: Nanos, mark: Nanos, mut cost: u64) -> u64 {
        self.latest = self.latest.max(now);
        self.forget_expired();
        let mut units = 0;
        for entry in self.log.iter_mut().filter(|(at, _)| *at == mark) {
            let given = entry.1.min(cost);
            entry.1 -= given;
            cost -= given;
            units += given;
        }
        self.log.retain(|(_, units)| *units > 0);
        units
    }
}
