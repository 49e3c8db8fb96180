//! Closure wrappers: [`limit_rate`] (one unit per call) and [`limit_cost`] (a cost estimated
//! before the call, settled after it).

use std::sync::Arc;

use crate::algorithm::{Algorithm, GcraVirtual};
use crate::{AcquireError, Rate, RateLimiter};

/// Something a wrapper can take units from: a [`RateLimiter`], by value, reference or `Arc`.
pub trait Limit {
    /// Takes `cost` units, blocking until they fit.
    fn take(&self, cost: u64) -> Result<(), AcquireError>;
    /// Settles a call that took `estimated` units and used `actual`.
    fn settle(&self, estimated: u64, actual: u64) -> Result<(), AcquireError>;
}

impl<A: Algorithm> Limit for RateLimiter<A> {
    fn take(&self, cost: u64) -> Result<(), AcquireError> {
        self.acquire_n(cost)
    }
    fn settle(&self, estimated: u64, actual: u64) -> Result<(), AcquireError> {
        self.reconcile(estimated, actual)
    }
}

impl<L: Limit + ?Sized> Limit for &L {
    fn take(&self, cost: u64) -> Result<(), AcquireError> {
        (**self).take(cost)
    }
    fn settle(&self, estimated: u64, actual: u64) -> Result<(), AcquireError> {
        (**self).settle(estimated, actual)
    }
}

impl<L: Limit + ?Sized> Limit for Arc<L> {
    fn take(&self, cost: u64) -> Result<(), AcquireError> {
        (**self).take(cost)
    }
    fn settle(&self, estimated: u64, actual: u64) -> Result<(), AcquireError> {
        (**self).settle(estimated, actual)
    }
}

/// What a wrapper may be given: a [`Rate`] (the wrapper owns a GCRA limiter of its own) or a
/// limiter to share (`&RateLimiter`, `Arc<RateLimiter>`).
pub trait IntoLimit {
    /// The limiter the wrapper keeps.
    type Limit: Limit;
    /// Converts into it.
    fn into_limit(self) -> Self::Limit;
}

impl IntoLimit for Rate {
    type Limit = RateLimiter<GcraVirtual>;
    fn into_limit(self) -> Self::Limit {
        RateLimiter::new(self)
    }
}

impl<'a, A: Algorithm> IntoLimit for &'a RateLimiter<A> {
    type Limit = &'a RateLimiter<A>;
    fn into_limit(self) -> Self::Limit {
        self
    }
}

impl<A: Algorithm> IntoLimit for Arc<RateLimiter<A>> {
    type Limit = Arc<RateLimiter<A>>;
    fn into_limit(self) -> Self::Limit {
        self
    }
}

/// A closure of some arity that [`limit_rate`] can wrap; implemented for `Fn() -> R` and
/// `Fn(T) -> R` (pass several values as a tuple).
pub trait Wrappable<'a, Args, L> {
    /// The rate-limited closure.
    type Limited;
    /// Wraps `self` so that each call first takes one unit from `limit`.
    fn wrap(self, limit: L) -> Self::Limited;
}

impl<'a, L, R, F> Wrappable<'a, (), L> for F
where
    L: Limit + Send + Sync + 'a,
    F: Fn() -> R + Send + Sync + 'a,
{
    type Limited = Box<dyn Fn() -> Result<R, AcquireError> + Send + Sync + 'a>;
    fn wrap(self, limit: L) -> Self::Limited {
        Box::new(move || {
            limit.take(1)?;
            Ok(self())
        })
    }
}

impl<'a, L, T, R, F> Wrappable<'a, (T,), L> for F
where
    L: Limit + Send + Sync + 'a,
    F: Fn(T) -> R + Send + Sync + 'a,
{
    type Limited = Box<dyn Fn(T) -> Result<R, AcquireError> + Send + Sync + 'a>;
    fn wrap(self, limit: L) -> Self::Limited {
        Box::new(move |arg| {
            limit.take(1)?;
            Ok(self(arg))
        })
    }
}

/// Wraps `f` so that every call first takes one unit from `limiter` (blocking until it fits),
/// then runs `f` and returns its result.
///
/// `limiter` is a [`Rate`] (the closure owns its limiter) or a shared `&RateLimiter` /
/// `Arc<RateLimiter>`. The closure returns `Err` only if the limiter's rate is invalid.
///
/// ```
/// use tollgate::{limit_rate, Rate, RateLimiter};
///
/// let shared = RateLimiter::new(Rate::per_second(5));
/// let ping = limit_rate(&shared, || "pong");
/// assert_eq!(ping()?, "pong");
///
/// let double = limit_rate(Rate::per_second(5), |x: u32| x * 2);
/// assert_eq!(double(21)?, 42);
/// # Ok::<(), tollgate::AcquireError>(())
/// ```
pub fn limit_rate<'a, S, F, Args>(limiter: S, f: F) -> F::Limited
where
    S: IntoLimit,
    F: Wrappable<'a, Args, S::Limit>,
{
    f.wrap(limiter.into_limit())
}

/// Wraps `f` so that every call takes `estimate(&arg)` units before it runs and, once it
/// returns, settles with `actual(&result)`: the difference is refunded, or charged as debt that
/// later calls wait for (see [`RateLimiter::reconcile`]).
///
/// ```
/// use tollgate::{limit_cost, Rate, RateLimiter};
///
/// let tokens = RateLimiter::new(Rate::per_minute(100));
/// let complete = limit_cost(&tokens, |_prompt: &&str| 10, |used: &u64| *used, |_prompt: &str| 15u64);
/// assert_eq!(complete("hello")?, 15); // 10 taken before the call, 5 more after
/// assert_eq!(tokens.available(), 85);
/// # Ok::<(), tollgate::AcquireError>(())
/// ```
pub fn limit_cost<S, T, R>(
    limiter: S,
    estimate: impl Fn(&T) -> u64,
    actual: impl Fn(&R) -> u64,
    f: impl Fn(T) -> R,
) -> impl Fn(T) -> Result<R, AcquireError>
where
    S: IntoLimit,
{
    let limit = limiter.into_limit();
    move |arg| {
        let estimated = estimate(&arg);
        limit.take(estimated)?;
        let result = f(arg);
        limit.settle(estimated, actual(&result))?;
        Ok(result)
    }
}
