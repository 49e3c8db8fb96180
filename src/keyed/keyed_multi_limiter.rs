use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use super::stats::{KeyUsage, KeyedStats};
use super::words_per_key::{Refusal, WordsPerKey};
use crate::algorithm::{GcraVirtual, OneWord};
use crate::time::Patience;
use crate::{Clock, Deadline, LimitError, Nanos, Rate, REQUESTS};

/// Several resources per key, decided together (per user: requests per minute **and** tokens
/// per minute): `N` words per key, one per resource, for any `Hash + Eq + Clone` key.
///
/// Every key is limited by each resource's [`Rate`] as if it had a
/// [`MultiLimiter`](crate::MultiLimiter) of its own (rates only: no concurrency limit, no
/// settling), running the one-word form of algorithm `A` ([`OneWord`]: GCRA by default) on
/// every resource. A call names its costs as a `MultiLimiter`'s do (`&[(TOKENS, 500)]`), one
/// request counted unless the costs name [`REQUESTS`], and takes **all of them or none**: a cost
/// that fits one resource but not another charges neither. Each resource is charged at the
/// instant the call may go, so a resource that was not binding does not regenerate while the
/// caller sleeps.
///
/// What a key stores is its `N` words, inline in the map's entry (`8 × N` bytes beside the key,
/// no allocation of its own). A decision on a key takes its shard's read lock and the key's lock
/// (a mutex shared by hash with other keys, held while its words are decided on and written,
/// never while sleeping); a new key takes the shard's write lock once. With `N = 1` it decides
/// as a [`KeyedLimiter`](crate::KeyedLimiter), which changes its one word by compare-and-swap
/// instead: use that one for a single rate.
///
/// - **Policing** ([`try_acquire`](Self::try_acquire)), **shaping** ([`acquire`](Self::acquire):
///   reserved, then asleep holding no lock; FIFO per key), **bounded waits**
///   ([`try_acquire_for`](Self::try_acquire_for), [`try_acquire_until`](Self::try_acquire_until):
///   refused at once when the wait would be longer), as on every limiter.
/// - **Errors** are a [`MultiLimiter`](crate::MultiLimiter)'s: [`LimitError::ExceedsCapacity`]
///   naming the resource whose burst a cost exceeds, [`LimitError::UnknownResource`],
///   [`LimitError::NotInTime`] with the wait; nothing is taken from any resource then.
/// - **Forgetting**: a key whose words all decide as a new key's (nothing in use on any
///   resource) is dropped by [`retain_recent`](Self::retain_recent), and also, amortised, when
///   a shard has doubled since it was last swept. A key with anything in use on one resource is
///   kept whole.
///
/// ```
/// use tollgate::{KeyedMultiLimiter, LimitError, Rate, REQUESTS, TOKENS};
///
/// let per_user = KeyedMultiLimiter::new([
///     (REQUESTS, Rate::per_minute(60).burst(2)),
///     (TOKENS, Rate::per_minute(10_000)),
/// ])?;
/// per_user.try_acquire(&"ann", &[(TOKENS, 9_000)])?;        // 1 request + 9,000 tokens
/// let refused = per_user.try_acquire(&"ann", &[(TOKENS, 2_000)]).unwrap_err();
/// assert!(matches!(refused, LimitError::NotInTime { .. }));  // tokens short: nothing taken
/// per_user.try_acquire(&"ann", &[(TOKENS, 1_000)])?;         // her second request fits
/// per_user.try_acquire(&"bo", &[(TOKENS, 10_000)])?;         // another user, whole quotas
/// # Ok::<(), LimitError>(())
/// ```
pub struct KeyedMultiLimiter<K, const N: usize, A: OneWord = GcraVirtual> {
    /// Each resource's name, in the order given.
    names: [String; N],
    rates: [Rate; N],
    /// Which resource is [`REQUESTS`], if one is (one per call unless named).
    requests: Option<usize>,
    words: WordsPerKey<K, A, N>,
}

impl<K: Hash + Eq + Clone, const N: usize> KeyedMultiLimiter<K, N, GcraVirtual> {
    /// A keyed limiter giving every key each of `resources` (a name and a rate, in the order
    /// its usage is reported), with GCRA, on the real clock.
    ///
    /// # Errors
    /// [`LimitError::InvalidRate`] naming the first resource whose rate cannot be enforced;
    /// [`LimitError::DuplicateResource`] when two resources have one name.
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, LimitError, Rate, REQUESTS, TOKENS};
    ///
    /// let per_key: KeyedMultiLimiter<u64, 2> = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_minute(60)),
    ///     (TOKENS, Rate::per_minute(40_000)),
    /// ])?;
    /// per_key.try_acquire(&7, &[(TOKENS, 500)])?;
    ///
    /// let twice = KeyedMultiLimiter::<u64, 2>::new([(TOKENS, Rate::per_second(1)), (TOKENS, Rate::per_second(2))]);
    /// assert_eq!(twice.unwrap_err(), LimitError::DuplicateResource(TOKENS.into()));
    /// # Ok::<(), LimitError>(())
    /// ```
    pub fn new(resources: [(impl Into<String>, Rate); N]) -> Result<Self, LimitError> {
        Self::with_algorithm(resources)
    }
}

impl<K: Hash + Eq + Clone, const N: usize, A: OneWord> KeyedMultiLimiter<K, N, A> {
    /// [`new`](KeyedMultiLimiter::new) with algorithm `A` on every resource (any [`OneWord`]
    /// algorithm: the four buckets decide identically).
    ///
    /// # Errors
    /// As [`new`](KeyedMultiLimiter::new), with the errors `A` reports for a rate.
    ///
    /// ```
    /// use tollgate::algorithm::TokenBucket;
    /// use tollgate::{KeyedMultiLimiter, LimitError, Rate, RateError};
    ///
    /// let buckets = KeyedMultiLimiter::<String, 2, TokenBucket>::with_algorithm([
    ///     ("calls", Rate::per_second(5)),
    ///     ("bytes", Rate::per_second(0)),
    /// ]);
    /// let LimitError::InvalidRate { resource, error } = buckets.unwrap_err() else { panic!() };
    /// assert_eq!((resource.as_str(), error), ("bytes", RateError::ZeroQuantity));
    /// ```
    pub fn with_algorithm(resources: [(impl Into<String>, Rate); N]) -> Result<Self, LimitError> {
        let resources = resources.map(|(name, rate)| (name.into(), rate));
        let rates = std::array::from_fn(|i| resources[i].1);
        let names = resources.map(|(name, _)| name);
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(LimitError::DuplicateResource(name.clone()));
            }
        }
        let limiter = Self::build(names, rates, Clock::new());
        match limiter.words.invalid_rate() {
            Some((resource, error)) => Err(LimitError::InvalidRate {
                resource: limiter.names[resource].clone(),
                error: error.clone(),
            }),
            None => Ok(limiter),
        }
    }

    fn build(names: [String; N], rates: [Rate; N], clock: Clock) -> Self {
        KeyedMultiLimiter {
            requests: names.iter().position(|name| name == REQUESTS),
            names,
            rates,
            words: WordsPerKey::new(rates, clock),
        }
    }

    /// The same limiter, reading `clock` (a mock clock in tests). Call it before first use: the
    /// limiter starts anew, with no key, on that clock.
    ///
    /// ```
    /// use tollgate::{Clock, KeyedMultiLimiter, Nanos, Rate, REQUESTS, TOKENS};
    ///
    /// let (clock, time) = Clock::mock();
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_second(10)),
    ///     (TOKENS, Rate::per_second(1_000)),
    /// ])?
    /// .with_clock(clock);
    /// per_key.acquire(&"k", &[(TOKENS, 1_000)])?;
    /// per_key.acquire(&"k", &[(TOKENS, 500)])?;          // sleeps 500 ms (mock time) for tokens
    /// assert_eq!(time.now(), Nanos::from_millis(500));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn with_clock(self, clock: Clock) -> Self {
        Self::build(self.names, self.rates, clock)
    }

    /// The clock this limiter reads.
    ///
    /// ```
    /// use tollgate::{Clock, KeyedMultiLimiter, Nanos, Rate};
    ///
    /// let (clock, _time) = Clock::mock();
    /// let per_key = KeyedMultiLimiter::<u8, 1>::new([("calls", Rate::per_second(1))])?.with_clock(clock);
    /// assert_eq!(per_key.clock().now(), Nanos::ZERO);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        self.words.clock()
    }

    /// The rate every key has on `resource`.
    ///
    /// # Errors
    /// [`LimitError::UnknownResource`].
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, Rate, REQUESTS, TOKENS};
    ///
    /// let per_key = KeyedMultiLimiter::<u64, 2>::new([
    ///     (REQUESTS, Rate::per_minute(60)),
    ///     (TOKENS, Rate::per_minute(40_000)),
    /// ])?;
    /// assert_eq!(per_key.rate(TOKENS)?, Rate::per_minute(40_000));
    /// assert!(per_key.rate("images").is_err());
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn rate(&self, resource: &str) -> Result<Rate, LimitError> {
        Ok(self.rates[self.index_of(resource)?])
    }

    /// Takes `costs` for `key` on every resource at once, blocking until they all fit, behind
    /// the key's earlier callers.
    ///
    /// # Errors
    /// At once, taking nothing: [`LimitError::UnknownResource`],
    /// [`LimitError::ExceedsCapacity`] (a cost above its resource's burst). After that only
    /// [`LimitError::NotInTime`] for a key whose queue reaches the end of the clock's time.
    ///
    /// ```
    /// use tollgate::{Clock, KeyedMultiLimiter, Nanos, Rate, REQUESTS, TOKENS};
    ///
    /// let (clock, time) = Clock::mock();
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_second(2)),
    ///     (TOKENS, Rate::per_second(100)),
    /// ])?
    /// .with_clock(clock);
    /// per_key.acquire(&1_u32, &[(REQUESTS, 2)])?;
    /// per_key.acquire(&1, &[(TOKENS, 10)])?;              // a request is due at 500 ms
    /// assert_eq!(time.now(), Nanos::from_millis(500));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    #[inline]
    pub fn acquire(&self, key: &K, costs: &[(&str, u64)]) -> Result<(), LimitError> {
        self.acquire_within(key, costs, Patience::Forever)
    }

    /// Takes `costs` for `key` if they all fit now; never blocks, and takes nothing otherwise.
    ///
    /// # Errors
    /// [`LimitError::NotInTime`] with the wait; as [`acquire`](Self::acquire).
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, LimitError, Rate, REQUESTS, TOKENS};
    ///
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_hour(10)),
    ///     (TOKENS, Rate::per_hour(1_000)),
    /// ])?;
    /// let too_big = per_key.try_acquire(&"k", &[(TOKENS, 5_000)]).unwrap_err();
    /// assert_eq!(too_big, LimitError::ExceedsCapacity { resource: TOKENS.into(), cost: 5_000, capacity: 1_000 });
    /// assert_eq!(per_key.usage(&"k")[0].1.in_use, 0);        // no request taken either
    /// # Ok::<(), LimitError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self, key: &K, costs: &[(&str, u64)]) -> Result<(), LimitError> {
        self.acquire_within(key, costs, Patience::For(Nanos::ZERO))
    }

    /// Takes `costs` for `key`, waiting at most `timeout`; when the wait would be longer, fails
    /// at once, sleeping not at all and taking nothing.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, KeyedMultiLimiter, Rate, REQUESTS, TOKENS};
    ///
    /// let (clock, _time) = Clock::mock();
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_second(10)),
    ///     (TOKENS, Rate::per_second(1_000)),
    /// ])?
    /// .with_clock(clock);
    /// per_key.try_acquire(&"k", &[(TOKENS, 1_000)])?;
    /// let refused = per_key.try_acquire_for(&"k", &[(TOKENS, 300)], Duration::from_millis(200));
    /// assert_eq!(refused.unwrap_err().wait(), Some(Duration::from_millis(300)));
    /// per_key.try_acquire_for(&"k", &[(TOKENS, 100)], Duration::from_millis(200))?; // waits 100 ms
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    #[inline]
    pub fn try_acquire_for(
        &self,
        key: &K,
        costs: &[(&str, u64)],
        timeout: Duration,
    ) -> Result<(), LimitError> {
        self.acquire_within(key, costs, Patience::For(Nanos::from(timeout)))
    }

    /// Takes `costs` for `key` if they all fit by `deadline`: an instant of this limiter's
    /// [`clock`](Self::clock) or a [`std::time::Instant`] (see [`Deadline`]). A deadline
    /// already past takes only what fits now.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, KeyedMultiLimiter, Nanos, Rate, REQUESTS};
    ///
    /// let (clock, time) = Clock::mock();
    /// let per_key = KeyedMultiLimiter::new([(REQUESTS, Rate::per_second(1))])?.with_clock(clock);
    /// per_key.try_acquire_until(&"k", &[], Nanos::ZERO)?;
    /// assert!(per_key.try_acquire_until(&"k", &[], Nanos::from_millis(999)).is_err());
    /// per_key.try_acquire_until(&"k", &[], Nanos::from_secs(1))?;     // sleeps 1 s (mock time)
    /// assert_eq!(time.now(), Nanos::from_secs(1));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    #[inline]
    pub fn try_acquire_until(
        &self,
        key: &K,
        costs: &[(&str, u64)],
        deadline: impl Into<Deadline>,
    ) -> Result<(), LimitError> {
        let deadline = deadline.into().on(self.clock());
        self.acquire_within(key, costs, Patience::Until(deadline))
    }

    /// What `key` uses of each resource now, in the resources' order (a key not stored: a new
    /// key's figures, nothing in use).
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, Rate, REQUESTS, TOKENS};
    ///
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_hour(10)),
    ///     (TOKENS, Rate::per_hour(1_000)),
    /// ])?;
    /// per_key.try_acquire(&"k", &[(TOKENS, 300)])?;
    /// let [(requests, r), (tokens, t)] = per_key.usage(&"k");
    /// assert_eq!((requests, r.in_use, r.available), (REQUESTS, 1, 9));
    /// assert_eq!((tokens, t.in_use, t.available), (TOKENS, 300, 700));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn usage(&self, key: &K) -> [(&str, KeyUsage); N] {
        let usage = self.words.usage(key).unwrap_or([KeyUsage::default(); N]);
        self.named(usage)
    }

    /// Forgets every key whose words all decide as a new key's (nothing in use on any
    /// resource), as governor's `retain_recent`; returns how many were forgotten. A key with
    /// anything in use on one resource is kept, its other words with it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, KeyedMultiLimiter, Rate, REQUESTS, TOKENS};
    ///
    /// let (clock, time) = Clock::mock();
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_second(1)),
    ///     (TOKENS, Rate::per_minute(60)),
    /// ])?
    /// .with_clock(clock);
    /// per_key.try_acquire(&1_u64, &[(TOKENS, 1)])?;
    /// per_key.try_acquire(&2, &[(TOKENS, 30)])?;
    /// time.advance(Duration::from_secs(1));   // key 1 whole again; key 2 still owes tokens
    /// assert_eq!(per_key.retain_recent(), 1);
    /// assert_eq!(per_key.len(), 1);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn retain_recent(&self) -> usize {
        self.words.retain_recent()
    }

    /// Keys stored now (fresh-equivalent ones not yet forgotten included).
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, Rate};
    ///
    /// let per_key = KeyedMultiLimiter::new([("calls", Rate::per_hour(1))])?;
    /// per_key.try_acquire(&'a', &[("calls", 1)])?;
    /// assert_eq!(per_key.len(), 1);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no key is stored.
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, Rate};
    ///
    /// let per_key = KeyedMultiLimiter::<char, 1>::new([("calls", Rate::per_hour(1))])?;
    /// assert!(per_key.is_empty());
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys stored, acquires admitted and refused (a refusal once its costs were resolved: an
    /// unknown resource is not counted).
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, Rate, REQUESTS};
    ///
    /// let per_key = KeyedMultiLimiter::new([(REQUESTS, Rate::per_hour(1))])?;
    /// per_key.try_acquire(&'a', &[])?;
    /// assert!(per_key.try_acquire(&'a', &[]).is_err());
    /// let stats = per_key.stats();
    /// assert_eq!((stats.keys, stats.admitted, stats.rejected), (1, 1, 1));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn stats(&self) -> KeyedStats {
        self.words.stats()
    }

    /// Calls `visit` with every stored key and what it uses of each resource (in the resources'
    /// order), one shard at a time (under that shard's read lock: do not acquire from `visit`).
    ///
    /// ```
    /// use tollgate::{KeyedMultiLimiter, Rate, REQUESTS, TOKENS};
    ///
    /// let per_key = KeyedMultiLimiter::new([
    ///     (REQUESTS, Rate::per_minute(10)),
    ///     (TOKENS, Rate::per_minute(1_000)),
    /// ])?;
    /// per_key.try_acquire(&"a", &[(TOKENS, 400)])?;
    /// let mut seen = Vec::new();
    /// per_key.for_each(|key, [(_, requests), (_, tokens)]| seen.push((*key, requests.in_use, tokens.in_use)));
    /// assert_eq!(seen, [("a", 1, 400)]);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn for_each(&self, mut visit: impl FnMut(&K, [(&str, KeyUsage); N])) {
        self.words
            .for_each(|key, usage| visit(key, self.named(usage)));
    }

    /// Each resource's usage beside its name.
    fn named(&self, usage: [KeyUsage; N]) -> [(&str, KeyUsage); N] {
        std::array::from_fn(|i| (self.names[i].as_str(), usage[i]))
    }

    fn index_of(&self, name: &str) -> Result<usize, LimitError> {
        self.names
            .iter()
            .position(|known| known == name)
            .ok_or_else(|| LimitError::UnknownResource {
                name: name.to_owned(),
                known: self.names.to_vec(),
            })
    }

    /// Each resource's cost in `costs` (summed when named twice, saturating), one request when
    /// the costs do not name [`REQUESTS`] and the limiter has it.
    #[inline]
    fn resolve(&self, costs: &[(&str, u64)]) -> Result<[u64; N], LimitError> {
        let mut resolved = [0_u64; N];
        let mut requests_named = false;
        for (position, &(name, cost)) in costs.iter().enumerate() {
            // Costs are mostly named in the resources' order: that one is tried first.
            let index = match self.names.get(position) {
                Some(known) if known == name => position,
                _ => self.index_of(name)?,
            };
            requests_named |= Some(index) == self.requests;
            resolved[index] = resolved[index].saturating_add(cost);
        }
        if let (Some(requests), false) = (self.requests, requests_named) {
            resolved[requests] = 1;
        }
        Ok(resolved)
    }

    /// The one path of every acquire: the costs resolved, then the generic piece's decision,
    /// its refusal named as a [`LimitError`].
    #[inline]
    fn acquire_within(
        &self,
        key: &K,
        costs: &[(&str, u64)],
        patience: Patience,
    ) -> Result<(), LimitError> {
        let costs = self.resolve(costs)?;
        self.words
            .acquire_within(key, costs, patience, |refusal| match refusal {
                Refusal::InvalidRate { resource, error } => LimitError::InvalidRate {
                    resource: self.names[resource].clone(),
                    error,
                },
                Refusal::ExceedsCapacity {
                    resource,
                    cost,
                    capacity,
                } => LimitError::ExceedsCapacity {
                    resource: self.names[resource].clone(),
                    cost,
                    capacity,
                },
                Refusal::NotInTime { wait } => LimitError::NotInTime { wait: Some(wait) },
            })
    }
}

impl<K, const N: usize, A: OneWord> fmt::Debug for KeyedMultiLimiter<K, N, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedMultiLimiter")
            .field("algorithm", &std::any::type_name::<A>())
            .field("resources", &self.names)
            .field("rates", &self.rates)
            .finish_non_exhaustive()
    }
}
