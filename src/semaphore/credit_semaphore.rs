use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::SemaphoreError;
use crate::time::{Patience, Wake};
use crate::{Clock, Deadline, Nanos, WaitPrecision};

/// A semaphore of credits: a call costs some credits out of a fixed capacity, and its credits
/// come back `refund_after` after the call **ends** (whether it returned or panicked), the way
/// APIs that grant "N credits per window" bill them.
///
/// - **Fair on entry**: a newcomer queues behind existing waiters, even if its credits are free.
/// - **Opportunistic on exit**: when credits come back, waiters are scanned in arrival order and
///   every one that fits is admitted, so a later small waiter may pass an earlier large one;
///   among those that fit, the earliest goes first.
/// - **No starvation**: once a waiter has been passed [`overtake limit`](Self::with_overtake_limit)
///   times (default [`CreditSemaphore::DEFAULT_OVERTAKE_LIMIT`]), nobody passes it any more.
///
/// Refunds are due-time entries settled by whichever caller touches the semaphore next (waiters
/// sleep until the earliest refund is due): no thread per transaction.
///
/// ```
/// use std::time::Duration;
/// use tollgate::CreditSemaphore;
///
/// let sem = CreditSemaphore::new(40);
/// let price = sem.transact(5, Duration::from_millis(10), || 42)?;
/// assert_eq!(price, 42);
/// assert_eq!(sem.stats().pending_refund, 5);
/// # Ok::<(), tollgate::SemaphoreError>(())
/// ```
pub struct CreditSemaphore {
    clock: Clock,
    overtake_limit: Option<u32>,
    on_event: Option<EventHook>,
    state: Mutex<CreditState>,
    changed: Condvar,
}

type EventHook = Box<dyn Fn(&CreditEvent) + Send + Sync>;

/// What happened inside a [`CreditSemaphore`], for logging (see
/// [`CreditSemaphore::on_event`]). `id` numbers transactions in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreditEvent {
    /// Transaction `id` asked for `credits`.
    Acquiring {
        /// The transaction.
        id: u64,
        /// Its cost.
        credits: u64,
    },
    /// Transaction `id` got its credits and starts.
    Entered {
        /// The transaction.
        id: u64,
        /// When.
        at: Nanos,
    },
    /// Transaction `id` ended; its credits come back at `refund_due`.
    Exited {
        /// The transaction.
        id: u64,
        /// When it ended.
        at: Nanos,
        /// When its credits come back.
        refund_due: Nanos,
    },
    /// Transaction `id`'s credits are back.
    Refunded {
        /// The transaction.
        id: u64,
        /// How many.
        credits: u64,
        /// When they were settled.
        at: Nanos,
    },
}

/// A snapshot of a [`CreditSemaphore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreditStats {
    /// The capacity.
    pub capacity: u64,
    /// Credits free now.
    pub available: u64,
    /// Credits held by transactions that have not ended.
    pub in_use: u64,
    /// Credits of ended transactions, not yet refunded.
    pub pending_refund: u64,
    /// Callers waiting to enter.
    pub waiting: usize,
}

struct CreditState {
    capacity: u64,
    available: u64,
    /// `(due, id, credits)` of ended transactions, earliest due first.
    refunds: BinaryHeap<Reverse<(Nanos, u64, u64)>>,
    pending_refund: u64,
    /// Callers that asked to enter, by arrival.
    queue: BTreeMap<u64, Queued>,
    next_id: u64,
}

struct Queued {
    credits: u64,
    /// How many later arrivals entered before it.
    passed: u32,
    entered: bool,
}

/// Credits held by one transaction: they are scheduled to come back `refund_after` after this
/// permit is dropped (also during a panic's unwinding).
///
/// ```
/// use std::time::Duration;
/// use tollgate::CreditSemaphore;
///
/// let sem = CreditSemaphore::new(10);
/// let permit = sem.acquire(4, Duration::ZERO)?;
/// assert_eq!(sem.stats().available, 6);
/// drop(permit);
/// assert_eq!(sem.stats().available, 10);
/// # Ok::<(), tollgate::SemaphoreError>(())
/// ```
#[must_use = "the credits are scheduled for refund as soon as the permit is dropped"]
pub struct CreditPermit<'a> {
    semaphore: &'a CreditSemaphore,
    id: u64,
    credits: u64,
    refund_after: Duration,
}

impl CreditPermit<'_> {
    /// The transaction's id (arrival order).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The credits held.
    pub fn credits(&self) -> u64 {
        self.credits
    }
}

impl Drop for CreditPermit<'_> {
    fn drop(&mut self) {
        self.semaphore
            .exit(self.id, self.credits, self.refund_after);
    }
}

impl fmt::Debug for CreditPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreditPermit")
            .field("id", &self.id)
            .field("credits", &self.credits)
            .field("refund_after", &self.refund_after)
            .finish()
    }
}

impl CreditSemaphore {
    /// How many times a waiter may be passed by later arrivals before nobody may pass it.
    pub const DEFAULT_OVERTAKE_LIMIT: u32 = 4;

    /// A semaphore holding `capacity` credits, on the real clock.
    pub fn new(capacity: u64) -> CreditSemaphore {
        CreditSemaphore {
            clock: Clock::new(),
            overtake_limit: Some(Self::DEFAULT_OVERTAKE_LIMIT),
            on_event: None,
            state: Mutex::new(CreditState {
                capacity,
                available: capacity,
                refunds: BinaryHeap::new(),
                pending_refund: 0,
                queue: BTreeMap::new(),
                next_id: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// The same semaphore on `clock` (call before first use).
    pub fn with_clock(mut self, clock: Clock) -> CreditSemaphore {
        self.clock = clock;
        self
    }

    /// How many times a waiter may be passed before nobody passes it; `None` lets small callers
    /// pass a large one forever (the Python `credit_semaphore`'s behaviour, which can starve it).
    ///
    /// ```
    /// let fair = tollgate::CreditSemaphore::new(40).with_overtake_limit(Some(1));
    /// # drop(fair);
    /// ```
    pub fn with_overtake_limit(mut self, limit: Option<u32>) -> CreditSemaphore {
        self.overtake_limit = limit;
        self
    }

    /// Calls `hook` on every [`CreditEvent`]. The hook runs with the semaphore's lock held: it
    /// must be quick and must not call the semaphore.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{CreditEvent, CreditSemaphore};
    ///
    /// let sem = CreditSemaphore::new(40).on_event(|event| {
    ///     if let CreditEvent::Entered { id, .. } = event {
    ///         println!("TXN {id} entered");
    ///     }
    /// });
    /// sem.transact(20, Duration::ZERO, || ())?;
    /// # Ok::<(), tollgate::SemaphoreError>(())
    /// ```
    pub fn on_event(
        mut self,
        hook: impl Fn(&CreditEvent) + Send + Sync + 'static,
    ) -> CreditSemaphore {
        self.on_event = Some(Box::new(hook));
        self
    }

    /// Runs `f` once `credits` are free and returns its result; the credits come back
    /// `refund_after` after `f` ends. If `f` panics, the refund is scheduled and the panic goes on
    /// to the caller.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::CreditSemaphore;
    ///
    /// let sem = CreditSemaphore::new(40);
    /// let tick = sem.transact(20, Duration::from_secs(10), || "tick")?;
    /// assert_eq!(tick, "tick");
    /// # Ok::<(), tollgate::SemaphoreError>(())
    /// ```
    pub fn transact<T>(
        &self,
        credits: u64,
        refund_after: Duration,
        f: impl FnOnce() -> T,
    ) -> Result<T, SemaphoreError> {
        let _permit = self.acquire(credits, refund_after)?;
        Ok(f())
    }

    /// [`transact`](Self::transact) if the credits can be had now (and nobody is waiting), else
    /// [`SemaphoreError::NotInTime`] at once, without running `f`.
    pub fn try_transact<T>(
        &self,
        credits: u64,
        refund_after: Duration,
        f: impl FnOnce() -> T,
    ) -> Result<T, SemaphoreError> {
        let _permit = self.enter(credits, refund_after, Patience::For(Nanos::ZERO))?;
        Ok(f())
    }

    /// [`transact`](Self::transact), waiting at most `timeout` to enter; on timeout nothing is
    /// taken and `f` does not run.
    pub fn try_transact_for<T>(
        &self,
        credits: u64,
        refund_after: Duration,
        timeout: Duration,
        f: impl FnOnce() -> T,
    ) -> Result<T, SemaphoreError> {
        let _permit = self.enter(credits, refund_after, Patience::For(Nanos::from(timeout)))?;
        Ok(f())
    }

    /// Waits for `credits` and returns a permit holding them; they are scheduled to come back
    /// `refund_after` after the permit is dropped.
    pub fn acquire(
        &self,
        credits: u64,
        refund_after: Duration,
    ) -> Result<CreditPermit<'_>, SemaphoreError> {
        self.enter(credits, refund_after, Patience::Forever)
    }

    /// [`acquire`](Self::acquire) if the credits can be had now (and nobody is waiting).
    ///
    /// # Errors
    /// [`SemaphoreError::NotInTime`] at once; [`SemaphoreError::ExceedsCapacity`].
    pub fn try_acquire(
        &self,
        credits: u64,
        refund_after: Duration,
    ) -> Result<CreditPermit<'_>, SemaphoreError> {
        self.enter(credits, refund_after, Patience::For(Nanos::ZERO))
    }

    /// [`acquire`](Self::acquire), waiting until `deadline` at most: an instant of the
    /// semaphore's clock or a [`std::time::Instant`] (see [`Deadline`]).
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_until(
        &self,
        credits: u64,
        refund_after: Duration,
        deadline: impl Into<Deadline>,
    ) -> Result<CreditPermit<'_>, SemaphoreError> {
        let deadline = deadline.into().on(&self.clock);
        self.enter(credits, refund_after, Patience::Until(deadline))
    }

    /// [`acquire`](Self::acquire), waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_for(
        &self,
        credits: u64,
        refund_after: Duration,
        timeout: Duration,
    ) -> Result<CreditPermit<'_>, SemaphoreError> {
        self.enter(credits, refund_after, Patience::For(Nanos::from(timeout)))
    }

    /// A snapshot (refunds that are due are settled first).
    pub fn stats(&self) -> CreditStats {
        let mut state = self.state.lock();
        self.settle_refunds(&mut state, self.clock.now());
        CreditStats {
            capacity: state.capacity,
            available: state.available,
            in_use: state.capacity - state.available - state.pending_refund,
            pending_refund: state.pending_refund,
            waiting: state
                .queue
                .values()
                .filter(|queued| !queued.entered)
                .count(),
        }
    }

    fn emit(&self, event: CreditEvent) {
        if let Some(hook) = &self.on_event {
            hook(&event);
        }
    }

    fn enter(
        &self,
        credits: u64,
        refund_after: Duration,
        patience: Patience,
    ) -> Result<CreditPermit<'_>, SemaphoreError> {
        let mut state = self.state.lock();
        if credits > state.capacity {
            return Err(SemaphoreError::ExceedsCapacity {
                requested: credits,
                capacity: state.capacity,
            });
        }
        let started = self.clock.now();
        self.settle_refunds(&mut state, started);
        let id = state.next_id;
        state.next_id += 1;
        self.emit(CreditEvent::Acquiring { id, credits });
        let permit = || CreditPermit {
            semaphore: self,
            id,
            credits,
            refund_after,
        };
        let nobody_waiting = state.queue.values().all(|queued| queued.entered);
        if nobody_waiting && credits <= state.available {
            state.available -= credits;
            self.emit(CreditEvent::Entered { id, at: started });
            return Ok(permit());
        }
        let due = patience.due(started);
        state.queue.insert(
            id,
            Queued {
                credits,
                passed: 0,
                entered: false,
            },
        );
        self.clock.block_on(
            &self.changed,
            &mut state,
            WaitPrecision::Sleep,
            |state, now| {
                self.settle_refunds(state, now);
                if state.queue[&id].entered {
                    state.queue.remove(&id);
                    return Wake::Ready(Ok(permit()));
                }
                if due.passed(now) {
                    state.queue.remove(&id);
                    // Leaving may unblock callers that were not allowed to pass this one.
                    self.admit_waiters(state, now);
                    return Wake::Ready(Err(SemaphoreError::NotInTime { wait: None }));
                }
                let next_refund = state.refunds.peek().map(|Reverse((due, _, _))| *due);
                Wake::At(match (next_refund, due.at()) {
                    (Some(refund), Some(deadline)) => Some(refund.min(deadline)),
                    (refund, deadline) => refund.or(deadline),
                })
            },
        )
    }

    /// Schedules the refund of an ended transaction.
    fn exit(&self, id: u64, credits: u64, refund_after: Duration) {
        let mut state = self.state.lock();
        let now = self.clock.now();
        let refund_due = now.saturating_add(Nanos::from(refund_after));
        self.emit(CreditEvent::Exited {
            id,
            at: now,
            refund_due,
        });
        if credits > 0 {
            // Nothing to give back for zero credits: no entry waits for its due time.
            state.refunds.push(Reverse((refund_due, id, credits)));
            state.pending_refund += credits;
        }
        self.settle_refunds(&mut state, now);
        self.changed.notify_all();
    }

    /// Returns the credits of every refund due by `now`, then admits the waiters that fit.
    fn settle_refunds(&self, state: &mut CreditState, now: Nanos) {
        let mut refunded = false;
        while let Some(&Reverse((due, id, credits))) = state.refunds.peek() {
            if due > now {
                break;
            }
            state.refunds.pop();
            state.pending_refund -= credits;
            state.available += credits;
            refunded = true;
            self.emit(CreditEvent::Refunded {
                id,
                credits,
                at: now,
            });
        }
        if refunded {
            self.admit_waiters(state, now);
        }
    }

    /// Opportunistic admission: scans waiters in arrival order and admits each that fits, but
    /// admits nobody past a waiter that has already been passed the overtake limit.
    fn admit_waiters(&self, state: &mut CreditState, now: Nanos) {
        let limit = self.overtake_limit.unwrap_or(u32::MAX);
        let mut admitted_any = false;
        // Waiters left behind in this scan, each of which every later admission passes.
        let mut left_behind: Vec<&mut Queued> = Vec::new();
        for (&id, queued) in state.queue.iter_mut().filter(|(_, queued)| !queued.entered) {
            if queued.credits > state.available {
                left_behind.push(queued);
                continue;
            }
            if left_behind.iter().any(|earlier| earlier.passed >= limit) {
                break;
            }
            state.available -= queued.credits;
            queued.entered = true;
            admitted_any = true;
            for earlier in &mut left_behind {
                earlier.passed += 1;
            }
            self.emit(CreditEvent::Entered { id, at: now });
        }
        if admitted_any {
            self.changed.notify_all();
        }
    }
}

impl fmt::Debug for CreditSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreditSemaphore")
            .field("stats", &self.stats())
            .field("overtake_limit", &self.overtake_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_credit_transactions_leave_nothing_behind() {
        let sem = CreditSemaphore::new(1);
        for _ in 0..10_000 {
            sem.transact(0, Duration::from_secs(86_400), || ()).unwrap();
        }
        assert_eq!(sem.state.lock().refunds.len(), 0);
        sem.transact(1, Duration::from_secs(86_400), || ()).unwrap();
        assert_eq!(sem.state.lock().refunds.len(), 1);
    }
}
