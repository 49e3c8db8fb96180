//! The hash that picks a key's shard: cheap, seeded per map, and apart from the hash the shard's
//! own map uses (the standard library's SipHash, keyed at random), so that a key is found in its
//! shard as in any `HashMap`, and the map stores nothing beside the key and its word.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};

/// FxHash's multiply-rotate (the Rust compiler's hash), seeded at random per map: a few cycles
/// per word of key. Keys chosen to land in one shard would only make that shard's lock busier:
/// the look-up inside the shard is SipHash, which keys cannot aim at.
#[derive(Clone, Copy, Debug)]
pub(super) struct ShardHasher {
    seed: u64,
}

impl ShardHasher {
    pub(super) fn new() -> ShardHasher {
        ShardHasher {
            seed: RandomState::new().hash_one(0_u64),
        }
    }

    /// The hash of `key` whose top bits pick its shard.
    #[inline]
    pub(super) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        let mut state = FxState(self.seed);
        key.hash(&mut state);
        state.finish()
    }
}

/// The running state of [`ShardHasher`].
struct FxState(u64);

/// FxHash's multiplier.
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxState {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxState {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ rest.len() as u64);
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(n.into());
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_alike_and_borrowed_forms_too() {
        let hasher = ShardHasher::new();
        assert_eq!(hasher.hash(&7_u64), hasher.hash(&7_u64));
        assert_eq!(hasher.hash("model-a"), hasher.hash(&"model-a".to_owned()));
        assert_ne!(hasher.hash("model-a"), hasher.hash("model-b"));
    }

    #[test]
    fn consecutive_keys_spread_over_eight_shards() {
        let hasher = ShardHasher::new();
        let mut shards = [0_u32; 8];
        for key in 0..8_000_u64 {
            shards[(hasher.hash(&key) >> 61) as usize] += 1;
        }
        assert!(
            shards.iter().all(|&n| (800..1_200).contains(&n)),
            "{shards:?}"
        );
    }
}
