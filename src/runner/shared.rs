//! The Runner's quotas shared by several processes (feature `redis`): the hook kept out of
//! `builder.rs`.

use super::{AttemptError, Verdict};
#[cfg(feature = "redis")]
use super::{Runner, RunnerError};
#[cfg(feature = "redis")]
use crate::MultiLimiter;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl<J, T, E> Runner<'_, J, T, E>
where
    J: Send + Sync,
    T: Send,
    E: Send,
{
    /// Takes the quotas from Redis, shared with every process (or machine) that runs the same
    /// resources under the same limiter name ([`tollgate::redis`](crate::redis)), exact windows
    /// or GCRA ([`Resource::smoothed`](crate::Resource::smoothed)) alike. A limiter name used
    /// with other quotas is a [`RunnerError::InvalidLimits`] from [`run`](Self::run).
    ///
    /// A call that cannot reach Redis is a failed attempt
    /// ([`AttemptError::Quota`](crate::AttemptError::Quota)) retried per the [`Retry`](crate::Retry)
    /// policy: a job keeps its place and finishes, or fails with its errors, never silently
    /// dropped. With [`Fallback::Local`](crate::redis::Fallback::Local) the calls go on against
    /// the local share instead.
    ///
    /// ```no_run
    /// use tollgate::redis::RedisState;
    /// use tollgate::{Rate, Resource, Runner};
    ///
    /// let shared = RedisState::open("redis://127.0.0.1:6379/", "nightly-batch")?;
    /// let mut runner = Runner::new(|n: &u64| Ok::<u64, String>(n * 2))
    ///     .resource(Resource::new("requests", Rate::per_second(50)).per_job(|_| 1))
    ///     .shared_on(shared);
    /// runner.schedule(21)?;
    /// assert_eq!(runner.run().into_parts().0, [Some(42)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shared_on(mut self, state: crate::redis::RedisState) -> Self {
        self.shared = Some(state);
        self
    }
}

/// Forgets the runner's limiter if it is not on the state the runner is now shared on (or
/// shared while the runner no longer is): the next run makes it again.
#[cfg(feature = "redis")]
pub(super) fn forget_if_moved(
    limiter: &mut Option<MultiLimiter>,
    shared: Option<&crate::redis::RedisState>,
) {
    if limiter
        .as_ref()
        .is_some_and(|limiter| !limiter.is_on(shared))
    {
        *limiter = None;
    }
}

/// The runner's limiter, moved onto Redis when the runner is shared.
#[cfg(feature = "redis")]
pub(super) fn share(
    limiter: MultiLimiter,
    shared: &Option<crate::redis::RedisState>,
) -> Result<MultiLimiter, RunnerError> {
    match shared {
        Some(state) => limiter
            .shared_on(state.clone())
            .map_err(RunnerError::InvalidLimits),
        None => Ok(limiter),
    }
}

/// What to do with a job whose quota could not be reserved: a shared state that could not be
/// reached is worth a retry; anything else (a cost above the capacity, a hold too long) is not.
pub(super) fn quota_verdict<E>(error: &AttemptError<E>) -> Verdict {
    match error {
        AttemptError::Quota(crate::LimitError::Redis(redis)) if redis.is_unreachable() => {
            Verdict::Retry
        }
        _ => Verdict::Fail,
    }
}
