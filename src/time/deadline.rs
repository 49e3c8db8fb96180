use std::time::{Duration, Instant};

use super::{Clock, Nanos};

/// How long a call may wait for its turn: `acquire` waits [`Forever`](Patience::Forever),
/// `try_acquire` `For(0)`, `try_acquire_for(timeout)` `For(timeout)`, `try_acquire_until`
/// `Until` its [`Deadline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patience {
    /// As long as it takes.
    Forever,
    /// At most this long from the instant the call is decided.
    For(Nanos),
    /// Until this instant of the limiter's clock.
    Until(Nanos),
}

impl Patience {
    /// The deadline this patience gives a call decided at `now`. An instant already past is
    /// `now`: such a call takes what fits now, as `try_acquire` does, and nothing else (the
    /// documented meaning of a past deadline, the same on every path).
    #[inline]
    pub(crate) fn due(self, now: Nanos) -> Due {
        Due(match self {
            Patience::Forever => None,
            Patience::For(wait) => Some(now.saturating_add(wait)),
            Patience::Until(deadline) => Some(deadline.max(now)),
        })
    }
}

/// The instant a call must go by (none: it waits forever), as its [`Patience`] gave it when the
/// call was decided: the one place that says what "in time" means, for the reservation core,
/// the rate limiter's lock-free path, the Redis store and the semaphores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Due(Option<Nanos>);

impl Due {
    /// The deadline, if there is one (an instant to wake at).
    pub(crate) fn at(self) -> Option<Nanos> {
        self.0
    }

    /// Whether a call that may go at `at` goes in time: no later than the deadline, and before
    /// the end of time ([`Nanos::MAX`], which no call reaches: planned there, it could never
    /// go). Else the wait to report (in `NotInTime { wait }`): from `now` until `at`.
    #[inline]
    pub(crate) fn in_time(self, at: Nanos, now: Nanos) -> Result<(), Duration> {
        if at < Nanos::MAX && self.0.map_or(true, |deadline| at <= deadline) {
            Ok(())
        } else {
            Err(at.saturating_sub(now).as_duration())
        }
    }

    /// Whether the deadline has come at `now`: a call that cannot go now can go in time no
    /// more (it is refused, the wait unknown: a concurrency slot, a semaphore's credits).
    pub(crate) fn passed(self, now: Nanos) -> bool {
        self.0.is_some_and(|deadline| deadline <= now)
    }
}

/// When a `try_acquire_until` gives up: an instant of the limiter's own [`Clock`] ([`Nanos`],
/// for instance `limiter.clock().now() + Duration::from_secs(2)`) or a [`std::time::Instant`].
///
/// Every `try_acquire_until` (on [`RateLimiter`](crate::RateLimiter),
/// [`MultiLimiter`](crate::MultiLimiter), [`ModelLimiter`](crate::ModelLimiter),
/// [`CreditSemaphore`](crate::CreditSemaphore) and [`AdaptiveSemaphore`](crate::AdaptiveSemaphore))
/// takes `impl Into<Deadline>`, so either is passed as it is. An `Instant` is converted when the
/// call is made, by [`Clock::instant_to_nanos`]: on a mock clock it counts from the mock now
/// (an `Instant` one second after the real now is one second after the mock now).
///
/// ```
/// use std::time::{Duration, Instant};
/// use tollgate::{Clock, Rate, RateLimiter};
///
/// let (clock, time) = Clock::mock();
/// let limiter = RateLimiter::new(Rate::per_second(2)).with_clock(clock);
/// limiter.acquire_n(2)?;                                              // the next unit fits at 500 ms
/// let soon = Instant::now() + Duration::from_millis(100);
/// assert!(limiter.try_acquire_until(1, soon).is_err());              // an Instant
/// let later = limiter.clock().now() + Duration::from_millis(500);
/// limiter.try_acquire_until(1, later)?;                               // the limiter's Nanos
/// # Ok::<(), tollgate::AcquireError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(When);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    On(Nanos),
    Real(Instant),
}

impl Deadline {
    /// The deadline as an instant of `clock`.
    pub(crate) fn on(self, clock: &Clock) -> Nanos {
        match self.0 {
            When::On(at) => at,
            When::Real(instant) => clock.instant_to_nanos(instant),
        }
    }
}

impl From<Nanos> for Deadline {
    /// An instant of the limiter's clock, taken as it is.
    fn from(at: Nanos) -> Deadline {
        Deadline(When::On(at))
    }
}

impl From<Instant> for Deadline {
    /// A [`std::time::Instant`], converted on the limiter's clock when the call is made.
    fn from(instant: Instant) -> Deadline {
        Deadline(When::Real(instant))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Patience;
    use crate::Nanos;

    #[test]
    fn a_patience_gives_its_deadline_at_the_instant_of_the_call() {
        let now = Nanos::from_secs(10);
        assert_eq!(Patience::Forever.due(now).at(), None);
        let patience = Patience::For(Nanos::from_secs(2));
        assert_eq!(patience.due(now).at(), Some(Nanos::from_secs(12)));
        let until = Patience::Until(Nanos::from_secs(13));
        assert_eq!(until.due(now).at(), Some(Nanos::from_secs(13)));
        // Saturates: a patience past the end of time is the end of time.
        let long = Patience::For(Nanos::MAX).due(now);
        assert_eq!(long.at(), Some(Nanos::MAX));
    }

    #[test]
    fn in_time_is_by_the_deadline_and_before_the_end_of_time() {
        let now = Nanos::from_secs(10);
        let due = Patience::For(Nanos::from_secs(2)).due(now);
        assert_eq!(due.in_time(now, now), Ok(()));
        assert_eq!(due.in_time(Nanos::from_secs(12), now), Ok(()));
        assert_eq!(
            due.in_time(Nanos::new(12_000_000_001), now),
            Err(Duration::from_nanos(2_000_000_001)),
            "the wait reported is from now until the instant, not until the deadline"
        );
        // Forever waits for anything but the end of time, which no call reaches.
        let forever = Patience::Forever.due(now);
        assert_eq!(forever.in_time(Nanos::new(u64::MAX - 1), now), Ok(()));
        let never = (Nanos::MAX.saturating_sub(now)).as_duration();
        assert_eq!(forever.in_time(Nanos::MAX, now), Err(never));
        let at_the_end = Patience::Until(Nanos::MAX).due(now);
        assert_eq!(at_the_end.in_time(Nanos::MAX, now), Err(never));
        // A deadline already past is now: what fits now is in time, nothing later is.
        let past = Patience::Until(Nanos::from_secs(1)).due(now);
        assert_eq!(past.at(), Some(now));
        assert_eq!(past.in_time(now, now), Ok(()));
        assert_eq!(
            past.in_time(Nanos::from_secs(11), now),
            Err(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_deadline_has_passed_from_its_instant_on() {
        let due = Patience::Until(Nanos::from_secs(5)).due(Nanos::ZERO);
        assert!(!due.passed(Nanos::new(4_999_999_999)));
        assert!(due.passed(Nanos::from_secs(5)));
        assert!(due.passed(Nanos::from_secs(6)));
        assert!(!Patience::Forever.due(Nanos::ZERO).passed(Nanos::MAX));
        let now = Nanos::from_secs(1);
        assert!(
            Patience::For(Nanos::ZERO).due(now).passed(now),
            "try_acquire"
        );
    }
}
