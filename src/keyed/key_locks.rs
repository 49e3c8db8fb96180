//! The locks that make the several words of one key change together: a fixed table of mutexes
//! that keys share by hash (lock striping), so that a key stores its words and nothing else.

use parking_lot::{Mutex, MutexGuard};

use super::sharded_map::Padded;

/// Locks per thread the machine runs at once: with this many, two threads deciding on two keys
/// rarely meet on one lock.
const LOCKS_PER_THREAD: usize = 16;

/// A table of mutexes, each on cache lines of its own; a key's lock is picked by its hash (the
/// bits under those that pick its shard). Empty when keys store one word: a compare-and-swap
/// changes a word alone.
///
/// A decision on a key of several words holds the key's lock (inside its shard's lock, never
/// the other way round) while it reads, decides and writes them, so that a decision is on all
/// of them or none; it never holds it while sleeping.
pub(crate) struct KeyLocks {
    locks: Box<[Padded<Mutex<()>>]>,
}

impl KeyLocks {
    /// The locks for keys of `words` words each: none for one word.
    pub(crate) fn for_words(words: usize) -> KeyLocks {
        let count = if words <= 1 {
            0
        } else {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            (threads * LOCKS_PER_THREAD).next_power_of_two()
        };
        KeyLocks {
            locks: (0..count).map(|_| Padded(Mutex::new(()))).collect(),
        }
    }

    /// Locks the key hashed `hash` until the guard is dropped.
    #[inline]
    pub(crate) fn lock(&self, hash: u64) -> MutexGuard<'_, ()> {
        // The shard is the hash's top bits; the lock its next ones (a power of two of them).
        let index = (hash >> 24) as usize & (self.locks.len() - 1);
        self.locks[index].0.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_word_needs_no_lock_and_several_share_a_power_of_two() {
        assert_eq!(KeyLocks::for_words(1).locks.len(), 0);
        let locks = KeyLocks::for_words(2).locks.len();
        assert!(
            locks.is_power_of_two() && locks >= LOCKS_PER_THREAD,
            "{locks}"
        );
        let table = KeyLocks::for_words(3);
        drop(table.lock(u64::MAX));
        drop(table.lock(0));
    }
}
