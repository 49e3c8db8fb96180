//! Per-key limits: [`KeyedLimiter`], one rate per key (per user, per IP address, per API key)
//! with one word of state per key; [`KeyedMultiLimiter`], several resources per key (requests
//! and tokens per user) with one word per resource, decided together; and the compact
//! per-model state of [`ModelLimiter`](crate::ModelLimiter).
//!
//! A key's whole state is the one word of a [`OneWord`](crate::algorithm::OneWord) algorithm
//! per resource (for the buckets, the instant the key's backlog has drained), so a million keys
//! cost a few tens of megabytes, and a key whose words have all passed decides exactly as a
//! new key: it can be forgotten ([`KeyedLimiter::retain_recent`]).
//!
//! The files: `words_per_key.rs` (the one generic piece under both limiters and the models at
//! rest: `N` words per key, decided on by compare-and-swap for one word, under the key's lock
//! for several, all or none), `keyed_limiter.rs` and `keyed_multi_limiter.rs` (the two fronts:
//! their costs and errors), `sharded_map.rs` (the store: shards behind reader-writer locks,
//! swept of forgettable keys as they grow), `key_locks.rs` (the striped locks a key of several
//! words changes under), `shard_hasher.rs` (the cheap hash that picks a key's shard),
//! `stats.rs` (what they report), `models_at_rest.rs` (a per-model limiter at rest as one word
//! per resource, kept in a `words_per_key.rs` store: what
//! [`ModelLimiter`](crate::ModelLimiter) keeps of a model no call is using).
//!
//! ```
//! use std::time::Duration;
//! use tollgate::{Clock, KeyedLimiter, Nanos, Rate};
//!
//! let (clock, time) = Clock::mock();
//! let per_user = KeyedLimiter::new(Rate::per_second(5)).with_clock(clock);
//! for user in ["ann", "bo", "cy"] {
//!     per_user.try_acquire_n(&user, 5)?;                      // each user's whole burst
//! }
//! assert!(per_user.try_acquire(&"ann").is_err());
//! per_user.acquire(&"ann")?;                                  // sleeps 200 ms (mock time)
//! assert_eq!(time.now(), Nanos::from_millis(200));
//! time.advance(Duration::from_secs(1));
//! assert_eq!(per_user.retain_recent(), 3);                    // all regenerated: forgotten
//! # Ok::<(), tollgate::AcquireError>(())
//! ```

mod key_locks;
mod keyed_limiter;
mod keyed_multi_limiter;
mod models_at_rest;
mod shard_hasher;
mod sharded_map;
mod stats;
mod words_per_key;

pub use keyed_limiter::KeyedLimiter;
pub use keyed_multi_limiter::KeyedMultiLimiter;
pub(crate) use models_at_rest::ModelsAtRest;
pub use stats::{KeyUsage, KeyedStats};
