use std::hash::{BuildHasherDefault, Hasher};

/// Hashes the core's reservation ids (sequential `u64`s the core hands out itself, so no
/// caller chooses a key): a multiplication by the odd 64-bit golden-ratio constant spreads
/// consecutive ids over the high bits the hash table indexes by. SipHash's resistance to chosen
/// keys buys nothing here and cost about 140 instructions per lookup.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct IdHasher(u64);

/// Fibonacci hashing's multiplier: 2^64 divided by the golden ratio, made odd.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `BuildHasher` of maps keyed by reservation id.
pub(super) type BuildIdHasher = BuildHasherDefault<IdHasher>;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Bytes other than a `u64` key (none in the core), folded in one at a time.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(GOLDEN);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(GOLDEN);
    }
}
