use crate::rate::Pace;
use crate::Nanos;

use super::{backlog, Backlog};

/// The leaky bucket as a meter: each request pours its cost in whole units of water into a
/// bucket of size `burst` that leaks one unit every emission interval `T`; a request fits when
/// its water does not overflow the bucket.
///
/// The level is counted in whole units, with the drain progress toward the next unit kept in
/// nanoseconds. When requests are reserved ahead of time (shaping) or charged as debt the level
/// goes above `burst`, and later requests wait until it drains back.
///
/// ```
/// use tollgate::algorithm::{Algorithm, Decision, LeakyBucket};
/// use tollgate::Nanos;
///
/// // 4 per 2 s: the bucket holds 4 and leaks 2 per second.
/// let mut bucket = LeakyBucket::new(&"4/2s".parse()?)?;
/// assert_eq!(bucket.try_take(Nanos::ZERO, 4), Decision::Admitted);
/// assert_eq!(bucket.available(Nanos::from_secs(1)), 2);
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LeakyBucket {
    pace: Pace,
    /// Whole units of water as of `last_leak`.
    level: u64,
    /// Nanoseconds of leaking accumulated toward the next unit (`< T`; 0 when empty).
    progress: u64,
    last_leak: Nanos,
}

impl LeakyBucket {
    /// `(level, progress)` drained to `now`.
    fn leaked(&self, now: Nanos) -> (u64, u64) {
        let elapsed = now.saturating_sub(self.last_leak).as_u64();
        let (drained, progress) =
            backlog::whole_intervals(self.progress, elapsed, self.pace.interval);
        empty_if_zero(self.level.saturating_sub(drained), progress)
    }

    fn store(&mut self, now: Nanos, (level, progress): (u64, u64)) {
        self.level = level;
        self.progress = progress;
        self.last_leak = self.last_leak.max(now);
    }
}

/// An empty bucket has no drain progress.
fn empty_if_zero(level: u64, progress: u64) -> (u64, u64) {
    if level == 0 {
        (0, 0)
    } else {
        (level, progress)
    }
}

impl Backlog for LeakyBucket {
    fn idle(pace: Pace) -> Self {
        LeakyBucket {
            pace,
            level: 0,
            progress: 0,
            last_leak: Nanos::ZERO,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    /// `level·T − progress`.
    fn backlog(&self, now: Nanos) -> u64 {
        let (level, progress) = self.leaked(now);
        backlog::span_less_progress(level, progress, self.pace.interval)
    }

    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace) {
        let state = backlog::units_and_progress(backlog, pace.interval);
        self.pace = pace;
        self.store(now, state);
    }

    fn last_update(&self) -> Nanos {
        self.last_leak
    }

    /// Pours `c` units of water in (above the burst in debt).
    fn add_units(&mut self, now: Nanos, cost: u64) {
        let (level, progress) = self.leaked(now);
        self.store(now, (level.saturating_add(cost), progress));
    }

    /// Takes `c` units of water out, never below empty.
    fn remove_units(&mut self, now: Nanos, cost: u64) {
        let (level, progress) = self.leaked(now);
        self.store(now, empty_if_zero(level.saturating_sub(cost), progress));
    }
}
