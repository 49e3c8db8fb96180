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
//! - A new **algorithm**: one file implementing [`Algorithm`](crate::algorithm::Algorithm)'s
//!   eight methods (`charge_at` returns a mark, `refund_charge` gives back what a mark still
//!   holds); the core serves it unchanged in every limiter (`RateLimiter::<A>`,
//!   `Limits::rate_with::<A>`, `Resource::counted_with::<A>`) through [`Accounts`] (`Meter`, in
//!   `accounts.rs`: the built-in ones in arms of their own, any other boxed).
//! - A new **backend for the state** in this process: implement [`Accounts`] with the same
//!   meaning; the queue, waiting and re-planning stay here.
//! - A **store shared by processes** (Redis, `redis/`) plugs in one level up, at [`Book`]
//!   (what a permit asks of its reservation: plan, wait, cancel, settle): `Accounts` is called
//!   per resource under this core's lock, while a shared decision takes every resource in one
//!   round trip and its FIFO order is the store's commit order, not this queue.
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
pub(crate) use handle::{Book, Held, Keeper};
pub(crate) use per_resource::PerResource;
