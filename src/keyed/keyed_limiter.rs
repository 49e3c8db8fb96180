use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use super::stats::{KeyUsage, KeyedStats};
use super::words_per_key::{Refusal, WordsPerKey};
use crate::algorithm::{GcraVirtual, OneWord};
use crate::time::Patience;
use crate::{AcquireError, Clock, Deadline, Nanos, Rate, RateError};

/// One rate per key (per user, per IP address, per API key), one word of state per key: a
/// blocking keyed limiter for any `Hash + Eq + Clone` key (cloned once, when first stored).
///
/// Every key is limited by the same [`Rate`] as if it had a [`RateLimiter`](crate::RateLimiter)
/// of its own, running the one-word form of its algorithm ([`OneWord`]: GCRA by default, or any
/// of the four bucket algorithms, which decide identically). What a key stores is that one word
/// (the instant its backlog has drained), in an `AtomicU64` in a sharded map: a decision on a key
/// already present takes the shard's read lock and one compare-and-swap; a new key takes the
/// shard's write lock once.
///
/// - **Policing** ([`try_acquire`](Self::try_acquire), [`try_acquire_n`](Self::try_acquire_n)):
///   the cost if it fits now, else [`AcquireError::NotInTime`] with the wait, taking nothing.
/// - **Shaping** ([`acquire`](Self::acquire), [`acquire_n`](Self::acquire_n)): the cost is
///   reserved in the key's word (queued behind what the key already owes) and the caller sleeps,
///   holding no lock, until its instant. Callers of one key go in the order they reserved
///   (FIFO), as on a `RateLimiter`.
/// - **Bounded waits** ([`try_acquire_for`](Self::try_acquire_for),
///   [`try_acquire_until`](Self::try_acquire_until)): the wait is compared with the deadline
///   before anything is taken.
///
/// A cost above the burst is [`AcquireError::ExceedsCapacity`], an invalid rate
/// [`AcquireError::InvalidRate`] (or refused at once by [`try_new`](Self::try_new)).
///
/// **Forgetting.** A key whose state is indistinguishable from a fresh one (its algorithm has
/// nothing in use: it would decide exactly as a new key) is dropped by
/// [`retain_recent`](Self::retain_recent), and also, amortised, when a shard has doubled since
/// it was last swept: memory stays within about twice the keys in use without any call.
///
/// What it does not have, beside a `RateLimiter`: reservations to cancel or settle, `set_rate`
/// and server holds (`observe`); a waiting caller cannot be cancelled.
///
/// Several resources per key (requests and tokens per user, all or none) are a
/// [`KeyedMultiLimiter`](crate::KeyedMultiLimiter): the same generic piece with a word per
/// resource.
///
/// ```
/// use tollgate::{KeyedLimiter, Rate};
///
/// let per_user = KeyedLimiter::new(Rate::per_minute(60).burst(2));
/// assert!(per_user.try_acquire(&"alice").is_ok());
/// assert!(per_user.try_acquire(&"alice").is_ok());
/// assert!(per_user.try_acquire(&"alice").is_err());   // her burst is spent
/// assert!(per_user.try_acquire(&"bob").is_ok());      // his is whole
/// assert_eq!(per_user.len(), 2);
/// ```
pub struct KeyedLimiter<K, A: OneWord = GcraVirtual> {
    rate: Rate,
    /// One word per key: the generic piece with one resource.
    words: WordsPerKey<K, A, 1>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K, GcraVirtual> {
    /// A keyed limiter giving every key `rate`, with GCRA, on the real clock. An invalid rate
    /// makes every acquire fail with [`AcquireError::InvalidRate`] ([`try_new`](Self::try_new)
    /// refuses it at once).
    ///
    /// ```
    /// use tollgate::{KeyedLimiter, Rate};
    ///
    /// let per_ip: KeyedLimiter<std::net::IpAddr> = KeyedLimiter::new(Rate::per_second(10));
    /// assert!(per_ip.try_acquire(&"127.0.0.1".parse().unwrap()).is_ok());
    /// ```
    pub fn new(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }

    /// [`new`](Self::new), refusing an invalid rate.
    ///
    /// # Errors
    /// The [`RateError`] that [`Rate::validate`] reports.
    ///
    /// ```
    /// use tollgate::{KeyedLimiter, Rate, RateError};
    ///
    /// let refused = KeyedLimiter::<u64>::try_new(Rate::per_second(0));
    /// assert_eq!(refused.unwrap_err(), RateError::ZeroQuantity);
    /// ```
    pub fn try_new(rate: Rate) -> Result<Self, RateError> {
        Self::try_with_algorithm(rate)
    }
}

impl<K: Hash + Eq + Clone, A: OneWord> KeyedLimiter<K, A> {
    /// A keyed limiter giving every key `rate`, with algorithm `A` (any [`OneWord`] algorithm:
    /// the four buckets decide identically), on the real clock.
    ///
    /// ```
    /// use tollgate::algorithm::TokenBucket;
    /// use tollgate::{KeyedLimiter, Rate};
    ///
    /// let buckets = KeyedLimiter::<String, TokenBucket>::with_algorithm(Rate::per_second(5));
    /// buckets.try_acquire_n(&"tenant-7".to_owned(), 5)?;
    /// assert_eq!(buckets.available(&"tenant-7".to_owned()), 0);
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn with_algorithm(rate: Rate) -> Self {
        Self::build(rate, Clock::new())
    }

    /// [`with_algorithm`](Self::with_algorithm), refusing an invalid rate.
    ///
    /// # Errors
    /// The [`RateError`] that `A` reports for `rate`.
    pub fn try_with_algorithm(rate: Rate) -> Result<Self, RateError> {
        A::new(&rate)?;
        Ok(Self::with_algorithm(rate))
    }

    fn build(rate: Rate, clock: Clock) -> Self {
        KeyedLimiter {
            rate,
            words: WordsPerKey::new([rate], clock),
        }
    }

    /// The same limiter, reading `clock` (a mock clock in tests). Call it before first use: the
    /// limiter starts anew, with no key, on that clock.
    ///
    /// ```
    /// use tollgate::{Clock, KeyedLimiter, Nanos, Rate};
    ///
    /// let (clock, time) = Clock::mock();
    /// let per_key = KeyedLimiter::new(Rate::per_second(2)).with_clock(clock);
    /// per_key.acquire_n(&7_u64, 2)?;
    /// per_key.acquire(&7)?;                           // sleeps 500 ms (mock time)
    /// assert_eq!(time.now(), Nanos::from_millis(500));
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn with_clock(self, clock: Clock) -> Self {
        Self::build(self.rate, clock)
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &Clock {
        self.words.clock()
    }

    /// The rate every key has.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes one unit for `key`, blocking until it fits.
    ///
    /// # Errors
    /// [`AcquireError::InvalidRate`]; [`AcquireError::NotInTime`] only for a key whose queue
    /// reaches the end of the clock's time (it could never go).
    #[inline]
    pub fn acquire(&self, key: &K) -> Result<(), AcquireError> {
        self.acquire_within(key, 1, Patience::Forever)
    }

    /// Takes `cost` units for `key`, blocking until they fit, behind the key's earlier callers.
    ///
    /// # Errors
    /// [`AcquireError::ExceedsCapacity`] at once when `cost` exceeds the burst, and as
    /// [`acquire`](Self::acquire).
    #[inline]
    pub fn acquire_n(&self, key: &K, cost: u64) -> Result<(), AcquireError> {
        self.acquire_within(key, cost, Patience::Forever)
    }

    /// Takes one unit for `key` if it fits now; never blocks.
    ///
    /// # Errors
    /// [`AcquireError::NotInTime`] with the wait; [`AcquireError::InvalidRate`].
    #[inline]
    pub fn try_acquire(&self, key: &K) -> Result<(), AcquireError> {
        self.acquire_within(key, 1, Patience::For(Nanos::ZERO))
    }

    /// Takes `cost` units for `key` if they fit now; never blocks.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire), and [`AcquireError::ExceedsCapacity`].
    #[inline]
    pub fn try_acquire_n(&self, key: &K, cost: u64) -> Result<(), AcquireError> {
        self.acquire_within(key, cost, Patience::For(Nanos::ZERO))
    }

    /// Takes `cost` units for `key`, waiting at most `timeout`; when the wait would be longer,
    /// fails at once, sleeping not at all and taking nothing.
    ///
    /// # Errors
    /// As [`try_acquire_n`](Self::try_acquire_n).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, KeyedLimiter, Rate};
    ///
    /// let (clock, _time) = Clock::mock();
    /// let per_key = KeyedLimiter::new(Rate::per_second(10)).with_clock(clock);
    /// per_key.acquire_n(&"k", 10)?;
    /// let refused = per_key.try_acquire_for(&"k", 3, Duration::from_millis(200)).unwrap_err();
    /// assert_eq!(refused.wait(), Some(Duration::from_millis(300)));
    /// per_key.try_acquire_for(&"k", 1, Duration::from_millis(200))?;   // waits 100 ms
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    #[inline]
    pub fn try_acquire_for(
        &self,
        key: &K,
        cost: u64,
        timeout: Duration,
    ) -> Result<(), AcquireError> {
        self.acquire_within(key, cost, Patience::For(Nanos::from(timeout)))
    }

    /// Takes `cost` units for `key` if they fit by `deadline`: an instant of this limiter's
    /// [`clock`](Self::clock) or a [`std::time::Instant`] (see [`Deadline`]). A deadline
    /// already past takes only what fits now.
    ///
    /// # Errors
    /// As [`try_acquire_for`](Self::try_acquire_for).
    #[inline]
    pub fn try_acquire_until(
        &self,
        key: &K,
        cost: u64,
        deadline: impl Into<Deadline>,
    ) -> Result<(), AcquireError> {
        let deadline = deadline.into().on(self.clock());
        self.acquire_within(key, cost, Patience::Until(deadline))
    }

    /// Units `key` could take now without waiting (the burst for a key not stored; 0 if the
    /// rate is invalid).
    pub fn available(&self, key: &K) -> u64 {
        self.words.usage(key).map_or(0, |[usage]| usage.available)
    }

    /// Forgets every key whose state is indistinguishable from a fresh one (nothing in use: it
    /// would decide exactly as a key never seen), as governor's `retain_recent`; returns how
    /// many were forgotten. Keys that still owe anything (a waiter's reservation, a burst not
    /// yet regenerated) are kept. Shards are swept one after another, each under its own write
    /// lock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, KeyedLimiter, Rate};
    ///
    /// let (clock, time) = Clock::mock();
    /// let per_key = KeyedLimiter::new(Rate::per_second(1)).with_clock(clock);
    /// per_key.try_acquire(&1_u64)?;
    /// time.advance(Duration::from_millis(500));
    /// per_key.try_acquire(&2)?;
    /// time.advance(Duration::from_millis(500));      // key 1 has regenerated, key 2 not yet
    /// assert_eq!(per_key.retain_recent(), 1);
    /// assert_eq!(per_key.len(), 1);
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn retain_recent(&self) -> usize {
        self.words.retain_recent()
    }

    /// Keys stored now (fresh-equivalent ones not yet forgotten included).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys stored, acquires admitted and refused.
    ///
    /// ```
    /// use tollgate::{KeyedLimiter, Rate};
    ///
    /// let per_key = KeyedLimiter::new(Rate::per_hour(1));
    /// per_key.try_acquire(&'a').unwrap();
    /// assert!(per_key.try_acquire(&'a').is_err());
    /// let stats = per_key.stats();
    /// assert_eq!((stats.keys, stats.admitted, stats.rejected), (1, 1, 1));
    /// ```
    pub fn stats(&self) -> KeyedStats {
        self.words.stats()
    }

    /// Calls `visit` with every stored key and what it uses, one shard at a time (under that
    /// shard's read lock: do not acquire from `visit`).
    ///
    /// ```
    /// use tollgate::{KeyedLimiter, Rate};
    ///
    /// let per_key = KeyedLimiter::new(Rate::per_second(10));
    /// per_key.try_acquire_n(&"a", 4)?;
    /// let mut seen = Vec::new();
    /// per_key.for_each(|key, usage| seen.push((*key, usage.in_use, usage.available)));
    /// assert_eq!(seen, [("a", 4, 6)]);
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn for_each(&self, mut visit: impl FnMut(&K, KeyUsage)) {
        self.words.for_each(|key, [usage]| visit(key, usage));
    }

    /// The one path of every acquire: the generic piece's, its refusal named as an
    /// [`AcquireError`].
    #[inline]
    fn acquire_within(&self, key: &K, cost: u64, patience: Patience) -> Result<(), AcquireError> {
        self.words
            .acquire_within(key, [cost], patience, |refusal| match refusal {
                Refusal::InvalidRate { error, .. } => AcquireError::InvalidRate(error),
                Refusal::ExceedsCapacity { cost, capacity, .. } => {
                    AcquireError::ExceedsCapacity { cost, capacity }
                }
                Refusal::NotInTime { wait } => AcquireError::NotInTime { wait },
            })
    }
}

impl<K, A: OneWord> fmt::Debug for KeyedLimiter<K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("algorithm", &std::any::type_name::<A>())
            .field("rate", &self.rate)
            .field("clock", self.words.clock())
            .finish_non_exhaustive()
    }
}
