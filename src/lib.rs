//! # tollgate: rate limiting for blocking Rust code
//!
//! Scripts, command-line tools and worker threads that call slow, rate-limited APIs (LLM APIs
//! first of all: requests per minute, tokens per minute) want to go exactly as fast as the quota
//! allows and never faster. tollgate does that with plain threads: no async runtime, no macros.
//!
//! ```
//! use std::time::Duration;
//! use tollgate::{Rate, RateLimiter};
//!
//! let limiter = RateLimiter::new(Rate::per_minute(3_500));      // GCRA, burst 3500
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| limiter.acquire().unwrap());                // blocks until its turn, FIFO
//!     }
//! });
//! limiter.try_acquire()?;                                        // never blocks
//! limiter.try_acquire_for(10, Duration::from_millis(50))?;       // fails at once if too long
//! # Ok::<(), tollgate::AcquireError>(())
//! ```
//!
//! ## Building blocks
//!
//! **Time** ([`Clock`], [`Nanos`]). Every decision is made in integer nanoseconds on one clock's
//! timeline. The real clock is quanta's calibrated TSC read, shared by the process and never going
//! backwards; [`Clock::mock`] and [`Clock::mock_stepped`] let tests state instants instead of
//! sleeping.
//!
//! **Rates** ([`Rate`]). A quantity per period and a burst: `Rate::per_second(10)`,
//! `"3500/min".parse()`, `Rate::per_minute(600).burst(1)`. Impossible rates are a [`RateError`],
//! reported by [`Rate::validate`] and by every limiter given one.
//!
//! **Algorithms** ([`algorithm`]). Pure state machines of `(state, now, cost)`: GCRA in both
//! forms, token bucket and leaky bucket, which decide identically, and an exact sliding window
//! that counts the way providers do. Any type implementing [`Algorithm`](algorithm::Algorithm),
//! yours included, runs in every limiter: [`RateLimiter`]`::<A>`,
//! [`Limits::rate_with`]`::<A>` and [`Resource::counted_with`]`::<A>`.
//!
//! **The reservation core.** Every blocking type is a thin rule over one FIFO queue of
//! reservations, each remembering its costs and the instant it was charged at. Any change of
//! capacity (a settle, a cancel, a rate change, server feedback) re-plans the callers already
//! waiting, in arrival order; a refund gives back only what its own charge still holds.
//!
//! **Blocking limiters** ([`RateLimiter`], [`Reservation`]). One algorithm on the core: shaping
//! (`acquire`), policing (`try_acquire`), bounded waits that fail fast (`try_acquire_for`,
//! `try_acquire_until`), reservations to wait for, cancel ([`CancelHandle`]) or settle with the
//! actual cost, live rate changes (`set_rate`) and statistics.
//!
//! **Per-key limits** ([`KeyedLimiter`], [`KeyedMultiLimiter`]). One rate per key (per user,
//! per IP address, per API key) for any `Hash + Eq` key, storing one word per key in a sharded
//! map: a decision on a known key is a read lock and a compare-and-swap; keys whose state is
//! that of a new one are forgotten. Several resources per key (requests and tokens per user)
//! are one word each, decided together: all or none.
//!
//! **Semaphores** ([`CreditSemaphore`], [`AdaptiveSemaphore`]). Limits on what is in flight:
//! credits that come back a set time after each call ends (fair on entry, opportunistic on exit,
//! with a bound on overtaking), and a concurrency limit that grows with time and backs off on a
//! server's 429.
//!
//! **Multi-resource limits** ([`Limits`], [`MultiLimiter`], [`ModelLimiter`]). LLM APIs limit
//! requests, tokens and concurrent calls at once; a call takes all of them or none, charged at
//! the instant it may go, and its [`Permit`] settles each estimate with the actual usage.
//! The per-model limiter keeps one such limiter per model, with a default for unknown models and
//! live `"45/500"` statistics.
//!
//! **Many processes, one quota** (`tollgate::redis`, feature `redis`). The same multi-resource
//! limiters and Runner with their state in Redis: one Lua script per decision on the server's
//! clock, concurrency slots as leases, parameters checked, a typed choice when Redis is down.
//!
//! **The Runner** ([`Runner`], [`Resource`], [`Retry`]). Many calls of one function on a thread
//! pool: quotas as resources (per job, estimated then settled), retries with backoff and
//! server-requested pauses, validation, caught panics, interrupt and resume; `run()` returns
//! every result in schedule order.
//!
//! **Server feedback** ([`presets`]). Providers' rate-limit headers (OpenAI, Azure, Anthropic),
//! `retry-after` in every form, and error responses classified as rate limited, quota
//! exhausted, overloaded, transient or permanent.
//!
//! **Wrappers** ([`limit_rate`], [`limit_cost`]). A closure that takes its units before each call,
//! from a limiter of its own or a shared one; the cost-aware form settles an estimate with the
//! actual usage afterwards.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[macro_use]
mod event;

pub mod algorithm;
mod keyed;
mod limiter;
mod multi;
pub mod presets;
mod rate;
// Without the feature `redis`, the module holds only the error `LimitError::Redis` carries
// (never produced then): it is not shown.
#[cfg_attr(not(feature = "redis"), doc(hidden))]
pub mod redis;
mod reservation;
mod runner;
mod semaphore;
mod state;
mod time;
mod wrapper;

pub use keyed::{KeyUsage, KeyedLimiter, KeyedMultiLimiter, KeyedStats};
pub use limiter::{AcquireError, LimiterStats, RateLimiter, Reservation};
pub use multi::{
    Counting, LimitError, Limits, ModelLimiter, ModelLimiterBuilder, ModelStats, MultiLimiter,
    OtherAlgorithm, Permit, Usage, DEFAULT_MAX_HOLD, INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS,
};
pub use rate::{Rate, RateError};
pub use reservation::CancelHandle;
#[cfg(feature = "journal")]
#[cfg_attr(docsrs, doc(cfg(feature = "journal")))]
pub use runner::JournalError;
pub use runner::{
    Attempt, AttemptError, AttemptErrors, Finished, InterruptHandle, JobSender, Resource, Retry,
    RunReport, Runner, RunnerError, Verdict,
};
pub use semaphore::{
    AdaptiveBuilder, AdaptivePermit, AdaptiveSemaphore, AdaptiveStats, CreditEvent, CreditPermit,
    CreditSemaphore, CreditStats, SemaphoreError,
};
pub use time::{Clock, Deadline, MockTime, Nanos, WaitPrecision};
pub use wrapper::{limit_cost, limit_rate, IntoThrottle, Throttle, Wrappable};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
