use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{LimitError, MultiLimiter};
use crate::reservation::{Held, Keeper, PerResource, SettleFrom};
use crate::{CancelHandle, Nanos};

/// A call's reservation on a [`MultiLimiter`]: its costs, the instant it may go, and (until
/// dropped) its concurrency slot.
///
/// - [`wait`](Self::wait) blocks until [`ready_at`](Self::ready_at) (an acquire has already
///   waited); [`cancel`](Self::cancel) gives it up: still waiting, everything comes back and
///   those behind move up; already gone, what its charges still hold comes back.
/// - [`settle`](Self::settle) replaces a resource's estimate by the actual usage, counted from
///   now: what the estimate's charge still holds comes back, the actual usage is charged at
///   this instant (beyond the capacity if need be: debt, never a wait).
/// - Dropping it keeps its charges and frees its slot, also during a panic's unwinding (a permit
///   dropped while still waiting keeps its place: its charges stay and its slot comes free when
///   its instant comes; one still waiting for a slot, or refused, just leaves the line).
///
/// ```
/// use tollgate::{Limits, MultiLimiter, REQUESTS, TOKENS};
///
/// let api = MultiLimiter::new(Limits::new().rpm(100).tpm(10_000).max_parallel(4))?;
/// let permit = api.acquire(&[(REQUESTS, 1), (TOKENS, 3_000)])?;  // the estimate
/// permit.settle(TOKENS, 1_200)?;                                 // what it used
/// assert_eq!(api.active(), 1);
/// drop(permit);
/// assert_eq!(api.active(), 0);
/// # Ok::<(), tollgate::LimitError>(())
/// ```
#[must_use = "the concurrency slot is released as soon as the permit is dropped"]
pub struct Permit {
    /// The reservation, reached through the limiter it was made on.
    held: Held<MultiLimiter>,
    /// The cost reserved of each resource, in the limits' order.
    costs: PerResource<u64>,
    /// Nothing to wait for when it was made: granted at once by the in-memory core, or made by
    /// an acquire once its wait was over.
    went: bool,
    /// Counted in the permits held ([`MultiLimiter::active`]): once, when it went; given back
    /// when it is dropped (a cancel drops it).
    counted: AtomicBool,
    /// Counted by the store itself while it lives (it went at once): nothing for the limiter
    /// to count or give back.
    counted_by_store: bool,
}

impl Permit {
    /// `went`: nothing to wait for (`false` whenever unsure: it then waits);
    /// `counted_by_store`: the store counts it among the permits held until its drop (it went).
    #[inline]
    pub(crate) fn new(
        limiter: MultiLimiter,
        id: u64,
        costs: PerResource<u64>,
        went: bool,
        counted_by_store: bool,
    ) -> Permit {
        if went && !counted_by_store {
            limiter.hold_permit();
        }
        Permit {
            held: Held::new(limiter, id),
            costs,
            went,
            counted: AtomicBool::new(went || counted_by_store),
            counted_by_store,
        }
    }

    /// The limiter it was made on.
    pub(crate) fn limiter(&self) -> &MultiLimiter {
        &self.held.keeper
    }

    /// Its reservation's id in its limiter's store.
    pub(crate) fn id(&self) -> u64 {
        self.held.id
    }

    /// Whether it had nothing to wait for when it was made (for a permit from
    /// [`MultiLimiter::reserve`]: it went at once, it never waited for any resource).
    pub(crate) fn went(&self) -> bool {
        self.went
    }

    /// The instant the call may go, on the limiter's clock; `None` while it waits for a
    /// concurrency slot (or once cancelled).
    pub fn ready_at(&self) -> Option<Nanos> {
        self.limiter().store().plan(self.id()).map(|(at, _)| at)
    }

    /// Blocks until the call may go (at once for a permit from an acquire).
    ///
    /// # Errors
    /// [`LimitError::Cancelled`] if it was cancelled; [`LimitError::NotInTime`] if it was made
    /// with a deadline that can no longer be met. Either way it holds nothing.
    pub fn wait(&self) -> Result<(), LimitError> {
        self.limiter().wait_for(self.id())?;
        if !self.counted.swap(true, Ordering::Relaxed) {
            self.limiter().hold_permit();
        }
        Ok(())
    }

    /// Gives the reservation up (see the type's documentation for what comes back).
    pub fn cancel(self) {
        // Then dropped, as any: its count given back, the reservation forgotten.
        self.limiter().cancel(self.id());
    }

    /// A handle that cancels this permit's reservation from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.held.cancel_handle()
    }

    /// The resource the call waits (or waited) for, if it has to wait for one: the one whose
    /// limit sets [`ready_at`](Self::ready_at).
    pub fn waited_for(&self) -> Option<&str> {
        let (_, binding) = self.limiter().store().plan(self.id())?;
        binding.map(|index| self.limiter().name_of(index))
    }

    /// The cost reserved of resource `name` (0 for a resource not named).
    pub fn cost(&self, name: &str) -> u64 {
        self.limiter()
            .index_of(name)
            .map_or(0, |index| self.costs[index])
    }

    /// Replaces what resource `name` was charged by the `actual` usage, counted from now (see
    /// the type's documentation). Settling again replaces the last figure.
    ///
    /// # Errors
    /// [`LimitError::UnknownResource`] when the limits do not count `name` (nothing to settle
    /// is a mistake worth knowing about); [`LimitError::Cancelled`] after a cancel;
    /// [`LimitError::ExceedsCapacity`] for a permit still waiting whose `actual` is above the
    /// capacity (it could never go; nothing changes).
    pub fn settle(&self, name: &str, actual: u64) -> Result<(), LimitError> {
        let index = self.limiter().index_of(name)?;
        self.limiter()
            .settle(self.id(), index, actual, SettleFrom::Now)
    }

    /// Lowers what resource `name` is charged to `actual` where the charge stands: what it
    /// still holds above `actual` comes back, the rest keeps counting from the instant of the
    /// last [`settle`](Self::settle) (or of the grant). An `actual` above the charge is a
    /// `settle`, counted from now. For the Runner, which re-stamps a call's charges when its
    /// answer began ([`Attempt::answered`](crate::Attempt::answered)) and bills at completion.
    ///
    /// # Errors
    /// As [`settle`](Self::settle).
    pub(crate) fn settle_in_place(&self, name: &str, actual: u64) -> Result<(), LimitError> {
        let index = self.limiter().index_of(name)?;
        self.limiter()
            .settle(self.id(), index, actual, SettleFrom::ChargesInstant)
    }
}

// Gives its place in the count of permits held back; then its reservation is forgotten (its
// `Held` dropped: the charges stay, the slot comes free).
impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        if *self.counted.get_mut() && !self.counted_by_store {
            self.limiter().release_permit();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("costs", &self.costs)
            .field("ready_at", &self.ready_at())
            .field("waited_for", &self.waited_for())
            .finish()
    }
}
