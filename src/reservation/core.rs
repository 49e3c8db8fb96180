//! The reservation core: the lock around a [`Ledger`], the clock it decides by, the one wait
//! loop, and the operations every blocking type calls. What the operations decide is the
//! ledger's (`ledger/`); this file takes the lock, reads the clock, waits and wakes.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::accounts::Accounts;
use super::ledger::{Ledger, Standings, Ticket, Turn};
use super::receipts::Dropped;
use crate::time::{Patience, Wake};
use crate::{Clock, Nanos, RateError, WaitPrecision};

/// Why the core did not grant a reservation. Each limiter maps it onto its own public error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `cost` of `resource` is above what it could ever hold.
    ExceedsCapacity {
        resource: usize,
        cost: u64,
        capacity: u64,
    },
    /// Not in time: the wait it would need (`None`: it waited for a concurrency slot).
    NotInTime { wait: Option<Duration> },
    /// Cancelled through a [`CancelHandle`](crate::CancelHandle) (or the limiter's own stop).
    Cancelled,
    /// A resource's rate cannot be enforced.
    InvalidRate { resource: usize, error: RateError },
    /// A server's hold on `resource` lasts longer than the core's longest hold allows: waiting
    /// `wait` for it is refused.
    HeldTooLong { resource: usize, wait: Duration },
}

/// The instant a settled charge counts from: see [`Core::settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SettleFrom {
    /// This instant: the whole `actual` is charged now.
    Now,
    /// The instant the charge was made at (or last settled at): lowered where it stands.
    ChargesInstant,
}

/// The reservation core: one FIFO queue of reservations over some [`Accounts`] (its
/// [`Ledger`]), one function that re-plans it after every change of capacity, one wait loop.
///
/// Rules (the whole crate's accounting):
/// - A reservation is charged at the instant it may go (every resource at that same instant);
///   it waits behind every reservation that arrived before it (FIFO), and behind holds.
/// - Any change of capacity (refund, cancel, settle, rate change, server feedback, a slot
///   freed, a deadline that fails) goes through [`Ledger::change`]: the waiting
///   reservations' charges are taken out newest first, the change applied, and the waiters
///   charged again in arrival order. They move earlier when capacity came back; a newcomer
///   always queues behind them.
/// - A refund gives back only what the charge still holds ([`Accounts::refund`]); when it moves
///   later charges earlier (a bucket's queue), the kept receipts behind it are moved too.
pub(crate) struct Core<S> {
    clock: Clock,
    precision: WaitPrecision,
    ledger: Mutex<Ledger<S>>,
    /// The places of the ledger's kept receipts whose reservations were dropped, marked
    /// without the lock (taken back at the next lock round).
    dropped: Dropped,
}

impl<S: Accounts> Core<S> {
    pub(crate) fn new(
        clock: Clock,
        accounts: S,
        max_parallel: Option<u64>,
        max_hold: Duration,
    ) -> Core<S> {
        Core {
            clock,
            precision: WaitPrecision::default(),
            ledger: Mutex::new(Ledger::new(accounts, max_parallel, max_hold)),
            dropped: Dropped::new(),
        }
    }

    /// Takes the lock, and back the places of receipts whose reservations were dropped.
    #[inline]
    fn lock(&self) -> MutexGuard<'_, Ledger<S>> {
        let mut guard = self.ledger.lock();
        guard.take_back(&self.dropped);
        guard
    }

    /// Takes the lock and the instant to decide at (the clock read under the lock, clamped
    /// to the latest instant decided at).
    #[inline]
    fn lock_now(&self) -> (MutexGuard<'_, Ledger<S>>, Nanos) {
        let mut guard = self.lock();
        let now = guard.observe(self.clock.now());
        (guard, now)
    }

    /// Wakes every waiter to look at the ledger again, once `guard` is released, and `left`: the
    /// thread of a waiter that left the queue in the change (cancelled or withdrawn: the queue
    /// no longer knows it). Every other waiter is still in the queue (one planned to go now is
    /// granted at the next lock round).
    fn wake_all(&self, guard: MutexGuard<'_, Ledger<S>>, left: Option<Arc<Condvar>>) {
        let mut wakes = guard.wakes();
        wakes.extend(left);
        drop(guard);
        notify(&wakes);
    }

    /// Wakes, once `guard` is released, the waiters the change made since `before` concerns
    /// ([`Ledger::concerned`]); the others sleep until their instants. (Each waiter's thread
    /// sleeps on its own condition variable: `ledger/standings.rs`.)
    fn wake_if_concerned(&self, guard: MutexGuard<'_, Ledger<S>>, before: &Standings, now: Nanos) {
        let wakes = guard.concerned(before, now);
        drop(guard);
        notify(&wakes);
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn set_precision(&mut self, precision: WaitPrecision) {
        self.precision = precision;
    }

    pub(crate) fn precision(&self) -> WaitPrecision {
        self.precision
    }

    pub(crate) fn max_hold(&self) -> Duration {
        self.lock().max_hold().as_duration()
    }

    /// Runs `read` on the ledger at the current instant (nothing re-planned).
    pub(crate) fn read<R>(&self, read: impl FnOnce(&Ledger<S>, Nanos) -> R) -> R {
        let (ledger, now) = self.lock_now();
        read(&ledger, now)
    }

    /// Reserves `costs` (one per resource) and, when the core limits concurrency, a slot,
    /// waiting at most `patience`. Nothing is written when the answer is a refusal. The ticket
    /// says whether it must [`wait`](Core::wait). `keep` keeps its receipts for a later settle,
    /// cancel or [`forget`](Core::forget), which frees its slot: it must be `true` on a core
    /// with slots.
    pub(crate) fn reserve(
        &self,
        costs: &[u64],
        patience: Patience,
        keep: bool,
    ) -> Result<Ticket, Refusal> {
        self.reserve_read(costs, patience, keep, self.clock.now())
    }

    /// [`reserve`](Core::reserve), at a clock `reading` taken just before (a caller that read
    /// the clock already: the lock-free refusal's): clamped under the lock to the latest instant
    /// decided at, as any reading.
    #[inline]
    pub(crate) fn reserve_read(
        &self,
        costs: &[u64],
        patience: Patience,
        keep: bool,
        reading: Nanos,
    ) -> Result<Ticket, Refusal> {
        let mut ledger = self.lock();
        let now = ledger.observe(reading);
        ledger.reserve(costs, patience.due(now), keep, now)
    }

    /// [`reserve`](Core::reserve)s `costs`, kept, **in flight** ([`Ledger::reserve_in_flight`]):
    /// once it goes, its units are held until each resource is settled (billed at that
    /// instant), whatever the time; only the first `flying` resources (the others, a window's
    /// pacing, are charged at the grant).
    pub(crate) fn reserve_in_flight(
        &self,
        costs: &[u64],
        flying: usize,
        patience: Patience,
    ) -> Result<Ticket, Refusal> {
        let (mut ledger, now) = self.lock_now();
        ledger.reserve_in_flight(costs, flying, patience.due(now), now)
    }

    /// [`reserve_read`](Core::reserve_read) of costs kept for a later settle, cancel or forget,
    /// which a lock-free path found to fit now on the view the accounts published at `version`:
    /// granted at once without deciding again while nothing was published since
    /// ([`Ledger::go_as_published`]), else decided as any.
    #[inline]
    pub(crate) fn reserve_as_published(
        &self,
        costs: &[u64],
        patience: Patience,
        version: u64,
        reading: Nanos,
    ) -> Result<Ticket, Refusal> {
        let mut ledger = self.lock();
        let now = ledger.observe(reading);
        if let Some(id) = ledger.go_as_published(costs, version, now) {
            return Ok(Ticket { id, waiting: false });
        }
        ledger.reserve(costs, patience.due(now), true, now)
    }

    /// Charges `costs` at once, keeping no receipt and holding no slot, if nothing was
    /// published since the view at `version` found them fitting now
    /// ([`Ledger::charge_as_published`]); `false` (nothing charged) otherwise.
    #[inline]
    pub(crate) fn charge_as_published(&self, costs: &[u64], version: u64, reading: Nanos) -> bool {
        let mut ledger = self.lock();
        let now = ledger.observe(reading);
        ledger.charge_as_published(costs, version, now)
    }

    /// Takes `costs` if they fit now and nobody waits (no slots, holds or queue in the way):
    /// the short path of an admitted decision. `false` changes nothing: [`reserve`](Core::reserve)
    /// then decides (and explains a refusal).
    pub(crate) fn take_now(&self, costs: &[u64]) -> bool {
        let (mut ledger, now) = self.lock_now();
        ledger.take_now(costs, now)
    }

    /// When reservation `id` may go and the resource that set that instant: `None` while it
    /// waits for a concurrency slot, or once it is unknown (cancelled, refused, or gone without
    /// receipts).
    pub(crate) fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        self.lock().plan(id)
    }

    /// Blocks until reservation `id` may go (its grant) or is refused (cancelled, or its
    /// deadline failed: then it holds nothing).
    pub(crate) fn wait(&self, id: u64) -> Result<(), Refusal> {
        let mut guard = self.lock();
        let asked = guard.latest();
        // Not waiting (gone, refused, unknown): its first look answers, nothing is slept on.
        let wake = guard.wake_of(id).unwrap_or_default();
        let wake_others = |ledger: &Ledger<S>| notify(&ledger.wakes());
        self.clock
            .block_on(&wake, &mut guard, self.precision, |ledger, reading| {
                let now = ledger.observe(reading);
                match ledger.turn(id, asked, now) {
                    Turn::Gone => Wake::Ready(Ok(())),
                    Turn::Refused(refusal) => {
                        // Those behind it may be planned without it.
                        wake_others(ledger);
                        Wake::Ready(Err(refusal))
                    }
                    Turn::Later(at) => Wake::At(at),
                    Turn::Replanned => {
                        wake_others(ledger);
                        Wake::At(Some(now))
                    }
                }
            })
    }

    /// Cancels reservation `id`: a waiting one leaves the queue and gives back all it was
    /// charged; one already gone gives back what its charges still hold. Frees its slot.
    pub(crate) fn cancel(&self, id: u64) {
        let (mut ledger, now) = self.lock_now();
        let cancelled = ledger.wake_of(id);
        ledger.cancel(id, now);
        self.wake_all(ledger, cancelled);
    }

    /// Cancels reservation `id` only if it is still waiting (a stop that must not take back a
    /// call already let go). Returns whether it was.
    pub(crate) fn withdraw(&self, id: u64) -> bool {
        let (mut ledger, now) = self.lock_now();
        let withdrawing = ledger.wake_of(id);
        let withdrawn = ledger.withdraw(id, now);
        if withdrawn {
            self.wake_all(ledger, withdrawing);
        }
        withdrawn
    }

    /// Drops the receipts of reservation `id`, keeping its charges; frees its slot. Once only,
    /// when the reservation is dropped (its id may name a place handed out again later).
    pub(crate) fn forget(&self, id: u64) {
        if self.dropped.mark(id) {
            // Went at once holding no slot: its charges stay, nothing changes for anyone; its
            // place comes back at the next lock round.
            return;
        }
        let (mut ledger, now) = self.lock_now();
        if ledger.forget(id, now) {
            // Those behind it may go now (it has no thread waiting: it was dropped).
            self.wake_all(ledger, None);
        }
    }

    /// Replaces what reservation `id` is charged for `resource` by `actual`, counted `from` now
    /// ([`Ledger::settle`]: what its charge still holds comes back, `actual` is charged at this
    /// instant, beyond the capacity if need be: debt, never a wait) or from the charge's instant
    /// ([`Ledger::settle_in_place`]: lowered where it stands; an `actual` above it counts from
    /// now). A reservation still waiting waits for `actual` instead (refused, changing nothing,
    /// when `actual` exceeds the capacity: it could never go).
    ///
    /// Wakes only the waiters it concerns ([`Ledger::concerned`]): one that may go earlier, was
    /// refused or given an instant (a bill of a call in flight); a settle that counts a charge
    /// from a later instant, as the Runner's answered and billed calls do, only moves the queue
    /// later.
    pub(crate) fn settle(
        &self,
        id: u64,
        resource: usize,
        actual: u64,
        from: SettleFrom,
    ) -> Result<(), Refusal> {
        let (mut ledger, now) = self.lock_now();
        let before = ledger.standings();
        let settled = match from {
            SettleFrom::Now => ledger.settle(id, resource, actual, now),
            SettleFrom::ChargesInstant => ledger.settle_in_place(id, resource, actual, now),
        };
        self.wake_if_concerned(ledger, &before, now);
        settled
    }

    /// Applies `change` to the ledger with every waiting reservation's charges taken out, then
    /// re-plans the queue in arrival order and wakes the waiters. The one path of every change
    /// of capacity ([`Ledger::change`]).
    pub(crate) fn change<R>(&self, change: impl FnOnce(&mut Ledger<S>, Nanos) -> R) -> R {
        let (mut ledger, now) = self.lock_now();
        let changed = ledger.change(now, change);
        self.wake_all(ledger, None);
        changed
    }
}

/// Wakes the threads sleeping on `wakes`.
fn notify(wakes: &[Arc<Condvar>]) {
    for wake in wakes {
        wake.notify_all();
    }
}
