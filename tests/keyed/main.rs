//! `KeyedLimiter`: each key decides as a lone `RateLimiter` would, forgetting only keys that
//! decide as new ones, bounds that hold under threads, hostile costs, durations and keys;
//! `KeyedMultiLimiter`: the same for several resources per key, all or none.
//!
//! A test of the per-key limiter goes here (the per-model limiter's compact state is tested
//! through `ModelLimiter`, in `tests/multi/`).

#[path = "../support/mod.rs"]
mod support;

mod all_or_none;
mod concurrency;
mod forgetting;
mod hostile_input;
mod same_as_a_lone_limiter;
mod window_bounds;
