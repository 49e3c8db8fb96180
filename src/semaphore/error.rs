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
    /// Not admitted now (`try_*`), or not by the timeout or deadline; nothing was taken.
    NotInTime {
        /// How long from the decision the caller would have had to wait, when known: the
        /// same field as [`AcquireError::NotInTime`]'s and [`LimitError::NotInTime`]'s. A
        /// semaphore's slots and credits come free when holders finish, which it cannot
        /// foresee, so this is `None` for both semaphores.
        ///
        /// [`AcquireError::NotInTime`]: crate::AcquireError::NotInTime
        /// [`LimitError::NotInTime`]: crate::LimitError::NotInTime
        wait: Option<Duration>,
    },
    /// A parameter that cannot work.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl SemaphoreError {
    /// For [`SemaphoreError::NotInTime`], how long from the decision the caller would have had
    /// to wait, when known; `None` otherwise. The same accessor as
    /// [`AcquireError::wait`](crate::AcquireError::wait) and
    /// [`LimitError::wait`](crate::LimitError::wait).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{CreditSemaphore, SemaphoreError};
    ///
    /// let sem = CreditSemaphore::new(1);
    /// let _held = sem.acquire(1, Duration::ZERO)?;
    /// let refused = sem.try_acquire(1, Duration::ZERO).unwrap_err();
    /// assert_eq!(refused, SemaphoreError::NotInTime { wait: None }); // when it frees is unknown
    /// assert_eq!(refused.wait(), None);
    /// # Ok::<(), SemaphoreError>(())
    /// ```
    pub fn wait(&self) -> Option<Duration> {
        match self {
            SemaphoreError::NotInTime { wait } => *wait,
            _ => None,
        }
    }
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
            SemaphoreError::NotInTime { wait: Some(wait) } => {
                write!(f, "not in time: the caller would be admitted in {wait:?}")
            }
            SemaphoreError::NotInTime { wait: None } => f.write_str(
                "not in time: nothing came free before the deadline; wait longer or hold less",
            ),
            SemaphoreError::InvalidParameter { name, reason } => {
                write!(f, "invalid `{name}`: {reason}")
            }
        }
    }
}

impl Error for SemaphoreError {}
