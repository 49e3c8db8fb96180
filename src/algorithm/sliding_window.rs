use std::collections::VecDeque;

use crate::{Nanos, Rate, RateError};

use super::{Algorithm, Decision, Refunded};

/// The fewest grid steps per period (see [`SlidingWindow`]): a unit counts at most
/// `period / MIN_STEPS` past its exact expiry.
const MIN_STEPS: u64 = 1_024;
/// The most grid steps per period: the current window never holds more than `MAX_STEPS + 1`
/// entries.
const MAX_STEPS: u64 = 4_096;

/// A sliding window: at most `limit = quantity` units in any window of one period,
/// counted from a log of admissions, the way LLM providers count "per minute" quotas.
///
/// An entry logged at instant `e` counts until `e + period`. A cost `c` conforms at the
/// earliest instant `t ≥ now` at which the entries still counting at `t` (including any already
/// reserved for later instants) leave room for `c`; it is logged at that instant (rounded up to
/// the grid, below). Unlike the bucket algorithms it does not smooth within the window: a full
/// window's quota may go at once, and then nothing until the first entry expires.
///
/// # Grid, error bound and cost
///
/// Instants are logged **rounded up** to a grid of `step` nanoseconds (multiples of `step` since
/// the clock's origin) and the admissions landing on one grid instant share one entry, so the
/// current window holds at most `period / step + 1 ≤ 4097` entries whatever the quantity: a
/// 10⁹/hour window admitting 10⁹ units holds at most 1 801 entries (16 bytes each). Rounding up
/// only ever counts a unit from later and until later than exactly, never less, so the window
/// never admits more than `limit` in any window `[t, t + period)` of real admission instants. The
/// price: a unit may keep counting **less than `period / 1024`** after its exact expiry (under
/// one step), so a request may be told to wait up to that much longer than an exact log would.
///
/// The step is the largest "round" value (1, 2 or 5 × 10ⁿ ns) of at most `period / 1024` that
/// divides the period into at most 4096 steps: 1 ns (exact) for periods up to 4096 ns, 500 µs
/// for a second, 5 ms for 10 s, 50 ms for a minute, 2 s for an hour. Instants on the grid (whole
/// milliseconds for periods up to a second, multiples of 50 ms for a minute...) are logged as
/// they are, and since the step divides the period the instant an entry expires is on the grid
/// too: a wait for an expiry, and a chain of such waits, stay exact. A period no round step
/// divides gets the largest step dividing it into 1024 to 4096 steps; one with no such divisor
/// (a prime number of nanoseconds, say) gets `step = period / 2048`, and its period is rounded
/// up to whole steps: a unit then counts under a step of rounding plus under a step of longer
/// period too long, still less than `period / 1024`.
///
/// Each entry keeps the cumulative count of units logged up to it, and the window keeps the
/// total and a copy of the oldest entry, so a decision reads no entry of the log when nothing
/// has expired since the last charge (each charge forgets what has) and either there is room or
/// the oldest entry's expiry makes it. Otherwise it searches from where the answer usually is,
/// galloping (strides doubling, then a binary search): for the first entry still counting from
/// the oldest, in `O(log k)` steps for `k` expired entries not yet forgotten, then for the entry
/// whose expiry makes room for a cost `c` from that one, in `O(log(u + c - limit))` steps for `u`
/// units counting (each entry holds at least one unit), at most `O(log c)` without debt. Beyond
/// the expired entries not yet forgotten, a decision's cost does not grow with the log's length.
/// Merging into the newest entry is `O(1)` (the grid instant last rounded up to is kept, so an
/// instant within the step before it needs no division); appending and forgetting expired
/// entries are `O(1)` amortised. Logging before an entry already reserved for a later instant,
/// and a refund, adjust the cumulative counts of the entries after it (`O(entries after it)`,
/// rare: reservations ahead of time are few).
///
/// Memory: at most `period / step + 1` entries for the current window, plus one per grid instant
/// reserved ahead of it (reservations and debt: at most `period / step` per period reserved
/// ahead).
///
/// An instant earlier than the latest one seen counts as the latest seen: a stale clock
/// reading is admitted (or not) as if it had been read at the latest instant, and is logged
/// there. "Seen" means given to a method that changes the state (charges, refunds, rate
/// changes, an admitted `try_take`); the read-only ones (`decide`, `available`...) record
/// nothing.
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
    /// How long an entry counts: the rate's period (rounded up to whole steps when no step
    /// divides it).
    period: Nanos,
    /// The grid step in nanoseconds: entries are logged at multiples of it.
    step: u64,
    /// The latest instant seen: an earlier `now` counts as this one.
    latest: Nanos,
    /// The grid instant last rounded up to (a multiple of the step): instants less than a step
    /// before it round up to it without a division.
    last_slot: Nanos,
    /// Units logged before the first entry of `log` (the cumulative count it starts from).
    base: u64,
    /// Units logged up to and including the newest entry (`base` when the log is empty).
    total: u64,
    /// The entries, in strictly increasing instant order, each holding at least one unit.
    log: VecDeque<Entry>,
    /// A copy of the oldest entry (`None` while the log is empty), which the common decisions
    /// read without indexing the log.
    oldest: Option<Entry>,
}

/// The admissions logged at one grid instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// The grid instant they count from.
    at: Nanos,
    /// Units logged up to and including this entry, counted from the same origin as
    /// [`SlidingWindow::base`]: this entry holds `through` minus the previous entry's `through`.
    through: u64,
}

/// `(step, period)` for a rate's period: see [`SlidingWindow`], "Grid".
fn grid_for(period: u64) -> (u64, u64) {
    if period <= MAX_STEPS {
        return (1, period);
    }
    let coarsest = period / MIN_STEPS;
    let mut decade = 1u64;
    while decade.saturating_mul(10) <= coarsest {
        decade *= 10;
    }
    'round: loop {
        for mantissa in [5, 2, 1] {
            let step = mantissa * decade;
            if step > coarsest {
                continue;
            }
            if period / step > MAX_STEPS {
                break 'round;
            }
            if period % step == 0 {
                return (step, period);
            }
        }
        if decade == 1 {
            break;
        }
        decade /= 10;
    }
    if let Some(steps) = (MIN_STEPS..=MAX_STEPS).find(|steps| period % steps == 0) {
        return (period / steps, period);
    }
    // `period > 4096`, so the step is at least 2 and `period / step` at most about 4096.
    let step = period / (2 * MIN_STEPS);
    (step, period.div_ceil(step) * step)
}

impl SlidingWindow {
    /// `now`, or the latest instant seen if that is later.
    #[inline]
    fn present(&self, now: Nanos) -> Nanos {
        now.max(self.latest)
    }

    /// Takes in `now`; returns the instant to act at (the latest seen).
    #[inline]
    fn advance(&mut self, now: Nanos) -> Nanos {
        self.latest = self.present(now);
        self.latest
    }

    /// The grid instant `at` is logged at: `at` rounded up to a multiple of the step.
    #[inline]
    fn slot(&mut self, at: Nanos) -> Nanos {
        let last = self.last_slot;
        if at <= last && last.as_u64() - at.as_u64() < self.step {
            return last;
        }
        match at.as_u64().div_ceil(self.step).checked_mul(self.step) {
            Some(slot) => {
                self.last_slot = Nanos::new(slot);
                self.last_slot
            }
            None => Nanos::MAX,
        }
    }

    /// Units logged before entry `index`.
    #[inline]
    fn through_before(&self, index: usize) -> u64 {
        match index.checked_sub(1) {
            Some(previous) => self.log[previous].through,
            None => self.base,
        }
    }

    /// Units held by entry `index`.
    fn units_at(&self, index: usize) -> u64 {
        self.log[index].through - self.through_before(index)
    }

    /// The index of the first entry at or after `from` that is not `before`, where the entries
    /// that are `before` form a prefix of the log. Usually `from` itself (one probe); otherwise
    /// found by [`gallop`](Self::gallop).
    #[inline]
    fn first_from(&self, from: usize, before: impl Fn(&Entry) -> bool) -> usize {
        match self.log.get(from) {
            Some(entry) if before(entry) => self.gallop(from + 1, before),
            _ => from,
        }
    }

    /// [`first_from`](Self::first_from) past its first probe: strides doubling from `from`
    /// until past the answer, then a binary search, in `O(log(answer - from))` steps. Out of
    /// line, to keep the common case's code small.
    #[inline(never)]
    fn gallop(&self, from: usize, before: impl Fn(&Entry) -> bool) -> usize {
        let len = self.log.len();
        // Every entry in `from..low` is `before`; the answer is in `low..=high`.
        let (mut low, mut high, mut stride) = (from, from, 1);
        while high < len && before(&self.log[high]) {
            low = high + 1;
            high = high.saturating_add(stride);
            stride *= 2;
        }
        let mut high = high.min(len);
        while low < high {
            let middle = low + (high - low) / 2;
            if before(&self.log[middle]) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// The index of the first entry still counting at `now` (entries expire in log order):
    /// usually the oldest, since each charge forgets what has expired.
    #[inline]
    fn first_counting(&self, now: Nanos) -> usize {
        let period = self.period;
        let expired = |entry: &Entry| entry.at.saturating_add(period) <= now;
        match &self.oldest {
            Some(oldest) if expired(oldest) => self.gallop(1, expired),
            _ => 0,
        }
    }

    /// Units still counting at `now`, including those reserved for later instants.
    fn used(&self, now: Nanos) -> u64 {
        self.total - self.through_before(self.first_counting(now))
    }

    /// The earliest instant `≥ now` (the present) at which `cost` fits. A cost above the limit
    /// (debt) fits once the log is empty.
    #[inline]
    fn fits_at(&self, now: Nanos, cost: u64) -> Nanos {
        let allowed = self.limit.saturating_sub(cost);
        let Some(oldest) = &self.oldest else {
            return now;
        };
        let expires = oldest.at.saturating_add(self.period);
        // The common cases: nothing has expired since the last charge forgot what had, so every
        // unit logged since `base` counts; they leave room, or the oldest entry's expiry will.
        if expires > now {
            if self.total - self.base <= allowed {
                return now;
            }
            if oldest.through >= self.total - allowed {
                return expires;
            }
        }
        self.search_fit(now, allowed)
    }

    /// [`fits_at`](Self::fits_at) outside its common cases (entries have expired, or room comes
    /// only from a later entry's expiry), for a cost that leaves room for `allowed` units. Out of
    /// line, to keep the common cases' code small.
    #[inline(never)]
    fn search_fit(&self, now: Nanos, allowed: u64) -> Nanos {
        let first = self.first_counting(now);
        let used = self.total - self.through_before(first);
        if used <= allowed {
            return now;
        }
        // Once entry `j` has expired, `total - through_j` still count: the first `j` with
        // `through_j ≥ total - allowed`. It is one still counting at `now` (and exists since
        // the newest entry's `through` is `total`), fewer than `used - allowed` entries after
        // `first`, each holding at least one unit.
        let needed = self.total - allowed;
        let index = self.first_from(first, |entry| entry.through < needed);
        self.log[index].at.saturating_add(self.period).max(now)
    }

    /// Drops the entries that no longer count at `now`.
    #[inline]
    fn forget_expired(&mut self, now: Nanos) {
        let expired = self.first_counting(now);
        if expired > 0 {
            self.base = self.log[expired - 1].through;
            self.log.drain(..expired);
            self.note_oldest();
        }
    }

    /// Copies the oldest entry into [`oldest`](Self::oldest), after the log has changed there.
    fn note_oldest(&mut self) {
        self.oldest = self.log.front().copied();
    }

    /// How much of `cost` can be logged without the cumulative counts overflowing (all of it
    /// unless more than 2⁶⁴ units are in the log at once).
    fn room_for(&mut self, cost: u64) -> u64 {
        if self.total.checked_add(cost).is_none() && self.base > 0 {
            let base = self.base;
            for entry in &mut self.log {
                entry.through -= base;
            }
            self.total -= base;
            self.base = 0;
            self.note_oldest();
        }
        cost.min(u64::MAX - self.total)
    }

    /// Logs `cost` units at grid instant `at`: merged into the newest entry when it is there
    /// (the common case), otherwise by [`log_elsewhere`](Self::log_elsewhere).
    #[inline]
    fn log_units(&mut self, at: Nanos, cost: u64) {
        match self.log.back_mut() {
            Some(newest) if newest.at == at && self.total.checked_add(cost).is_some() => {
                newest.through += cost;
                self.total += cost;
                if let Some(oldest) = &mut self.oldest {
                    // The newest entry is also the oldest.
                    if oldest.at == at {
                        oldest.through += cost;
                    }
                }
            }
            _ => self.log_elsewhere(at, cost),
        }
    }

    /// [`log_units`](Self::log_units) past the common case: appended, or inserted before an
    /// entry reserved for later (or merged into one there), making room first if the cumulative
    /// counts would overflow.
    #[inline(never)]
    fn log_elsewhere(&mut self, at: Nanos, cost: u64) {
        let cost = self.room_for(cost);
        if cost == 0 {
            return;
        }
        self.total += cost;
        match self.log.back_mut() {
            Some(newest) if newest.at >= at => {
                // At or before an entry reserved for later: the later cumulative counts move up.
                let index = self.log.partition_point(|entry| entry.at < at);
                if self.log[index].at != at {
                    let through = self.through_before(index);
                    self.log.insert(index, Entry { at, through });
                }
                for entry in self.log.range_mut(index..) {
                    entry.through += cost;
                }
            }
            _ => self.log.push_back(Entry {
                at,
                through: self.total,
            }),
        }
        self.note_oldest();
    }

    /// Takes `units` (at most what it holds) out of entry `index`, dropping it once empty.
    fn take_out(&mut self, index: usize, units: u64) {
        if units == 0 {
            return;
        }
        if units == self.units_at(index) {
            self.log.remove(index);
        }
        for entry in self.log.range_mut(index..) {
            entry.through -= units;
        }
        self.total -= units;
        self.note_oldest();
    }
}

impl Algorithm for SlidingWindow {
    fn new(rate: &Rate) -> Result<Self, RateError> {
        let pace = rate.pace()?;
        if pace.burst != pace.quantity {
            // A window has no pacing of its own: a burst is honoured one level up
            // (`Limits::window` adds GCRA pacing), or refused here.
            return Err(RateError::BurstOnWindow { rate: *rate });
        }
        let (step, period) = grid_for(pace.period);
        Ok(SlidingWindow {
            limit: pace.quantity,
            period: Nanos::new(period),
            step,
            latest: Nanos::ZERO,
            last_slot: Nanos::ZERO,
            base: 0,
            total: 0,
            log: VecDeque::new(),
            oldest: None,
        })
    }

    #[inline]
    fn latest(&self) -> Nanos {
        self.latest
    }

    #[inline]
    fn capacity(&self) -> u64 {
        self.limit
    }

    #[inline]
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        // A stale `now` fits when the latest instant seen does (it is that instant, read late).
        let present = self.present(now);
        let at = self.fits_at(present, cost);
        if at <= present {
            now
        } else {
            at
        }
    }

    fn refund(&mut self, now: Nanos, mut cost: u64) {
        let now = self.advance(now);
        self.forget_expired(now);
        while cost > 0 && !self.log.is_empty() {
            let newest = self.log.len() - 1;
            let units = self.units_at(newest).min(cost);
            self.take_out(newest, units);
            cost -= units;
        }
    }

    /// Logs the charge at the grid instant at or after `max(at, the instant it conforms)`, and
    /// returns that grid instant.
    #[inline]
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        let now = self.advance(now);
        self.forget_expired(now);
        let at = self.slot(at.max(self.fits_at(now, cost)));
        self.log_units(at, cost);
        at
    }

    #[inline]
    fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        let now = self.advance(now);
        let at = self.slot(now);
        self.forget_expired(now);
        self.log_units(at, cost);
        at
    }

    /// Takes from the entry logged at `mark` only (the units of one grid instant expire
    /// together, so which charge there they came from does not matter); nothing once it has
    /// expired.
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        let now = self.advance(now);
        self.forget_expired(now);
        let index = self.log.partition_point(|entry| entry.at < mark);
        let units = match self.log.get(index) {
            Some(entry) if entry.at == mark => self.units_at(index).min(cost),
            _ => 0,
        };
        self.take_out(index, units);
        Refunded::units(units)
    }

    /// An admitted cost fits at the present, so it is logged there as [`record`](Self::record)
    /// logs (without searching for where it fits a second time).
    #[inline]
    fn try_take(&mut self, now: Nanos, cost: u64) -> Decision {
        let decision = self.decide(now, cost);
        if decision == Decision::Admitted && cost > 0 {
            self.record(now, cost);
        }
        decision
    }

    fn in_use(&self, now: Nanos) -> u64 {
        self.used(self.present(now))
    }

    /// Keeps the entries where they are (on the old grid, if it changes): they count for the
    /// new period from their instants.
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
        let replacement = SlidingWindow::new(rate)?;
        self.limit = replacement.limit;
        self.period = replacement.period;
        self.step = replacement.step;
        self.last_slot = replacement.last_slot;
        let now = self.advance(now);
        self.forget_expired(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
