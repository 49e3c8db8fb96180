use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::LimitError;

/// Why one attempt of a job did not produce a result.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptError<E> {
    /// The call returned this error.
    Call(E),
    /// The call panicked, with this message.
    Panicked(String),
    /// The call returned a result that a validator rejected (its usage was still billed).
    ValidationFailed,
    /// The server asked for a wait longer than the retry policy accepts
    /// ([`Retry::max_retry_after`](crate::Retry::max_retry_after)), or one reaching past the
    /// clock's end.
    RetryAfterTooLong {
        /// The wait asked for.
        requested: Duration,
        /// The longest wait the policy honours.
        cap: Duration,
    },
    /// The quotas refused the job.
    Quota(LimitError),
    /// The runner's configuration cannot work (changed after the job was scheduled).
    Misconfigured(RunnerError),
    /// An attempt of an earlier run, as the [journal](crate::Runner::journal) recorded it: its
    /// error's message.
    Journaled(String),
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Call(err) => write!(f, "{err}"),
            AttemptError::Panicked(message) => write!(f, "the call panicked: {message}"),
            AttemptError::ValidationFailed => f.write_str("Validation failed"),
            AttemptError::RetryAfterTooLong { requested, cap } if requested > cap => write!(
                f,
                "the server asked to retry after {requested:?}, longer than Retry::max_retry_after \
                 ({cap:?}); raise it to wait that long"
            ),
            AttemptError::RetryAfterTooLong { requested, .. } => write!(
                f,
                "the server asked to retry after {requested:?}, past the furthest instant the \
                 runner's clock can plan; the job failed rather than wait for ever"
            ),
            AttemptError::Quota(err) => write!(f, "{err}"),
            AttemptError::Misconfigured(err) => write!(f, "{err}"),
            AttemptError::Journaled(message) => write!(f, "in an earlier run: {message}"),
        }
    }
}

impl<E: Error + 'static> Error for AttemptError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AttemptError::Call(err) => Some(err),
            AttemptError::Quota(err) => Some(err),
            AttemptError::Misconfigured(err) => Some(err),
            _ => None,
        }
    }
}

/// Why a job cannot be scheduled, or a runner cannot run.
///
/// ```
/// use tollgate::{Rate, Resource, Runner, RunnerError};
///
/// let mut runner = Runner::new(|n: &u64| Ok::<u64, String>(*n))
///     .resource(Resource::new("points", Rate::per_minute(100)).per_job(|n: &u64| *n));
/// assert!(runner.schedule(100).is_ok()); // exactly the quota is fine
/// assert!(matches!(runner.schedule(101), Err(RunnerError::ExceedsQuota { .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunnerError {
    /// The job costs more of a resource than its whole quota: it could never run.
    ExceedsQuota {
        /// The resource.
        resource: String,
        /// What the job costs.
        cost: u64,
        /// The quota.
        quota: u64,
    },
    /// `max_concurrent(0)`: no call could ever run.
    ZeroConcurrency,
    /// A resource's limits cannot be enforced.
    InvalidLimits(LimitError),
    /// Two resources have this name: one would silently replace the other.
    DuplicateResource(String),
    /// No job would use any of this resource (no `per_job`, `estimate` or `actual`, and not
    /// named [`REQUESTS`](crate::REQUESTS); or only an `actual` on a resource
    /// [`counted_at_start`](crate::Resource::counted_at_start), which applies none): its quota
    /// would limit nothing.
    UnusedResource(String),
    /// The journal refused the job, or cannot be used (feature `journal`).
    #[cfg(feature = "journal")]
    #[cfg_attr(docsrs, doc(cfg(feature = "journal")))]
    Journal(crate::JournalError),
}

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerError::ExceedsQuota {
                resource,
                cost,
                quota,
            } => write!(
                f,
                "job exceeds quota: it costs {cost} {resource}, the quota is {quota}; split the job or raise the quota"
            ),
            RunnerError::ZeroConcurrency => {
                f.write_str("max_concurrent is 0: no call could run; give at least 1")
            }
            RunnerError::InvalidLimits(err) => write!(f, "{err}"),
            RunnerError::DuplicateResource(name) => write!(
                f,
                "two resources are named {name:?}; give each quota its own name"
            ),
            RunnerError::UnusedResource(name) => write!(
                f,
                "resource {name:?} counts nothing, so its quota limits nothing: give it a cost \
                 (.per_job(|_| 1) for one per job, or an estimate and an actual); only a \
                 resource named \"requests\" counts one per job by itself"
            ),
            #[cfg(feature = "journal")]
            RunnerError::Journal(err) => write!(f, "{err}"),
        }
    }
}

impl Error for RunnerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RunnerError::InvalidLimits(err) => Some(err),
            #[cfg(feature = "journal")]
            RunnerError::Journal(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(feature = "journal")]
#[cfg_attr(docsrs, doc(cfg(feature = "journal")))]
impl From<crate::JournalError> for RunnerError {
    fn from(err: crate::JournalError) -> RunnerError {
        RunnerError::Journal(err)
    }
}
