//! Where a multi-resource limiter's state lives: the one seam between
//! [`MultiLimiter`](crate::MultiLimiter) and its stores.
//!
//! A `MultiLimiter` holds one [`StateStore`] and asks it everything that depends on where the
//! state is kept: reserve (costs and patience in, a small [`Reserved`] out, which the limiter
//! wraps in its [`Permit`](crate::Permit)), the permit's
//! operations (plan, wait, cancel, withdraw, forget, settle), usage, server feedback
//! (`observe`, a pause), rate changes, idleness, and the same store on another clock. Everything
//! else (resolving resource names, the rule for requests, counting permits held, naming
//! resources in errors) stays in the limiter, the same for every store, except the permits a
//! store counts itself: the in-memory store counts those that went at once into a receipt's
//! place (`reservation/receipts.rs`) by the places taken, read under its lock, so that such a
//! permit costs no counter of its own when it is made and dropped
//! ([`StateStore::permits_held`]).
//!
//! The stores:
//! - **In memory** (`memory.rs`, the default): the reservation core over the limiter's
//!   [`Meters`](crate::reservation): one FIFO queue, re-planned at every change of capacity; a
//!   call that cannot go in time while nobody is queued is refused without the core's lock,
//!   from the meters' published words (`reservation/meter_words.rs`), and one they show fitting
//!   now is only charged under the lock while nothing was published since.
//! - **Redis** (`redis/remote.rs` and `redis/remote/store.rs`, feature `redis`): one Lua
//!   script decides each reservation on the server's clock, for every process sharing the
//!   limiter's name.
//!
//! # Adding a store
//! One new module: a type implementing [`StateStore`] (its errors are [`LimitError`]s: the
//! core's refusals through [`MultiLimiter::error`](crate::MultiLimiter), a store's own failure
//! as a variant of its own, as [`LimitError::Redis`]), and a public constructor in that module
//! placing a limiter on it (an inherent `impl MultiLimiter` block there, as
//! `redis/shared_on.rs` does, through `MultiLimiter::with_store`). Nothing in `multi/` changes.
//! A store may keep fewer slots than the in-memory core (Redis has no pacing slots: it refuses
//! an exact window with a burst at construction); slots are the limiter's resources in its
//! limits' order, then the pacing slots of exact windows ([`MultiLimiter::pacer_of`]).
//!
//! What stays per store, not per limiter: the FIFO order (the core's queue, Redis's commit
//! order), the clock that decides (local, or the server's), and what `usage` can tell apart
//! (Redis does not tell waiters' reservations from use).

#[cfg(test)]
mod granted_as_published;
mod memory;
#[cfg(test)]
mod refused_without_the_lock;
#[cfg(test)]
mod tests;

pub(crate) use memory::InMemory;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::multi::{LimitError, Permit, Then};
use crate::reservation::{Cancel, Patience, SettleFrom};
use crate::{Clock, MultiLimiter, Nanos, Rate};

/// The state of one [`MultiLimiter`]: every decision and every reservation it holds. The
/// limiter calls it with `limiter` (itself) where a store needs the limiter's names (for its
/// errors) or its layout (a window's pacing slot).
///
/// Slots are numbered as the limiter's resolved costs are: the resources in the limits' order,
/// then the pacing slots. Object-safe: the limiter holds an `Arc<dyn StateStore>`.
pub(crate) trait StateStore: Cancel + Send + Sync + 'static {
    /// The clock deadlines and waits are read on.
    fn clock(&self) -> &Clock;

    /// Reserves `slots` (one cost per slot) for `limiter` within `patience`: a reservation to
    /// wait for, or a refusal having taken nothing.
    fn reserve(
        &self,
        limiter: &MultiLimiter,
        slots: &[u64],
        patience: Patience,
    ) -> Result<Reserved, LimitError>;

    /// Charges `slots` for `limiter` if every one fits now, keeping nothing: no reservation, no
    /// concurrency slot held ([`MultiLimiter::try_charge`]). By default a reservation made and
    /// dropped at once, which is the same.
    fn try_charge(&self, limiter: &MultiLimiter, slots: &[u64]) -> Result<(), LimitError> {
        charge_through_a_permit(limiter, slots)
    }

    /// [`reserve`](Self::reserve)s `slots` **in flight** (the Runner's attempts): once it goes,
    /// its units are held as if charged at every instant, never coming back, until each
    /// resource is [settled](Self::settle) (billed: charged at that instant and counted from
    /// there); a cancel gives them back, a forget bills what is left at its instant. So a
    /// server counting the call at any instant between its grant and its bill never sees more
    /// than the limits, whatever the call's duration.
    ///
    /// The default reserves as [`reserve`](Self::reserve) does, charged at its grant: for a
    /// store that cannot hold units apart (Redis: a call in flight longer than a window is then
    /// counted from its grant until its settle, as before). The in-memory store is exact.
    fn reserve_in_flight(
        &self,
        limiter: &MultiLimiter,
        slots: &[u64],
        patience: Patience,
    ) -> Result<Reserved, LimitError> {
        self.reserve(limiter, slots, patience)
    }

    /// When reservation `id` may go and the slot that set that instant; `None` while it waits
    /// for a concurrency slot, or once it is unknown.
    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)>;

    /// Blocks until reservation `id` may go, or it is refused (cancelled, its deadline failed).
    fn wait(&self, limiter: &MultiLimiter, id: u64) -> Result<(), LimitError>;

    /// Forgets reservation `id` (its permit was dropped): it keeps its charges, frees its slot.
    fn forget(&self, id: u64);

    /// Replaces what reservation `id` was charged of resource `resource` by `actual` (a
    /// window's pacing slot with it), counted `from` now, or from the charge's instant: the
    /// charge lowered where it stands, an `actual` above it counted from now. A store that
    /// cannot keep a charge's instant settles from now: later, so never less safe.
    fn settle(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
        from: SettleFrom,
    ) -> Result<(), LimitError>;

    /// The store, as what a [`CancelHandle`](crate::CancelHandle) reaches.
    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel>;

    /// Per resource (the first `resources` slots): units used by calls that went (debt
    /// included), and units reserved by calls still waiting.
    fn usage(&self, resources: usize) -> Vec<(u64, u64)>;

    /// Reservations waiting for their instant (or a concurrency slot).
    fn waiting(&self) -> u64;

    /// Permits held ([`MultiLimiter::active`]), given `counted`: those the limiter counted
    /// itself. The in-memory store adds the permits it counts (those kept in a receipt's place,
    /// [`Reserved::Kept`]'s `counted`); a store that counts concurrency slots in every process
    /// sharing the state answers those instead.
    fn permits_held(&self, counted: u64) -> u64;

    /// Switches resource `resource` from `before` to `rate`, re-planning the waiters.
    fn set_rate(
        &self,
        limiter: &MultiLimiter,
        resource: usize,
        before: &Rate,
        rate: &Rate,
    ) -> Result<(), LimitError>;

    /// Takes in what a server said is left of resource `resource` (see
    /// [`MultiLimiter::observe`]).
    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError>;

    /// No call goes before `until` (an instant of [`clock`](Self::clock)).
    fn pause_until(&self, until: Nanos);

    /// Whether nothing distinguishes this state from a new one here.
    fn is_idle(&self) -> bool;

    /// The same store for `fresh`: the same limits built anew in memory on another clock.
    fn on_clock(&self, fresh: &MultiLimiter) -> Result<Arc<dyn StateStore>, LimitError>;

    /// The store itself, for the inherent methods a store's module adds to the public types
    /// (such as `Permit::server_ready_at`); unused when no store behind a feature is compiled.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn as_any(&self) -> &dyn Any;
}

/// [`StateStore::try_charge`] the permit's way: a reservation made now or refused, its permit
/// dropped at once (which keeps its charges and frees its slot).
pub(crate) fn charge_through_a_permit(
    limiter: &MultiLimiter,
    slots: &[u64],
) -> Result<(), LimitError> {
    limiter
        .reserve_slots(slots, Patience::For(Nanos::ZERO), Then::Wait)
        .map(drop)
}

/// What a store's [`reserve`](StateStore::reserve) hands back: small, so that the common answer
/// comes back through the call in registers and the limiter builds the permit inline.
pub(crate) enum Reserved {
    /// Reservation `id`, kept by the store; `went`: granted at once, nothing to wait for
    /// (`false` whenever unsure: the permit then waits); `counted`: the store counts it among
    /// the permits held until it is dropped ([`StateStore::permits_held`]), the limiter need not.
    Kept { id: u64, went: bool, counted: bool },
    /// A permit the store made itself (the Redis store's: on its local fallback's limiter while
    /// Redis is unreachable).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Made(Box<Permit>),
}
