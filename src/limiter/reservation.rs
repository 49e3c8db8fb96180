use std::fmt;

use crate::reservation::{Held, Refusal};
use crate::{AcquireError, CancelHandle, Nanos};

/// Units of a [`RateLimiter`](crate::RateLimiter) reserved for one caller: charged at the
/// instant they may be used ([`ready_at`](Self::ready_at)), in line behind every reservation
/// made before.
///
/// - [`wait`](Self::wait) blocks until that instant (which moves **earlier** when capacity
///   comes back while waiting: a refund, a cancel, a faster rate).
/// - [`cancel`](Self::cancel) gives it up: a reservation still waiting gives back everything
///   and leaves the line (those behind it move up); one whose instant has passed gives back
///   what its charge still holds (units regenerated since are not given back twice).
/// - [`settle`](Self::settle) replaces the reserved cost by what the call really used, counted
///   from now (the estimate → actual step of a call whose cost is known only afterwards).
/// - Dropping it keeps the charge (the units were used).
///
/// [`RateLimiter::acquire_n`](crate::RateLimiter::acquire_n) is `reserve` + `wait`.
///
/// ```
/// use tollgate::{Clock, Nanos, Rate, RateLimiter};
///
/// let (clock, time) = Clock::mock();
/// let tokens = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
/// let estimate = tokens.reserve(8)?;               // 8 of the burst of 10, now
/// assert_eq!(estimate.ready_at(), Nanos::ZERO);
/// let next = tokens.reserve(6)?;                   // in line: 4 more units needed, 400 ms
/// assert_eq!(next.ready_at(), Nanos::from_millis(400));
/// estimate.settle(2)?;                             // the call used 2: 6 come back...
/// next.wait()?;                                    // ...so the next one goes at once
/// assert_eq!(time.now(), Nanos::ZERO);
/// # Ok::<(), tollgate::AcquireError>(())
/// ```
pub struct Reservation {
    held: Held,
    cost: u64,
}

impl Reservation {
    pub(crate) fn new(held: Held, cost: u64) -> Reservation {
        Reservation { held, cost }
    }

    /// The instant this reservation may go, on the limiter's clock (now or earlier: it may go
    /// at once). While it waits, it moves earlier when capacity comes back (a refund, a cancel,
    /// a faster rate) and later with a server's hold or a slower rate; [`Nanos::ZERO`] once the
    /// reservation is cancelled or refused (then [`wait`](Self::wait) says why).
    pub fn ready_at(&self) -> Nanos {
        self.held
            .book()
            .plan(self.held.id)
            .map_or(Nanos::ZERO, |(at, _)| at)
    }

    /// The units reserved.
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// Blocks until the reservation may go.
    ///
    /// # Errors
    /// [`AcquireError::Cancelled`] if it was cancelled ([`cancel_handle`](Self::cancel_handle));
    /// [`AcquireError::ExceedsCapacity`] if a rate change made its cost larger than the new
    /// burst; [`AcquireError::HeldTooLong`] if a server's hold put it further away than the
    /// longest hold; [`AcquireError::InvalidRate`]. Refused, it holds nothing.
    pub fn wait(&self) -> Result<(), AcquireError> {
        self.held
            .book()
            .wait(self.held.id)
            .map(|_| ())
            .map_err(AcquireError::from)
    }

    /// Gives the reservation up (see the type's documentation for what comes back).
    pub fn cancel(self) {
        self.held.cancel();
    }

    /// A handle that cancels this reservation from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.held.cancel_handle()
    }

    /// Replaces the cost by `actual`, counted from now: what the reserved charge still holds
    /// comes back, and `actual` is charged at this instant. Never blocks: an `actual` above
    /// the estimate (even above the burst) is debt that later callers wait for. Settling again
    /// replaces the last figure. On a reservation still waiting, it waits for `actual` instead.
    ///
    /// # Errors
    /// [`AcquireError::Cancelled`] if the reservation was cancelled;
    /// [`AcquireError::ExceedsCapacity`] for a reservation still waiting whose `actual` is
    /// above the burst (it could never go; nothing changes).
    pub fn settle(&self, actual: u64) -> Result<(), AcquireError> {
        self.held
            .book()
            .settle(self.held.id, 0, actual)
            .map_err(AcquireError::from)
    }
}

impl From<Refusal> for AcquireError {
    fn from(refusal: Refusal) -> AcquireError {
        match refusal {
            Refusal::ExceedsCapacity { cost, capacity, .. } => {
                AcquireError::ExceedsCapacity { cost, capacity }
            }
            Refusal::NotInTime { wait } => AcquireError::NotInTime {
                wait: wait.unwrap_or_default(),
            },
            Refusal::Cancelled => AcquireError::Cancelled,
            Refusal::InvalidRate { error, .. } => AcquireError::InvalidRate(error),
            Refusal::HeldTooLong { wait, .. } => AcquireError::HeldTooLong { wait },
        }
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("cost", &self.cost)
            .field("ready_at", &self.ready_at())
            .finish()
    }
}
