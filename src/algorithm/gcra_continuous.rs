use crate::rate::Pace;
use crate::Nanos;

use super::Backlog;

/// GCRA, continuous-state form (the ITU-T "continuous-state leaky bucket"): the state is a bucket
/// counter `X` (nanoseconds of backlog) and the last conformance time `LCT`.
///
/// At `now` the counter has drained to `X' = max(0, X − (now − LCT))`; a cost `c` conforms once
/// `X' + c·T ≤ burst·T`, and taking it sets `X = X' + c·T`, `LCT = now`. Decides exactly as
/// [`GcraVirtual`](super::GcraVirtual) (`TAT = LCT + X`), with one more word of state.
///
/// ```
/// use tollgate::algorithm::{Algorithm, Decision, GcraContinuous};
/// use tollgate::Nanos;
///
/// let mut gcra = GcraContinuous::new(&"3/1500ms".parse()?)?;
/// for _ in 0..3 {
///     assert_eq!(gcra.try_take(Nanos::ZERO, 1), Decision::Admitted);
/// }
/// assert_eq!(gcra.try_take(Nanos::ZERO, 1), Decision::NotBefore(Nanos::from_millis(500)));
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GcraContinuous {
    pace: Pace,
    /// The bucket counter `X`, in nanoseconds of backlog, as of `last_conformance`.
    counter: u64,
    /// `LCT`: the instant `counter` was last updated.
    last_conformance: Nanos,
}

impl GcraContinuous {
    /// `X'`: the counter drained to `now`.
    fn counter_at(&self, now: Nanos) -> u64 {
        let elapsed = now.saturating_sub(self.last_conformance).as_u64();
        self.counter.saturating_sub(elapsed)
    }

    /// Sets the counter as of `now` (or the last conformance time, if later).
    fn store(&mut self, now: Nanos, counter: u64) {
        self.counter = counter;
        self.last_conformance = self.last_conformance.max(now);
    }
}

impl Backlog for GcraContinuous {
    fn idle(pace: Pace) -> Self {
        GcraContinuous {
            pace,
            counter: 0,
            last_conformance: Nanos::ZERO,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn backlog(&self, now: Nanos) -> u64 {
        self.counter_at(now)
    }

    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace) {
        self.store(now, backlog);
        self.pace = pace;
    }

    fn last_update(&self) -> Nanos {
        self.last_conformance
    }

    /// `X = X' + c·T`, `LCT = now`.
    fn add_units(&mut self, now: Nanos, cost: u64) {
        let counter = self.counter_at(now).saturating_add(self.pace.span_of(cost));
        self.store(now, counter);
    }

    fn remove_units(&mut self, now: Nanos, cost: u64) {
        let counter = self.counter_at(now).saturating_sub(self.pace.span_of(cost));
        self.store(now, counter);
    }
}
