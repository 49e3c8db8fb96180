use crate::rate::Pace;
use crate::{Nanos, Rate, RateError};

use super::{backlog, Algorithm, Decision, Refunded};

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

impl backlog::Backlog for GcraVirtual {
    fn idle(pace: Pace) -> Self {
        GcraVirtual {
            pace,
            tat: Nanos::ZERO,
            latest: Nanos::ZERO,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn backlog(&self, now: Nanos) -> u64 {
        self.tat.saturating_sub(now.max(self.latest)).as_u64()
    }

    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace) {
        self.latest = self.latest.max(now);
        self.tat = self.latest.saturating_add(Nanos::new(backlog));
        self.pace = pace;
    }
}

impl Algorithm for GcraVirtual {
    #[inline]
    fn capacity(&self) -> u64 {
        self.pace.burst
    }

    #[inline]
    fn latest(&self) -> Nanos {
        self.latest
    }

    #[inline]
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        let now = now.max(self.latest);
        backlog::conforms_after(self.tat.max(now), now, &self.pace, cost)
    }

    #[inline]
    fn charge(&mut self, now: Nanos, cost: u64) {
        self.latest = self.latest.max(now);
        let now = self.latest;
        self.tat = self
            .tat
            .max(now)
            .saturating_add(Nanos::new(self.pace.span_of(cost)));
    }

    fn refund(&mut self, now: Nanos, cost: u64) {
        self.latest = self.latest.max(now);
        let now = self.latest;
        let tat = self.tat.saturating_sub(Nanos::new(self.pace.span_of(cost)));
        self.tat = tat.max(now.min(self.tat));
    }

    /// [`decide`](Algorithm::decide) on the word, arranged for the lock-free path: whether the
    /// cost fits is one comparison of the TAT against a bound computed without it (`TAT +
    /// cost·T ≤ now + B·T`, which is `decide`'s test, as `TAT ≤ now + (B − cost)·T`), so the
    /// answer follows the word's load by an addition and a comparison. A TAT at the end of time
    /// is an exhausted queue (see [`conforms_at`](Algorithm::conforms_at)).
    #[inline]
    fn decide_on_word(pace: &Pace, word: u64, now: Nanos, cost: u64) -> Option<Decision> {
        if cost == 0 {
            return Some(Decision::Admitted);
        }
        if cost > pace.burst {
            return Some(Decision::Never {
                capacity: pace.burst,
            });
        }
        // `cost ≤ B`: the slack is not negative.
        let slack = Nanos::new(pace.capacity_span() - pace.span_of(cost));
        let tat = Nanos::new(word);
        Some(
            if tat < Nanos::MAX && now < Nanos::MAX && tat <= now.saturating_add(slack) {
                Decision::Admitted
            } else {
                Decision::NotBefore(backlog::conforms_after(tat.max(now), now, pace, cost))
            },
        )
    }

    #[inline]
    fn to_word(&self) -> Option<u64> {
        Some(self.tat.as_u64())
    }

    #[inline]
    fn from_word(pace: &Pace, word: u64) -> Option<Self> {
        Some(GcraVirtual {
            pace: *pace,
            tat: Nanos::new(word),
            latest: Nanos::ZERO,
        })
    }

    /// Queues `cost` behind everything charged, starting no earlier than `at`. Only `now`
    /// counts as seen: a charge placed at a later instant (another resource's) does not make
    /// that instant "the latest seen", so what is charged before it can still go earlier.
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        self.latest = self.latest.max(now);
        let now = self.latest;
        // Queued at `now` when `at` is where it conforms anyway; at `at` when another resource
        // chose a later instant (the bucket refills until then).
        let from = if at > now && at > self.conforms_at(now, cost) {
            at
        } else {
            now
        };
        self.tat = self
            .tat
            .max(from)
            .saturating_add(Nanos::new(self.pace.span_of(cost)));
        self.tat
    }

    fn queue_end(&self) -> Option<Nanos> {
        Some(self.tat)
    }

    fn undo_charge(&mut self, _now: Nanos, before: Nanos, mark: Nanos, _cost: u64) {
        if mark == Nanos::MAX {
            return; // saturated: what it added cannot be told from what others added
        }
        let added = mark.saturating_sub(before);
        self.tat = self.tat.saturating_sub(added).max(before.min(self.tat));
    }

    backlog_methods!();
}
