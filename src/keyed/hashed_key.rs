//! A key stored with its hash, so that a key is hashed once per decision (the same hash picks
//! its shard and finds it in the shard's map) and never under a lock.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash, Hasher};

/// A key as a shard's map stores it: the key and its hash (computed once, outside the lock, by
/// the limiter's `RandomState`). The map hashes it by that hash alone ([`StoredHash`]).
#[derive(Debug)]
pub(super) struct HashedKey<K> {
    pub(super) hash: u64,
    pub(super) key: K,
}

/// What a shard's map is looked up by: a stored key, or a borrowed form `Q` of one with its
/// hash ([`KeyProbe`]). The map's key type borrows as this trait object, so that a look-up
/// needs neither an owned key nor a second hashing.
pub(super) trait LookUp<Q: ?Sized> {
    fn hash(&self) -> u64;
    fn key(&self) -> &Q;
}

/// A borrowed key and its hash: a look-up that allocates nothing.
pub(super) struct KeyProbe<'a, Q: ?Sized> {
    pub(super) hash: u64,
    pub(super) key: &'a Q,
}

impl<K: Borrow<Q>, Q: ?Sized> LookUp<Q> for HashedKey<K> {
    fn hash(&self) -> u64 {
        self.hash
    }

    fn key(&self) -> &Q {
        self.key.borrow()
    }
}

impl<Q: ?Sized> LookUp<Q> for KeyProbe<'_, Q> {
    fn hash(&self) -> u64 {
        self.hash
    }

    fn key(&self) -> &Q {
        self.key
    }
}

impl<'a, K: Borrow<Q> + 'a, Q: ?Sized + 'a> Borrow<dyn LookUp<Q> + 'a> for HashedKey<K> {
    fn borrow(&self) -> &(dyn LookUp<Q> + 'a) {
        self
    }
}

impl<Q: Eq + ?Sized> PartialEq for dyn LookUp<Q> + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.hash() == other.hash() && self.key() == other.key()
    }
}

impl<Q: Eq + ?Sized> Eq for dyn LookUp<Q> + '_ {}

impl<Q: ?Sized> Hash for dyn LookUp<Q> + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(LookUp::hash(self));
    }
}

impl<K: Eq> PartialEq for HashedKey<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for HashedKey<K> {}

impl<K> Hash for HashedKey<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The `BuildHasher` of a shard's map: the hash is the one stored with the key.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StoredHash;

/// Passes the one `u64` written to it through.
#[derive(Default)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _bytes: &[u8]) {
        unreachable!("a stored key is hashed by its stored hash only");
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

impl BuildHasher for StoredHash {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough::default()
    }
}
