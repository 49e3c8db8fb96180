use std::time::Instant;

use super::{Clock, Nanos};

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
