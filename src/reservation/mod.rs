//! The reservation core: what every blocking type is built on.
//!
//! A **reservation** is a cost per resource, charged at the instant it may go, with a place
//! in one FIFO queue. [`Core`] keeps the queue over some [`Accounts`] (where the resources'
//! state lives) and applies every change of capacity through one function that re-plans the
//! waiting reservations in arrival order; [`Clock::block_on`](crate::Clock) is the one wait
//! loop. The public types are thin rules over it:
//!
//! - [`RateLimiter`](crate::RateLimiter): one resource, one algorithm (GCRA decisions that fit
//!   at once are taken lock-free, on the same state word).
//! - [`MultiLimiter`](crate::MultiLimiter) / [`ModelLimiter`](crate::ModelLimiter): several
//!   resources taken all or none, plus concurrency slots.
//! - [`Reservation`](crate::Reservation), [`Permit`](crate::Permit), [`CancelHandle`]: a reservation held by a
//!   caller: wait, cancel, settle.
//! - The [`Runner`](crate::Runner) reserves through a `MultiLimiter` and pauses it with a hold.
//!
//! # Maintainer map
//! - A new **algorithm**: a pure state machine in `algorithm/` implementing
//!   [`Algorithm`](crate::algorithm::Algorithm) (`charge_at` returns a mark, `refund_charge`
//!   gives back what a mark still holds); the core and every limiter then serve it unchanged.
//! - A new **state store** for the multi-resource limiters (shared by processes, as Redis in
//!   `redis/`): implement [`StateStore`](crate::state::StateStore) in a module of its own
//!   (`state/mod.rs` says how); the in-memory store is this core over [`Meters`]. Stores plug
//!   in there, not here: [`Accounts`] is called per resource under this core's lock, while a
//!   shared decision takes every resource in one round trip and its FIFO order is the store's
//!   commit order, not this queue.
//! - A new **provider**: `presets/` (headers, error classification, profiles), which feed the
//!   limiters through `observe`.

mod accounts;
mod core;
mod handle;
mod id_hasher;
mod per_resource;
mod receipts;

pub(crate) use self::core::{Core, Patience, Refusal};
pub(crate) use accounts::{Accounts, Meter, Meters};
pub use handle::CancelHandle;
pub(crate) use handle::{Book, Cancel, Held, Keeper};
pub(crate) use per_resource::PerResource;
