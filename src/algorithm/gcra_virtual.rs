use crate::rate::Pace;
use crate::Nanos;

use super::Backlog;

/// GCRA, virtual-scheduling form: the state is one instant, the theoretical arrival time (TAT)
/// of the next request if everything admitted so far had been spaced one emission interval `T`
/// apart.
///
/// A cost `c` conforms at `max(now, TAT + c·T − burst·T)`; taking it sets
/// `TAT = max(TAT, now) + c·T`. A full bucket is any `TAT ≤ now`. The TAT saturates at
/// [`Nanos::MAX`], the end of the clock's time: a queue that reaches it is exhausted (nothing
/// conforms any more), so that a charge is never lost in the saturation.
///
/// ```
/// use tollgate::algorithm::{Algorithm, Decision, GcraVirtual};
/// use tollgate::{Nanos, Rate};
///
/// let mut gcra = GcraVirtual::new(&Rate::per_second(10))?;
/// for _ in 0..10 {
///     assert_eq!(gcra.try_take(Nanos::ZERO, 1), Decision::Admitted);
/// }
/// assert_eq!(gcra.try_take(Nanos::ZERO, 1), Decision::NotBefore(Nanos::from_millis(100)));
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GcraVirtual {
    pace: Pace,
    tat: Nanos,
    /// The latest instant seen: an earlier one counts as this one. Not part of the one-word
    /// state (a limiter passes instants that never go backwards).
    latest: Nanos,
}

impl Backlog for GcraVirtual {
    fn idle(pace: Pace) -> Self {
        GcraVirtual {
            pace,
            tat: Nanos::ZERO,
            latest: Nanos::ZERO,
        }
    }

    #[inline]
    fn pace(&self) -> &Pace {
        &self.pace
    }

    #[inline]
    fn last_update(&self) -> Nanos {
        self.latest
    }

    #[inline]
    fn backlog(&self, now: Nanos) -> u64 {
        self.tat.saturating_sub(now.max(self.latest)).as_u64()
    }

    #[inline]
    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace) {
        self.latest = self.latest.max(now);
        self.tat = self.latest.saturating_add(Nanos::new(backlog));
        self.pace = pace;
    }

    /// `TAT = max(TAT, now) + c·T`.
    #[inline]
    fn add_units(&mut self, now: Nanos, cost: u64) {
        self.latest = self.latest.max(now);
        let now = self.latest;
        self.tat = self
            .tat
            .max(now)
            .saturating_add(Nanos::new(self.pace.span_of(cost)));
    }

    /// The TAT itself (one already behind the latest instant seen included: the same
    /// decisions as that instant).
    #[inline]
    fn drained_at(&self) -> Nanos {
        self.tat
    }

    #[inline]
    fn set_drained_at(&mut self, now: Nanos, end: Nanos) {
        self.latest = self.latest.max(now);
        self.tat = end;
    }

    /// `TAT = max(TAT − c·T, now)` (a TAT already behind `now` stays).
    fn remove_units(&mut self, now: Nanos, cost: u64) {
        self.latest = self.latest.max(now);
        let now = self.latest;
        let tat = self.tat.saturating_sub(Nanos::new(self.pace.span_of(cost)));
        self.tat = tat.max(now.min(self.tat));
    }
}
