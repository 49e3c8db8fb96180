//! The reservation core: what every blocking type is built on.
//!
//! A **reservation** is a cost per resource, charged at the instant it may go, with a place
//! in one FIFO queue. Two ideas, two places:
//!
//! - **The ledger** (`ledger/`): the queue and its planning, at stated instants. `Ledger`
//!   holds the accounts ([`Accounts`]: where the resources' state lives), the holds, the
//!   concurrency slots, the waiting reservations and the receipts of those gone; every change
//!   of capacity goes through `Ledger::change`, which takes the waiters' charges out, applies
//!   the change and re-plans the queue in arrival order (`ledger/planning.rs`: the floor, the
//!   instant costs fit, charging, refunds, re-planning). It reads no clock and never blocks,
//!   so its unit tests (`ledger/tests.rs`) state instants. A reservation made **in flight**
//!   (the Runner's attempts, `ledger/in_flight.rs`) is not charged when it goes: its units are
//!   held, counted at every instant by every decision, until each resource is billed (a
//!   settle, charged at that instant), so a server stamping the call anywhere between its grant
//!   and its bill never sees more than the limits.
//! - **The core** (`core.rs`): [`Core`] puts a ledger behind a lock, reads its clock under
//!   that lock (or takes a reading its caller just made, `Core::reserve_read`: clamped there
//!   all the same, never going backwards), and waits in `Clock::block_on`, the one wait loop; its
//!   operations (`reserve`, `take_now`, `wait`, `cancel`, `withdraw`, `forget`, `settle`,
//!   `change`) are what the limiters, permits and semaphores call.
//!
//! **Deadlines**: a call's `Patience` gives its deadline at the instant it is decided
//! (`Patience::due`), and that deadline (`Due`, in `time/deadline.rs`) says whether an instant
//! is in time and which wait to report; the ledger, the rate limiter's lock-free path, the
//! Redis store and the semaphores all ask it. The receipts of reservations gone are kept in
//! `receipts.rs`, the figures of one reservation per resource in `per_resource.rs`.
//!
//! **Rejections without the lock** (multi-resource limiters in memory): after every change the
//! ledger publishes, through [`Accounts::publish`], what a newcomer would be decided on; the
//! [`Meters`] keep their one-word states there (`meter_words.rs`, a sequence lock), and a call
//! that cannot go in time while nobody is queued is refused from it, exactly as `reserve` would
//! refuse it, without the lock. A call it finds fitting now takes the lock only to be charged
//! (`Ledger::go_as_published`: not decided again while nothing was published since the view was
//! read; decided as any otherwise). Anything else (a queue, a hold, a slot to wait for, units
//! held in flight, a call that fits only later, a meter without a one-word form) takes the lock
//! and is decided there.
//!
//! The public types are thin rules over the core:
//!
//! - [`RateLimiter`](crate::RateLimiter): one resource, one algorithm (GCRA decisions that fit
//!   at once are taken lock-free, on the same state word).
//! - [`MultiLimiter`](crate::MultiLimiter) / [`ModelLimiter`](crate::ModelLimiter): several
//!   resources taken all or none, plus concurrency slots (a call that goes at once takes the
//!   ledger's short path, `go_at_once`, or `go_as_published` when the published view already
//!   found it fitting; one refused while nobody is queued takes no lock).
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
//! - [`Accounts`] is the core's view of the resources' state in this process (a
//!   `MultiLimiter`'s [`Meters`], a `RateLimiter`'s one algorithm): not where a store plugs in.
//! - A new **rule of the queue** (what a reservation waits for, how a change re-plans): the
//!   ledger, with a unit test at stated instants in `ledger/tests.rs`; a new **blocking
//!   operation**: the core, one lock round around one ledger operation.
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
mod ledger;
mod meter_words;
mod per_resource;
mod receipts;

pub(crate) use self::core::{Core, Refusal, SettleFrom};
pub(crate) use crate::time::Patience;
pub(crate) use accounts::{Accounts, Meter, Meters};
pub use handle::CancelHandle;
pub(crate) use handle::{Book, Cancel, Held, Keeper};
pub(crate) use meter_words::{MeterWords, Verdict};
pub(crate) use per_resource::PerResource;
pub(crate) use receipts::has_place;
