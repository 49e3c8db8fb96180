//! `RateLimiter` as a caller meets it: exact accounting of reservations, fail-fast bounded
//! waits, arrival-order fairness, `set_rate` on waiters, deadlines, the closure wrappers, and the
//! few real-time checks (pacing, long-run accuracy).
//!
//! A test of the single-resource limiter's behaviour (its waiting, its errors, its statistics)
//! goes here.

#[path = "../support/mod.rs"]
mod support;

mod deadlines;
mod deadlines_one_rule;
mod deadlines_past_on_every_path;
mod exact_accounting;
mod fail_fast;
mod fifo_fairness;
mod long_run_accuracy;
mod real_time_pacing;
mod set_rate;
mod wrappers;
