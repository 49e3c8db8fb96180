//! The public ways onto Redis: the constructors placing a [`MultiLimiter`] (or each model of a
//! [`ModelLimiter`](crate::ModelLimiter)) on a shared state, and what a permit can tell of it.
//! Inherent methods of the public types, kept here with the store they use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::remote::Remote;
use super::RedisState;
use crate::multi::{LimitError, ModelLimiterBuilder};
use crate::{MultiLimiter, Permit, Runner};

#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl MultiLimiter {
    /// The same limits, their state kept in Redis and shared by every process that names the
    /// same limiter on the same server (see [`tollgate::redis`](crate::redis)). Call it last
    /// (after [`with_clock`](Self::with_clock)); the limiter starts from the shared state.
    ///
    /// # Errors
    /// [`LimitError::Redis`]: the server cannot be reached (unless a
    /// [`Fallback::Local`](crate::redis::Fallback::Local) was chosen), another process shares
    /// the name with other limits.
    ///
    /// ```no_run
    /// use tollgate::redis::RedisState;
    /// use tollgate::{Limits, MultiLimiter, REQUESTS};
    ///
    /// let shared = RedisState::open("redis://127.0.0.1:6379/", "search-api")?;
    /// let api = MultiLimiter::new(Limits::new().rpm(600).max_parallel(8))?.shared_on(shared)?;
    /// let _permit = api.acquire(&[(REQUESTS, 1)])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shared_on(self, state: RedisState) -> Result<MultiLimiter, LimitError> {
        let remote =
            Remote::new(self.limits(), self.clock().clone(), state).map_err(LimitError::Redis)?;
        remote.check().map_err(LimitError::Redis)?;
        Ok(self.with_store(remote))
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl ModelLimiterBuilder {
    /// Keeps every model's state in Redis, shared by the processes that use the same name:
    /// model `m` is the limiter `"<name>:m"` of `state` (see
    /// [`MultiLimiter::shared_on`]).
    ///
    /// ```no_run
    /// use tollgate::redis::RedisState;
    /// use tollgate::{Limits, ModelLimiter, TOKENS};
    ///
    /// let shared = RedisState::open("redis://127.0.0.1:6379/", "openai-key-1")?;
    /// let models = ModelLimiter::builder()
    ///     .model("gpt-4o", Limits::new().rpm(500).tpm(40_000).max_parallel(10))
    ///     .shared_on(shared)          // the limiter "openai-key-1:gpt-4o"
    ///     .build()?;
    /// let _permit = models.acquire("gpt-4o", &[(TOKENS, 8_000)])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shared_on(self, state: RedisState) -> Self {
        let described = format!("on Redis as {:?}", state.name());
        let place = move |limiter: MultiLimiter, model: &str| {
            let named = state
                .named(&format!("{}:{model}", state.name()))
                .map_err(LimitError::Redis)?;
            limiter.shared_on(named)
        };
        self.placed_by(described, place)
    }
}

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
    /// with other quotas is a [`RunnerError::InvalidLimits`](crate::RunnerError::InvalidLimits) from [`run`](Self::run).
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
    pub fn shared_on(self, state: RedisState) -> Self {
        self.placed_by(move |limiter| limiter.shared_on(state.clone()))
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl Permit {
    /// On a limiter [shared on Redis](MultiLimiter::shared_on): the instant the call may go, on
    /// the Redis server's clock (the same in every process); `None` otherwise.
    ///
    /// ```no_run
    /// use tollgate::redis::RedisState;
    /// use tollgate::{Limits, MultiLimiter, REQUESTS};
    ///
    /// let shared = RedisState::open("redis://127.0.0.1:6379/", "audit")?;
    /// let api = MultiLimiter::new(Limits::new().rpm(60))?.shared_on(shared)?;
    /// let permit = api.acquire(&[(REQUESTS, 1)])?;
    /// println!("went at {:?} (server time)", permit.server_ready_at());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn server_ready_at(&self) -> Option<SystemTime> {
        let at = remote_of(self.limiter())?.server_at(self.id())?;
        let micros = u64::try_from(at).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_micros(micros))
    }
}

/// The Redis store of `limiter`, if its state is on Redis.
fn remote_of(limiter: &MultiLimiter) -> Option<&Remote> {
    limiter.store().as_any().downcast_ref::<Remote>()
}
