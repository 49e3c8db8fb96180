use std::fmt;
use std::sync::Arc;

use super::accounts::Accounts;
use super::core::{Core, Refusal, SettleFrom};
use crate::Nanos;

/// The operations on one reservation of a core, object-safe so that the public reservation
/// types need not name the core's state type.
pub(crate) trait Book: Send + Sync {
    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)>;
    fn wait(&self, id: u64) -> Result<(), Refusal>;
    fn cancel(&self, id: u64);
    fn forget(&self, id: u64);
    fn settle(&self, id: u64, resource: usize, actual: u64) -> Result<(), Refusal>;
    /// The same book, as what a [`CancelHandle`] reaches.
    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel>;
}

/// What a [`CancelHandle`] asks of the place its reservation lives (a core's [`Book`], or a
/// multi-resource limiter's [state store](crate::state::StateStore)).
pub(crate) trait Cancel: Send + Sync {
    /// Cancels reservation `id` (see [`CancelHandle::cancel`]).
    fn cancel(&self, id: u64);
    /// Cancels reservation `id` only if it is still waiting: whether it was.
    fn withdraw(&self, id: u64) -> bool;
}

impl<S: Accounts> Book for Core<S> {
    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        Core::plan(self, id)
    }
    fn wait(&self, id: u64) -> Result<(), Refusal> {
        Core::wait(self, id)
    }
    fn cancel(&self, id: u64) {
        Core::cancel(self, id);
    }
    fn forget(&self, id: u64) {
        Core::forget(self, id);
    }
    fn settle(&self, id: u64, resource: usize, actual: u64) -> Result<(), Refusal> {
        Core::settle(self, id, resource, actual, SettleFrom::Now)
    }
    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel> {
        self
    }
}

impl<S: Accounts> Cancel for Core<S> {
    fn cancel(&self, id: u64) {
        Core::cancel(self, id);
    }
    fn withdraw(&self, id: u64) -> bool {
        Core::withdraw(self, id)
    }
}

/// What a held reservation reaches its place through: a core's book, shared, or the limiter
/// that owns it (a permit then counts one reference, not two).
pub(crate) trait Keeper: Send + Sync {
    /// Cancels reservation `id`.
    fn cancel(&self, id: u64);
    /// Forgets reservation `id`: it keeps its charges and frees its slot.
    fn forget(&self, id: u64);
    /// What a [`CancelHandle`] of the reservation reaches.
    fn canceller(&self) -> Arc<dyn Cancel>;
}

impl Keeper for Arc<dyn Book> {
    fn cancel(&self, id: u64) {
        Book::cancel(&**self, id);
    }
    fn forget(&self, id: u64) {
        Book::forget(&**self, id);
    }
    fn canceller(&self) -> Arc<dyn Cancel> {
        Arc::clone(self).canceller()
    }
}

/// A live reservation, reached through `keeper`: dropping it keeps its charges and frees its
/// slot (the keeper [forgets](Keeper::forget) it, once).
pub(crate) struct Held<K: Keeper = Arc<dyn Book>> {
    pub(crate) keeper: K,
    pub(crate) id: u64,
}

impl<K: Keeper> Held<K> {
    pub(crate) fn new(keeper: K, id: u64) -> Held<K> {
        Held { keeper, id }
    }

    /// Cancels the reservation; dropped then, as any (the keeper forgets it).
    pub(crate) fn cancel(self) {
        self.keeper.cancel(self.id);
    }

    pub(crate) fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            target: self.keeper.canceller(),
            id: self.id,
        }
    }
}

impl Held {
    /// The book the reservation is in.
    pub(crate) fn book(&self) -> &dyn Book {
        &*self.keeper
    }
}

impl<K: Keeper> Drop for Held<K> {
    fn drop(&mut self) {
        self.keeper.forget(self.id);
    }
}

/// Cancels one reservation from any thread: a caller blocked in its `wait` (or in the acquire
/// that made it) returns a "cancelled" error at once, and the reservation gives back what it
/// was charged ([`Reservation::cancel`](crate::Reservation::cancel) says exactly what).
/// Cancelling twice, or after the reservation ended, does nothing.
///
/// ```
/// use tollgate::{AcquireError, Clock, Rate, RateLimiter};
///
/// let (clock, time) = Clock::mock_stepped();
/// let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock);
/// limiter.acquire()?;
/// let reservation = limiter.reserve(1)?;           // may go in 1 s
/// let handle = reservation.cancel_handle();
/// std::thread::scope(|s| {
///     let waiter = s.spawn(|| reservation.wait());
///     handle.cancel();                             // from another thread
///     assert_eq!(waiter.join().unwrap(), Err(AcquireError::Cancelled));
/// });
/// assert!(limiter.try_acquire().is_err());         // the first unit still counts
/// # let _ = time;
/// # Ok::<(), AcquireError>(())
/// ```
#[derive(Clone)]
pub struct CancelHandle {
    target: Arc<dyn Cancel>,
    id: u64,
}

impl CancelHandle {
    /// Cancels the reservation.
    pub fn cancel(&self) {
        self.target.cancel(self.id);
    }

    /// Cancels the reservation only if it is still waiting (its caller has not been let go):
    /// whether it was.
    pub(crate) fn withdraw(&self) -> bool {
        self.target.withdraw(self.id)
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("id", &self.id)
            .finish()
    }
}
