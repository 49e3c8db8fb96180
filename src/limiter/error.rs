use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::RateError;

/// Why an acquire did not take its cost.
///
/// ```
/// use tollgate::{AcquireError, Rate, RateLimiter};
///
/// let limiter = RateLimiter::new(Rate::per_second(20));
/// let err = limiter.acquire_n(30).unwrap_err();
/// assert_eq!(err, AcquireError::ExceedsCapacity { cost: 30, capacity: 20 });
/// assert_eq!(err.to_string(), "cost 30 exceeds the capacity (burst) 20; raise the burst or split the request");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireError {
    /// The cost is above the capacity (the burst): it could never be admitted, so nothing
    /// waited.
    ExceedsCapacity {
        /// The cost asked for.
        cost: u64,
        /// The most one request may cost.
        capacity: u64,
    },
    /// The cost does not fit now (or not before the deadline); nothing was taken.
    ///
    /// The same variant and field as [`LimitError::NotInTime`](crate::LimitError::NotInTime)
    /// and [`SemaphoreError::NotInTime`](crate::SemaphoreError::NotInTime); a rate limiter
    /// always knows the wait, so here it is a plain `Duration`.
    NotInTime {
        /// How long from the decision the caller would have had to wait for the cost to fit,
        /// if nothing else is taken meanwhile (beyond the deadline, when there was one).
        wait: Duration,
    },
    /// The reservation was cancelled (through a [`CancelHandle`](crate::CancelHandle)); it
    /// holds nothing.
    Cancelled,
    /// The server said "nothing left" until further away than the limiter's longest hold
    /// ([`RateLimiter::with_max_hold`](crate::RateLimiter::with_max_hold)): waiting that long is
    /// refused rather than blocking; nothing was taken.
    HeldTooLong {
        /// How long the server's hold still lasts.
        wait: Duration,
    },
    /// The limiter was given a rate it cannot enforce.
    InvalidRate(RateError),
}

impl AcquireError {
    /// For [`AcquireError::NotInTime`], how long from the decision until the cost would fit
    /// (the same accessor as [`LimitError::wait`](crate::LimitError::wait) and
    /// [`SemaphoreError::wait`](crate::SemaphoreError::wait)); `None` for the other variants.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(1));
    /// limiter.try_acquire().unwrap();
    /// let wait = limiter.try_acquire().unwrap_err().wait().unwrap();
    /// assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
    /// ```
    pub fn wait(&self) -> Option<Duration> {
        match self {
            AcquireError::NotInTime { wait } => Some(*wait),
            _ => None,
        }
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::ExceedsCapacity { cost, capacity } => write!(
                f,
                "cost {cost} exceeds the capacity (burst) {capacity}; raise the burst or split the request"
            ),
            AcquireError::NotInTime { wait } => {
                write!(f, "not in time: the cost fits in {wait:?}")
            }
            AcquireError::Cancelled => f.write_str("the reservation was cancelled"),
            AcquireError::HeldTooLong { wait } => write!(
                f,
                "the server holds this limit for {wait:?} more, longer than the longest hold allowed; raise it with with_max_hold or try later"
            ),
            AcquireError::InvalidRate(err) => write!(f, "invalid rate: {err}"),
        }
    }
}

impl Error for AcquireError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AcquireError::InvalidRate(err) => Some(err),
            _ => None,
        }
    }
}

impl From<RateError> for AcquireError {
    fn from(err: RateError) -> AcquireError {
        AcquireError::InvalidRate(err)
    }
}
