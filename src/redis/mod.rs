//! One quota shared by many processes (and machines), on Redis (feature `redis`).
//!
//! Without the feature this module holds only [`RedisError`], the payload of
//! [`LimitError::Redis`](crate::LimitError::Redis), so that a `match` on a `LimitError`
//! compiles under both; only the feature produces it.
//!
//! A [`MultiLimiter`](crate::MultiLimiter) made with
//! [`shared_on`](crate::MultiLimiter::shared_on) keeps its state in Redis instead of in memory:
//! every process that names the same limiter on the same server takes from one quota. The
//! public types do not change: `acquire`, `try_acquire_for`, `reserve`, [`Permit`](crate::Permit)'s
//! `settle` and `cancel`, [`ModelLimiter`](crate::ModelLimiter) and the [`Runner`](crate::Runner)
//! work as in memory.
//!
//! ```no_run
//! use tollgate::redis::{Fallback, RedisState};
//! use tollgate::{Limits, MultiLimiter, REQUESTS, TOKENS};
//!
//! let shared = RedisState::open("redis://127.0.0.1:6379/", "openai-key-1")?
//!     .on_unreachable(Fallback::Local { share: 0.25 });
//! let api = MultiLimiter::new(Limits::new().rpm(500).tpm(40_000))?.shared_on(shared)?;
//! let permit = api.acquire(&[(REQUESTS, 1), (TOKENS, 2_000)])?;  // one round trip, then a local sleep
//! permit.settle(TOKENS, 1_200)?;                                 // exact refund, one round trip
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where the code is
//! Redis is one of the limiters' state stores (`state/mod.rs`): `remote.rs` holds the script's
//! decisions and each permit's receipt, `remote/store.rs` maps the store's operations onto
//! them, `fallback.rs` is [`Fallback::Local`], `redis_state.rs` where the state lives
//! ([`RedisState`]: one server or a cluster, the limiter's name), `connection.rs` the
//! connections to it (the `redis` crate's client or cluster client, and the one call that runs
//! the script), and `shared_on.rs` the public ways onto it (`MultiLimiter::shared_on`,
//! `ModelLimiterBuilder::shared_on`, `Permit::server_ready_at`).
//!
//! # How it decides
//! - **One Lua script, one round trip per decision.** The script reads the server's clock
//!   (`TIME`), takes every resource all or none, and replies with the instant the call may go
//!   (server time) and each charge's mark. No read-modify-write from the client, no retry loop:
//!   the server runs scripts one at a time, so reservations are ordered by commit (FIFO: a call
//!   is never granted before one committed earlier). The script is sent once per connection
//!   (`EVALSHA`, loaded on a `NOSCRIPT` reply).
//! - **Only the server's clock decides.** Each reply carries the server's `TIME`; the caller
//!   sleeps on its own clock until `(local time when the reply arrived) + (granted − server
//!   time)`. The offset is measured at every call, so the local clock's offset and drift do not
//!   matter, and the reply's transit makes a caller go late, never early.
//! - **GCRA** resources keep one theoretical arrival time (TAT) each, in microseconds (Redis
//!   `TIME`'s resolution; a charge's span is rounded up to a whole microsecond, so the shared
//!   limiter is never looser than the local one).
//! - **Exact sliding windows** ([`Counting::SlidingWindow`](crate::Counting), the Runner's
//!   default) keep a sorted set of entries (`"n:cost"` scored by the instant the call goes)
//!   and their sum: never more than the limit in any window of one period. Because calls are
//!   granted in commit order, every entry counts from an instant no later than the next
//!   grant, so only the window ending at that grant needs checking: the oldest entries are
//!   dropped until the cost fits. Memory is one entry per call in the last period (not per
//!   unit); a refund takes from the call's own entry while it is in the window.
//! - **Refunds** (`cancel`, `settle`) give back only what the charge still holds — its part of
//!   the backlog not yet drained — as in memory. One rule is added because other processes
//!   sleep until instants fixed on the TAT: the TAT moves back only when the refunded charge is
//!   the newest on that resource, or when every charge committed so far has started. Otherwise
//!   the units stay taken (never looser; a later charge would not have moved anyway).
//!   Reservations granted in other processes keep their instants (they cannot be re-planned
//!   earlier), and a cancelled reservation keeps its place in the FIFO order.
//! - **Concurrency slots** (`max_parallel`) are leases in a sorted set scored by their expiry
//!   (server time). A background thread renews the leases this process holds every third of the
//!   lease ([`RedisState::lease`], default 30 s); a process that dies frees its slots when its
//!   leases run out. A call waiting for a slot held elsewhere polls Redis (every 10 ms or at the
//!   first lease's expiry) within its patience.
//! - **Parameters are checked**: the first process stores its limits (resources, rates,
//!   bursts, concurrency) under the limiter's name; a process with other limits gets
//!   [`RedisError::ParametersDiffer`] at `shared_on` and at any later call.
//! - **Keys**: `{name}:state` (a string: the parameters, one TAT per resource, holds),
//!   `{name}:slots` (a sorted set) and `{name}:window:i` (a window's entries); the braces make
//!   one hash tag, so all live on one Redis Cluster slot. They expire a minute after the state
//!   is full again.
//! - **Unreachable**: [`Fallback::Fail`] (the default) returns [`RedisError::Unreachable`];
//!   [`Fallback::Local`] decides on an in-memory limiter with a share of every limit for a
//!   second, then tries Redis again. The local limiter starts from what Redis last said was
//!   left (not full), and Redis is charged with what was used locally when it answers again
//!   (a grant's reply carries each resource's state for this; the refund operation records
//!   the local use): no switch adds a burst.
//! - **Redis Cluster** ([`RedisState::open_cluster`], the `redis` crate's cluster client): a
//!   limiter's keys are on one slot, so its script runs on that slot's primary, atomically, as
//!   on one server; limiters of other names (each model of a `ModelLimiter`, named
//!   `{name:model}`) spread over the primaries. When a primary fails, the calls on its slots
//!   are [`RedisError::Unreachable`] (the [`Fallback`] applies) — with the default
//!   `cluster-require-full-coverage yes`, every slot's are, from the moment the cluster agrees
//!   the primary failed until a replica is promoted — then go to the promoted replica
//!   (`cluster-node-timeout` plus an election: 2–4.5 s with a 1 s node timeout, measured).
//! - **What a failover loses**: replication is asynchronous. The writes of the last instants
//!   before a primary fails may not have reached the replica that takes over; the calls they
//!   granted are then granted again: at most what the primary granted within its replication
//!   lag (on a LAN well under a millisecond; unbounded if the replica had fallen behind), once
//!   per failover. Concurrency leases taken in that lag are lost (their slots free early). The
//!   new primary's clock replaces the old one's: a skew between them moves the stored instants
//!   by as much (a new primary ahead by `d` admits up to `d` of each rate early; behind, later).
//!   Nothing waits for the replica (`WAIT` would cost a round trip per decision).
//! - **Server feedback**: `observe` and the Runner's pauses are written to Redis, so a 429 seen
//!   by one process holds them all; `set_rate` is refused (the parameters are shared).
//! - **Calls in flight are charged at their grant**: in memory, a Runner's attempt holds its
//!   units from its grant until it is billed, whatever the call's duration; shared on Redis, the
//!   charge counts from the grant until the bill re-stamps it (the script keeps no units apart
//!   from its meters). A call whose request reaches the server more than a window after its
//!   grant (a stalled send, a non-streamed call longer than the window) can then let another
//!   process's call in that the server refuses.

// Without the feature this module is hidden and holds only `RedisError`: the links above to what
// the feature brings cannot resolve, and are not shown.
#![cfg_attr(not(feature = "redis"), allow(rustdoc::broken_intra_doc_links))]

mod error;
pub use error::RedisError;

// The store (one of the [state stores](crate::state)) and the constructors placing limiters on
// it: `MultiLimiter::shared_on`, `ModelLimiterBuilder::shared_on`, `Permit::server_ready_at`.
#[cfg(feature = "redis")]
mod connection;
#[cfg(feature = "redis")]
mod fallback;
#[cfg(feature = "redis")]
mod redis_state;
#[cfg(feature = "redis")]
mod remote;
#[cfg(feature = "redis")]
mod shared_on;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use connection::DEFAULT_TIMEOUT;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_state::{Fallback, RedisState, DEFAULT_LEASE};
