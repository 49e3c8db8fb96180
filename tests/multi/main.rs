//! `MultiLimiter` and `ModelLimiter`: all-or-none calls over several resources, the per-model
//! limiter, statistics (used, reserved, debt), one rule for counting requests.
//!
//! A test of the multi-resource or per-model limiter in memory goes here (one that must also
//! hold on Redis goes to `tests/redis/both_states.rs`).

#[path = "../support/mod.rs"]
mod support;

mod all_or_none;
mod charged_without_permit;
mod model_limiter;
mod models_at_rest;
mod one_rule_for_requests;
mod stats;
mod waiters_woken;
