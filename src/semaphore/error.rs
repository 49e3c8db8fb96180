use std::error::Error;
use std::fmt;
use std::time::Duration;

/// Why a semaphore did not admit a caller, or refused its parameters.
///
/// ```
/// use tollgate::{CreditSemaphore, SemaphoreError};
/// use std::time::Duration;
///
/// let sem = CreditSemaphore::new(40);
/// let err = sem.acquire(50, Duration::from_secs(10)).unwrap_err();
/// assert_eq!(err, SemaphoreError::ExceedsCapacity { requested: 50, capacity: 40 });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SemaphoreError {
    /// More was asked for than the semaphore could ever hold: refused at once.
    ExceedsCapacity {
        /// What was asked for.
        requested: u64,
        /// The most the semaphore holds.
        capacity: u64,
    },
    /// Not admitted now (`try_*`), or not within the timeout; nothing was taken.
    NotInTime {
        /// How long the caller waited (zero for `try_*`).
        waited: Duration,
    },
    /// A parameter that cannot work.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SemaphoreError::ExceedsCapacity {
                requested,
                capacity,
            } => write!(
                f,
                "{requested} requested exceeds the capacity {capacity}; raise the capacity or split the request"
            ),
            SemaphoreError::NotInTime { waited } => {
                write!(f, "not admitted after waiting {waited:?}")
            }
            SemaphoreError::InvalidParameter { name, reason } => {
                write!(f, "invalid `{name}`: {reason}")
            }
        }
    }
}

impl Error for SemaphoreError {}
