//! The store of per-key state: a map split into shards by the key's hash, each behind its own
//! reader-writer lock, so that decisions on different keys rarely meet and decisions on an
//! existing key take only a shared (read) lock.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use parking_lot::RwLock;

use super::shard_hasher::ShardHasher;

/// A shard's map is swept (its forgettable entries dropped) when it reaches this size at the
/// least, and then at twice what it kept: amortised O(1) per new key, memory bounded by twice
/// the keys that are not forgettable.
const MIN_SWEEP: usize = 64;

/// Per-key values `V` in shards: `shards.len()` a power of two (four per available thread, as
/// `dashmap` chooses), each a `HashMap` behind a `parking_lot::RwLock` (which does not poison:
/// a panic under a lock leaves the map as the standard library's `HashMap` leaves it, whole).
///
/// A key's shard is picked by a cheap hash of its own ([`ShardHasher`], outside every lock);
/// inside the shard the key is found as in any `HashMap` (SipHash, keyed at random: keys chosen
/// by clients cannot aim at one bucket). An entry is the key and its value, nothing else.
pub(crate) struct ShardedMap<K, V> {
    hasher: ShardHasher,
    shards: Box<[LockedShard<K, V>]>,
    /// `64 − log2(shards)`: the shard is the hash's top bits.
    shift: u32,
}

/// A value on cache lines of its own (a shard, a key lock): a lock taken on one does not slow
/// the next.
#[repr(align(128))]
pub(super) struct Padded<T>(pub(super) T);

/// A shard behind its lock, padded.
type LockedShard<K, V> = Padded<RwLock<Shard<K, V>>>;

struct Shard<K, V> {
    map: HashMap<K, V>,
    /// Sweep when the map reaches this size (see [`MIN_SWEEP`]).
    sweep_at: usize,
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    /// An empty map with `shards` shards (rounded up to a power of two).
    pub(crate) fn with_shards(shards: usize) -> ShardedMap<K, V> {
        let shards = shards.max(1).next_power_of_two();
        ShardedMap {
            hasher: ShardHasher::new(),
            shards: (0..shards)
                .map(|_| {
                    Padded(RwLock::new(Shard {
                        map: HashMap::new(),
                        sweep_at: MIN_SWEEP,
                    }))
                })
                .collect(),
            shift: 64 - shards.trailing_zeros(),
        }
    }

    /// An empty map with four shards per thread the machine runs at once.
    pub(crate) fn new() -> ShardedMap<K, V> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        ShardedMap::with_shards(threads * 4)
    }

    /// The hash that picks `key`'s shard (equal for a borrowed form of it).
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        let index = if self.shift == 64 {
            0
        } else {
            (hash >> self.shift) as usize
        };
        &self.shards[index].0
    }

    /// `read` on the value of `key` (hashed `hash`) under the shard's read lock, if present.
    #[inline]
    pub(crate) fn with_existing<Q, R>(
        &self,
        hash: u64,
        key: &Q,
        read: impl FnOnce(&V) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(hash).read().map.get(key).map(read)
    }

    /// `change` on the value of `key` (hashed `hash`) under the shard's write lock, inserting
    /// `fresh()` first (under an owned copy of `key`) if it is absent; a shard that reached its
    /// sweep size first drops every value `forgettable` says may go.
    pub(crate) fn with_inserted<Q, R>(
        &self,
        hash: u64,
        key: &Q,
        fresh: impl FnOnce() -> V,
        forgettable: impl Fn(&V) -> bool,
        change: impl FnOnce(&V) -> R,
    ) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut shard = self.shard(hash).write();
        if let Some(value) = shard.map.get(key) {
            return change(value);
        }
        if shard.map.len() >= shard.sweep_at {
            shard.map.retain(|_, value| !forgettable(value));
            shard.sweep_at = (shard.map.len() * 2).max(MIN_SWEEP);
        }
        change(shard.map.entry(key.to_owned()).or_insert_with(fresh))
    }

    /// Removes the value of `key`, hashed `hash`, and returns it.
    pub(crate) fn remove<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(hash).write().map.remove(key)
    }

    /// Keeps only the values `keep` says to keep, one shard at a time (each under its write
    /// lock for its own sweep only). Returns how many were dropped.
    pub(crate) fn retain(&self, keep: impl Fn(&V) -> bool) -> usize {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.0.write();
            let before = shard.map.len();
            shard.map.retain(|_, value| keep(value));
            dropped += before - shard.map.len();
            shard.sweep_at = (shard.map.len() * 2).max(MIN_SWEEP);
        }
        dropped
    }

    /// Keys stored, summed over the shards (each read under its read lock: a sum of moments,
    /// exact when nothing is inserted meanwhile).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.0.read().map.len())
            .sum()
    }

    /// `visit` on every key and value, one shard at a time under its read lock (decisions on
    /// existing keys of that shard go on meanwhile; new keys of that shard wait for it).
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&K, &V)) {
        for shard in self.shards.iter() {
            for (key, value) in shard.0.read().map.iter() {
                visit(key, value);
            }
        }
    }
}
