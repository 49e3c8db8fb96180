use std::time::Duration;

/// A snapshot of a [`RateLimiter`](crate::RateLimiter)'s counters.
///
/// ```
/// use tollgate::{Rate, RateLimiter};
///
/// let limiter = RateLimiter::new(Rate::per_second(2));
/// limiter.acquire().unwrap();
/// limiter.acquire().unwrap();
/// assert!(limiter.try_acquire().is_err());
/// let stats = limiter.stats();
/// assert_eq!((stats.admitted, stats.rejected, stats.waiting), (2, 1, 0));
/// assert_eq!(stats.available, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterStats {
    /// Acquires that took their cost (after waiting or not).
    pub admitted: u64,
    /// Acquires that were refused: cost above burst, a `try_*` that did not fit, a deadline that
    /// would have passed.
    pub rejected: u64,
    /// Callers blocked right now, waiting for their instant.
    pub waiting: usize,
    /// Total time admitted callers spent waiting.
    pub waited: Duration,
    /// Units that could be taken now without waiting.
    pub available: u64,
    /// Units in use now, debt included: charged and not yet regenerated (can exceed the burst
    /// after a settle above the estimate).
    pub in_use: u64,
}
