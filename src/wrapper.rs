//! Closure wrappers: [`limit_rate`] (one unit per call) and [`limit_cost`] (a cost estimated
//! before the call, settled after it).

use std::sync::Arc;

use crate::algorithm::{Algorithm, GcraVirtual};
use crate::{AcquireError, Rate, RateLimiter, Reservation};

/// Something a wrapper can take units from: a [`RateLimiter`], by value, reference or `Arc`.
pub trait Throttle {
    /// Takes `cost` units, blocking until they fit.
    ///
    /// # Errors
    /// As [`RateLimiter::acquire_n`].
    fn acquire_n(&self, cost: u64) -> Result<(), AcquireError>;

    /// Takes `cost` units, blocking until they fit, and keeps the reservation to settle the
    /// actual cost with later.
    ///
    /// # Errors
    /// As [`RateLimiter::reserve`], and [`AcquireError::Cancelled`].
    fn acquire_settleable(&self, cost: u64) -> Result<Reservation, AcquireError>;
}

impl<A: Algorithm> Throttle for RateLimiter<A> {
    fn acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        RateLimiter::acquire_n(self, cost)
    }
    fn acquire_settleable(&self, cost: u64) -> Result<Reservation, AcquireError> {
        let reservation = self.reserve(cost)?;
        reservation.wait()?;
        Ok(reservation)
    }
}

impl<L: Throttle + ?Sized> Throttle for &L {
    fn acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        (**self).acquire_n(cost)
    }
    fn acquire_settleable(&self, cost: u64) -> Result<Reservation, AcquireError> {
        (**self).acquire_settleable(cost)
    }
}

impl<L: Throttle + ?Sized> Throttle for Arc<L> {
    fn acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        (**self).acquire_n(cost)
    }
    fn acquire_settleable(&self, cost: u64) -> Result<Reservation, AcquireError> {
        (**self).acquire_settleable(cost)
    }
}

/// What a wrapper may be given: a [`Rate`] (the wrapper owns a GCRA limiter of its own) or a
/// limiter to share (`&RateLimiter`, `Arc<RateLimiter>`).
pub trait IntoThrottle {
    /// The limiter the wrapper keeps.
    type Throttle: Throttle;
    /// Converts into it.
    fn into_throttle(self) -> Self::Throttle;
}

impl IntoThrottle for Rate {
    type Throttle = RateLimiter<GcraVirtual>;
    fn into_throttle(self) -> Self::Throttle {
        RateLimiter::new(self)
    }
}

impl<'a, A: Algorithm> IntoThrottle for &'a RateLimiter<A> {
    type Throttle = &'a RateLimiter<A>;
    fn into_throttle(self) -> Self::Throttle {
        self
    }
}

impl<A: Algorithm> IntoThrottle for Arc<RateLimiter<A>> {
    type Throttle = Arc<RateLimiter<A>>;
    fn into_throttle(self) -> Self::Throttle {
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
    L: Throttle + Send + Sync + 'a,
    F: Fn() -> R + Send + Sync + 'a,
{
    type Limited = Box<dyn Fn() -> Result<R, AcquireError> + Send + Sync + 'a>;
    fn wrap(self, limit: L) -> Self::Limited {
        Box::new(move || {
            limit.acquire_n(1)?;
            Ok(self())
        })
    }
}

impl<'a, L, T, R, F> Wrappable<'a, (T,), L> for F
where
    L: Throttle + Send + Sync + 'a,
    F: Fn(T) -> R + Send + Sync + 'a,
{
    type Limited = Box<dyn Fn(T) -> Result<R, AcquireError> + Send + Sync + 'a>;
    fn wrap(self, limit: L) -> Self::Limited {
        Box::new(move |arg| {
            limit.acquire_n(1)?;
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
    S: IntoThrottle,
    F: Wrappable<'a, Args, S::Throttle>,
{
    f.wrap(limiter.into_throttle())
}

/// Wraps `f` so that every call takes `estimate(&arg)` units before it runs and, once it
/// returns, settles with `actual(&result)`: what the estimate still holds comes back and the
/// actual cost is charged from that instant, as debt that later calls wait for if need be (see
/// [`Reservation::settle`]).
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
    S: IntoThrottle,
{
    let limit = limiter.into_throttle();
    move |arg| {
        let reservation = limit.acquire_settleable(estimate(&arg))?;
        let result = f(arg);
        reservation.settle(actual(&result))?;
        Ok(result)
    }
}
