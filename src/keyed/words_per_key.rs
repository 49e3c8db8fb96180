//! The one generic piece under both per-key limiters: `N` words per key (one per resource, each
//! the word of a [`OneWord`] algorithm), in a sharded map, decided on together.
//!
//! [`KeyedLimiter`](super::KeyedLimiter) is `N = 1` (a word changed alone, by compare-and-swap)
//! and [`KeyedMultiLimiter`](super::KeyedMultiLimiter) any `N` (the words of a key changed under
//! the key's lock, all or none); each is a front that names its costs and errors.
//! [`ModelsAtRest`](super::ModelsAtRest) decides nothing here: it puts the words of a model's
//! limiter and takes them back, and reads them for its figures.

use std::borrow::Borrow;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::key_locks::KeyLocks;
use super::sharded_map::ShardedMap;
use super::stats::{KeyUsage, KeyedStats};
use crate::algorithm::{Decision, OneWord, Pace};
use crate::limiter::StripedCounters;
use crate::time::{Due, Patience};
use crate::{Clock, Nanos, Rate, RateError};

/// `N` words per key of algorithm `A`, one per resource (in the order of the rates given),
/// stored inline in the map's entry: a key costs its own size and `8 × N` bytes, nothing on the
/// heap of its own.
///
/// A decision takes every cost at once or none: each resource is decided at the same instant,
/// the call may go when the last of them allows it, and each is charged at that instant (so a
/// resource that was not binding does not regenerate while the caller sleeps). A key whose words
/// all decide as a new key's (nothing in use) is forgotten.
pub(crate) struct WordsPerKey<K, A: OneWord, const N: usize> {
    clock: Clock,
    /// Each resource's pace, or the first resource whose rate cannot be one.
    paces: Result<[Pace; N], (usize, RateError)>,
    /// A new key's words.
    fresh: [u64; N],
    keys: ShardedMap<K, [AtomicU64; N]>,
    /// The locks under which a key's several words change (none for one word).
    locks: KeyLocks,
    counters: StripedCounters,
    algorithm: PhantomData<fn() -> A>,
}

/// Why a decision took nothing, for the fronts to name in their own error type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Resource `resource`'s rate cannot be enforced.
    InvalidRate { resource: usize, error: RateError },
    /// `cost` is above resource `resource`'s burst (`capacity`).
    ExceedsCapacity {
        resource: usize,
        cost: u64,
        capacity: u64,
    },
    /// Not in time: the wait from the decision.
    NotInTime { wait: Duration },
}

impl<K, A: OneWord, const N: usize> WordsPerKey<K, A, N> {
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl<K: Hash + Eq + Clone, A: OneWord, const N: usize> WordsPerKey<K, A, N> {
    /// No key yet: each key limited by `rates` (in resource order), on `clock`.
    pub(crate) fn new(rates: [Rate; N], clock: Clock) -> Self {
        const {
            assert!(
                N > 0,
                "a key stores one word per resource: give at least one"
            )
        };
        let (paces, fresh) = match checked::<A, N>(&rates) {
            Ok((paces, fresh)) => (Ok(paces), fresh),
            Err(invalid) => (Err(invalid), [0; N]),
        };
        WordsPerKey {
            clock,
            paces,
            fresh,
            keys: ShardedMap::new(),
            locks: KeyLocks::for_words(N),
            counters: StripedCounters::new(),
            algorithm: PhantomData,
        }
    }

    /// The first resource whose rate cannot be enforced, and why.
    pub(crate) fn invalid_rate(&self) -> Option<(usize, &RateError)> {
        self.paces
            .as_ref()
            .err()
            .map(|(resource, error)| (*resource, error))
    }

    /// The one path of every acquire: check the costs, decide on the key's words (under the
    /// shard's read lock, or its write lock to insert a new key), then sleep, holding nothing,
    /// until the instant reserved. A refusal is the front's error, as `named` makes it (where
    /// it is decided: no other value on the way).
    #[inline]
    pub(crate) fn acquire_within<E>(
        &self,
        key: &K,
        costs: [u64; N],
        patience: Patience,
        named: impl FnOnce(Refusal) -> E,
    ) -> Result<(), E> {
        let paces = match &self.paces {
            Ok(paces) => paces,
            Err((resource, error)) => {
                let (resource, error) = (*resource, error.clone());
                return self
                    .counters
                    .reject(named(Refusal::InvalidRate { resource, error }));
            }
        };
        if costs.iter().all(|&cost| cost == 0) {
            return self.counters.admit();
        }
        for (resource, (pace, &cost)) in paces.iter().zip(&costs).enumerate() {
            if cost > pace.burst() {
                let capacity = pace.burst();
                return self.counters.reject(named(Refusal::ExceedsCapacity {
                    resource,
                    cost,
                    capacity,
                }));
            }
        }
        let hash = self.keys.hash(key);
        // Unclamped: an early reading only makes the decision stricter (see `RateLimiter`).
        let now = self.clock.now_unordered();
        let due = patience.due(now);
        let decided = self
            .keys
            .with_existing(hash, key, |words| {
                self.take(hash, paces, words, now, &costs, due)
            })
            .unwrap_or_else(|| self.take_new(hash, key, paces, now, &costs, due));
        match decided {
            Ok(at) => {
                if at > now {
                    self.clock.sleep_until(at);
                }
                self.counters.admit()
            }
            Err(at) => {
                let wait = at.saturating_sub(now).as_duration();
                self.counters.reject(named(Refusal::NotInTime { wait }))
            }
        }
    }

    /// [`take`](Self::take) on a key not found under the read lock: inserted under the write
    /// lock (a shard that has grown is swept of its forgettable keys first).
    #[inline(never)]
    fn take_new(
        &self,
        hash: u64,
        key: &K,
        paces: &[Pace; N],
        now: Nanos,
        costs: &[u64; N],
        due: Due,
    ) -> Result<Nanos, Nanos> {
        self.keys.with_inserted(
            hash,
            key,
            || self.fresh.map(AtomicU64::new),
            |words| self.is_fresh(&loaded(words), now),
            |words| self.take(hash, paces, words, now, costs, due),
        )
    }

    /// Takes `costs` (each within its burst, one at least above 0) from the key hashed `hash`
    /// whose words are `words`, at `now`, if they all fit by `due`: the instant the call may go
    /// (`now` when they fit now), or the instant it would (nothing taken).
    ///
    /// Several words are decided on first as read without the key's lock: a charge only ever
    /// moves a word later (nothing here gives capacity back, and a key is forgotten only under
    /// its shard's write lock, which no decision holds meanwhile), so a call one word refuses
    /// would be refused at any later moment too, and goes without taking the lock. A call they
    /// admit is decided again under the lock if a word has changed meanwhile.
    #[inline(always)]
    fn take(
        &self,
        hash: u64,
        paces: &[Pace; N],
        words: &[AtomicU64; N],
        now: Nanos,
        costs: &[u64; N],
        due: Due,
    ) -> Result<Nanos, Nanos> {
        if let ([pace], [word], [cost]) = (&paces[..], &words[..], &costs[..]) {
            return take_one::<A>(pace, word, now, *cost, due);
        }
        let seen = loaded(words);
        let at = decide_all::<A, N>(paces, &seen, now, costs, due)?;
        let _together = self.locks.lock(hash);
        let old = loaded(words);
        let at = if old == seen {
            at
        } else {
            decide_all::<A, N>(paces, &old, now, costs, due)?
        };
        // Each resource charged at the instant the call goes, which every one of them allows.
        for (((pace, word), &old), &cost) in paces.iter().zip(words).zip(&old).zip(costs) {
            if cost > 0 {
                word.store(A::charge_on_word(pace, old, at, cost), Ordering::Release);
            }
        }
        Ok(at)
    }

    /// What each resource of `key` uses at this instant (a key not stored: a new key's
    /// figures); `None` if a rate is invalid.
    pub(crate) fn usage(&self, key: &K) -> Option<[KeyUsage; N]> {
        let paces = self.paces.as_ref().ok()?;
        let now = self.clock.now();
        let hash = self.keys.hash(key);
        let words = self
            .keys
            .with_existing(hash, key, loaded)
            .unwrap_or(self.fresh);
        Some(usage_of::<A, N>(paces, &words, now))
    }

    /// Forgets every key whose words all decide as a new key's: how many were forgotten.
    pub(crate) fn retain_recent(&self) -> usize {
        let now = self.clock.now();
        self.keys
            .retain(|words| !self.is_fresh(&loaded(words), now))
    }

    /// Makes `words` (read at `now`) `key`'s words, in place of any it has: stored as a new key
    /// is (the shard swept first if it has grown), or not stored at all if they decide at `now`
    /// as a new key's. A state kept to be taken back later ([`remove`](Self::remove)), not a
    /// decision: the words may be earlier than those they replace. Under the shard's write
    /// lock, so no decision on the key runs meanwhile.
    pub(crate) fn put<Q>(&self, key: &Q, words: [u64; N], now: Nanos)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let hash = self.keys.hash(key);
        if self.is_fresh(&words, now) {
            self.keys.remove(hash, key);
            return;
        }
        self.keys.with_inserted(
            hash,
            key,
            || words.map(AtomicU64::new),
            |stored| self.is_fresh(&loaded(stored), now),
            |stored| {
                for (stored, word) in stored.iter().zip(words) {
                    stored.store(word, Ordering::Release);
                }
            },
        );
    }

    /// Forgets `key`: its words, if it was stored.
    pub(crate) fn remove<Q>(&self, key: &Q) -> Option<[u64; N]>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.keys.hash(key);
        self.keys
            .remove(hash, key)
            .map(|words| words.map(AtomicU64::into_inner))
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn stats(&self) -> KeyedStats {
        let (admitted, rejected) = self.counters.totals();
        KeyedStats {
            keys: self.len(),
            admitted,
            rejected,
        }
    }

    /// `visit` with every stored key and what each of its resources uses, one shard at a time
    /// (under its read lock).
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&K, [KeyUsage; N])) {
        let Ok(paces) = &self.paces else { return };
        let now = self.clock.now();
        self.keys.for_each(|key, words| {
            visit(key, usage_of::<A, N>(paces, &loaded(words), now));
        });
    }

    /// Whether `words` decide at `now` as a new key's would: nothing in use on any resource.
    fn is_fresh(&self, words: &[u64; N], now: Nanos) -> bool {
        let Ok(paces) = &self.paces else { return true };
        paces
            .iter()
            .zip(words)
            .all(|(pace, &word)| A::from_word(pace, word).in_use(now) == 0)
    }
}

/// Each rate's pace and a new key's word for it, or the first rate `A` cannot enforce.
fn checked<A: OneWord, const N: usize>(
    rates: &[Rate; N],
) -> Result<([Pace; N], [u64; N]), (usize, RateError)> {
    let checked = rates
        .iter()
        .enumerate()
        .map(|(resource, rate)| {
            let fresh = A::new(rate).map_err(|error| (resource, error))?.to_word();
            let pace = rate.pace().map_err(|error| (resource, error))?;
            Ok((pace, fresh))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        std::array::from_fn(|i| checked[i].0),
        std::array::from_fn(|i| checked[i].1),
    ))
}

/// The words as they are now (each read on its own).
fn loaded<const N: usize>(words: &[AtomicU64; N]) -> [u64; N] {
    std::array::from_fn(|i| words[i].load(Ordering::Acquire))
}

/// Each resource's usage at `now` of the key whose words are `words`.
fn usage_of<A: OneWord, const N: usize>(
    paces: &[Pace; N],
    words: &[u64; N],
    now: Nanos,
) -> [KeyUsage; N] {
    std::array::from_fn(|i| {
        let state = A::from_word(&paces[i], words[i]);
        KeyUsage {
            in_use: state.in_use(now),
            available: state.available(now),
        }
    })
}

/// The instant a call of `costs` (each within its burst) may go on the words `words` decided
/// at `now` (the latest instant any resource allows), if by `due`; else the instant it would.
#[inline(always)]
fn decide_all<A: OneWord, const N: usize>(
    paces: &[Pace; N],
    words: &[u64; N],
    now: Nanos,
    costs: &[u64; N],
    due: Due,
) -> Result<Nanos, Nanos> {
    let mut at = now;
    for ((pace, &word), &cost) in paces.iter().zip(words).zip(costs) {
        if cost == 0 {
            continue;
        }
        match A::decide_on_word(pace, word, now, cost) {
            Decision::Admitted => {}
            Decision::NotBefore(then) => at = at.max(then),
            // Each cost was checked against its burst: never above it.
            Decision::Never { .. } => return Err(Nanos::MAX),
        }
    }
    match due.in_time(at, now) {
        Ok(()) => Ok(at),
        Err(_) => Err(at),
    }
}

/// Takes `cost` (`1..=burst`) from the one word `word` at `now` if it fits by `due`, by
/// compare-and-swap: the instant it may go (`now` when it fits now), or the instant it would
/// (nothing taken).
#[inline(always)]
fn take_one<A: OneWord>(
    pace: &Pace,
    word: &AtomicU64,
    now: Nanos,
    cost: u64,
    due: Due,
) -> Result<Nanos, Nanos> {
    let mut old = word.load(Ordering::Acquire);
    loop {
        let at = match A::decide_on_word(pace, old, now, cost) {
            Decision::Admitted => now,
            Decision::NotBefore(at) if due.in_time(at, now).is_ok() => at,
            Decision::NotBefore(at) => return Err(at),
            // The cost was checked against the burst: never above it.
            Decision::Never { .. } => return Err(Nanos::MAX),
        };
        let new = A::charge_on_word(pace, old, now, cost);
        match word.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(at),
            Err(current) => old = current,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::algorithm::GcraVirtual;

    /// Words put are taken back as they were, even earlier than those they replace; words that
    /// decide as a new key's forget the key instead; a key taken back is gone.
    #[test]
    fn words_put_are_removed_as_they_were_and_fresh_ones_forget_the_key() {
        let (clock, time) = Clock::mock();
        let rates = [Rate::per_second(1), Rate::per_second(10)];
        let words = WordsPerKey::<String, GcraVirtual, 2>::new(rates, clock);
        time.advance(Duration::from_secs(1));
        let now = time.now();
        let later = |secs| now.saturating_add(Nanos::from_secs(secs)).as_u64();
        words.put("a", [later(5), 0], now);
        words.put("a", [later(1), later(1)], now);
        let usage = words.usage(&"a".to_owned()).unwrap();
        assert_eq!((usage[0].in_use, usage[1].in_use), (1, 10));
        words.put("a", [now.as_u64(), 0], now);
        assert_eq!(words.len(), 0, "passed words kept");
        words.put("b", [u64::MAX; 2], now);
        assert_eq!(words.remove("b"), Some([u64::MAX; 2]));
        assert_eq!(words.remove("b"), None);
        assert_eq!(words.len(), 0);
    }
}
