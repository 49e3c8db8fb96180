//! What a [`KeyedLimiter`](super::KeyedLimiter) or a
//! [`KeyedMultiLimiter`](super::KeyedMultiLimiter) reports: totals, and each key's usage.

/// A snapshot of a [`KeyedLimiter`](super::KeyedLimiter)'s or a
/// [`KeyedMultiLimiter`](super::KeyedMultiLimiter)'s totals.
///
/// ```
/// use tollgate::{KeyedLimiter, Rate};
///
/// let per_key = KeyedLimiter::new(Rate::per_second(1));
/// per_key.try_acquire(&1_u32).unwrap();
/// per_key.try_acquire(&2).unwrap();
/// assert!(per_key.try_acquire(&2).is_err());
/// let stats = per_key.stats();
/// assert_eq!((stats.keys, stats.admitted, stats.rejected), (2, 2, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedStats {
    /// Keys stored (fresh-equivalent ones not yet forgotten included).
    pub keys: usize,
    /// Acquires that took their cost (after waiting or not), over every key.
    pub admitted: u64,
    /// Acquires refused: a cost above the burst, a `try_*` that did not fit, a deadline that
    /// would have passed, an invalid rate.
    pub rejected: u64,
}

/// One key's figures (of one resource), as
/// [`KeyedLimiter::for_each`](super::KeyedLimiter::for_each) and
/// [`KeyedMultiLimiter::for_each`](super::KeyedMultiLimiter::for_each) report them.
///
/// ```
/// use tollgate::{KeyedLimiter, Rate};
///
/// let per_key = KeyedLimiter::new(Rate::per_minute(10));
/// per_key.try_acquire_n(&"k", 3)?;
/// per_key.for_each(|_, usage| assert_eq!((usage.in_use, usage.available), (3, 7)));
/// # Ok::<(), tollgate::AcquireError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyUsage {
    /// Units in use now (charged, not yet regenerated), callers still waiting included.
    pub in_use: u64,
    /// Units the key could take now without waiting.
    pub available: u64,
}
