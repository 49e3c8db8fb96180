use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::RateError;

/// Why a [`MultiLimiter`](crate::MultiLimiter) or [`ModelLimiter`](crate::ModelLimiter) did not
/// admit a call. Nothing is taken from any resource when an acquire fails.
///
/// ```
/// use tollgate::{LimitError, Limits, MultiLimiter};
///
/// let limiter = MultiLimiter::new(Limits::new().rpm(60).tpm(1_000))?;
/// let err = limiter.acquire(&[(tollgate::REQUESTS, 1), (tollgate::TOKENS, 5_000)]).unwrap_err();
/// assert!(matches!(err, LimitError::ExceedsCapacity { ref resource, .. } if resource == "tokens"));
/// # Ok::<(), LimitError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
    /// A cost names a resource the limits do not have.
    UnknownResource {
        /// The name given.
        name: String,
        /// The resources the limits have, in their order.
        known: Vec<String>,
    },
    /// Two resources of a [`KeyedMultiLimiter`](crate::KeyedMultiLimiter) have this name: the
    /// costs could not say which they meant.
    DuplicateResource(String),
    /// [`ModelLimiter::builder`](crate::ModelLimiter::builder) was built with no model and no
    /// default: every call would fail.
    NoModels,
    /// A model with no limits of its own, and no default limits were given.
    UnknownModel(String),
    /// A cost is above what the resource could ever hold: refused at once.
    ExceedsCapacity {
        /// The resource.
        resource: String,
        /// The cost asked for.
        cost: u64,
        /// The most the resource holds.
        capacity: u64,
    },
    /// Not admitted now (`try_*`) or not by the deadline; nothing was taken.
    NotInTime {
        /// How long from the decision the call would have had to wait, when the rates decided
        /// it; `None` when it is not known: the call waited for a concurrency slot
        /// ([`Limits::max_parallel`](crate::Limits::max_parallel)), which comes free only when
        /// a holder drops its permit. The same field as [`AcquireError::NotInTime`]'s and
        /// [`SemaphoreError::NotInTime`]'s.
        ///
        /// [`AcquireError::NotInTime`]: crate::AcquireError::NotInTime
        /// [`SemaphoreError::NotInTime`]: crate::SemaphoreError::NotInTime
        wait: Option<Duration>,
    },
    /// A resource's rate cannot be enforced.
    InvalidRate {
        /// The resource.
        resource: String,
        /// Why.
        error: RateError,
    },
    /// `max_parallel(0)`: no call could ever run.
    ZeroParallel,
    /// The reservation was cancelled (through a [`CancelHandle`](crate::CancelHandle)); it
    /// holds nothing.
    Cancelled,
    /// The server said `resource` has nothing left until further away than the longest hold
    /// ([`Limits::max_hold`](crate::Limits::max_hold); inside a [`Runner`](crate::Runner),
    /// [`Retry::max_retry_after`](crate::Retry::max_retry_after)): waiting that long is refused
    /// rather than blocking; nothing was taken.
    HeldTooLong {
        /// The resource the server holds.
        resource: String,
        /// How long the hold still lasts.
        wait: Duration,
        /// The longest hold allowed.
        max: Duration,
        /// The setting that allows it, to raise: `"Limits::max_hold"`, or
        /// `"Retry::max_retry_after"` inside a Runner.
        setting: &'static str,
    },
    /// The limiter is shared on Redis (`MultiLimiter::shared_on`, feature `redis`) and Redis
    /// could not decide (unreachable without a fallback, parameters that differ, something not
    /// shared). Nothing was taken. The variant exists with or without the feature, so a `match`
    /// compiles under both; only the feature produces it.
    Redis(crate::redis::RedisError),
}

impl LimitError {
    /// For [`LimitError::NotInTime`], how long from the decision the call would have had to
    /// wait, when known; `None` otherwise (an unknown wait, or another variant). The same
    /// accessor as [`AcquireError::wait`](crate::AcquireError::wait) and
    /// [`SemaphoreError::wait`](crate::SemaphoreError::wait).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Limits, MultiLimiter, REQUESTS};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(1))?;
    /// let _first = api.acquire(&[(REQUESTS, 1)])?;
    /// let wait = api.try_acquire(&[(REQUESTS, 1)]).unwrap_err().wait().unwrap();
    /// assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn wait(&self) -> Option<Duration> {
        match self {
            LimitError::NotInTime { wait } => *wait,
            _ => None,
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::UnknownResource { name, known } if known.is_empty() => write!(
                f,
                "no resource named {name:?}: these limits count no resource; add it to the limits"
            ),
            LimitError::UnknownResource { name, known } => write!(
                f,
                "no resource named {name:?} in these limits; they count {}",
                known
                    .iter()
                    .map(|known| format!("{known:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            LimitError::DuplicateResource(name) => write!(
                f,
                "two resources are named {name:?}; give each resource its own name"
            ),
            LimitError::NoModels => f.write_str(
                "the model limiter has no model and no default: add .model(name, limits) or \
                 .default(limits) before build()",
            ),
            LimitError::UnknownModel(name) => write!(
                f,
                "no limits for model {name:?} and no default; add the model or a default"
            ),
            LimitError::ExceedsCapacity {
                resource,
                cost,
                capacity,
            } => write!(
                f,
                "{resource}: cost {cost} exceeds the capacity {capacity}; raise the limit or split the call"
            ),
            LimitError::NotInTime { wait: Some(wait) } => {
                write!(f, "not in time: the call fits in {wait:?}")
            }
            LimitError::NotInTime { wait: None } => {
                f.write_str("not in time: no concurrency slot came free in time")
            }
            LimitError::Cancelled => f.write_str("the reservation was cancelled"),
            LimitError::HeldTooLong {
                resource,
                wait,
                max,
                setting,
            } => write!(
                f,
                "the server holds {resource} for {wait:?} more, longer than the longest hold \
                 allowed ({max:?}, {setting}); raise {setting} to wait that long, or try later"
            ),
            LimitError::InvalidRate { resource, error } => write!(f, "{resource}: {error}"),
            LimitError::ZeroParallel => {
                f.write_str("max_parallel is 0: no call could ever run; give at least 1")
            }
            LimitError::Redis(error) => write!(f, "shared limiter: {error}"),
        }
    }
}

impl Error for LimitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LimitError::InvalidRate { error, .. } => Some(error),
            LimitError::Redis(error) => Some(error),
            _ => None,
        }
    }
}
