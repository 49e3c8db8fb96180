use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::SemaphoreError;
use crate::algorithm::Refunded;
use crate::reservation::{Accounts, Book, Core, Held, Patience};
use crate::{Clock, Deadline, Nanos, RateError};

/// A concurrency limit that grows with time and backs off when the server pushes back.
///
/// The limit at instant `now` is `floor` while `now < start_from` (a pause), and otherwise
/// `base + step × ⌊(now − start_from) / step_time⌋`, capped at `max_limit` if one is set.
/// [`backpressure(retry_after)`](Self::backpressure) (a 429 from the server) sets
/// `base = max(in_use − 1, 1)` and pauses until `now + retry_after`; further signals during that
/// pause are ignored, so one burst of 429s is one decrease.
///
/// [`acquire`](Self::acquire) blocks until `in_use < limit(now)`, woken by releases and by the
/// next step of the limit (no polling). Waiters enter in arrival order: the semaphore is the
/// crate's reservation core with a concurrency limit that follows the schedule. Permits release
/// on drop.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{AdaptiveSemaphore, Clock, Nanos};
///
/// let (clock, time) = Clock::mock();
/// let sem = AdaptiveSemaphore::builder(2)
///     .step_time(Duration::from_secs(10))
///     .with_clock(clock)
///     .build()?;
/// let a = sem.acquire();
/// let b = sem.acquire();
/// assert!(sem.try_acquire().is_err());
/// let c = sem.acquire();                       // waits for the limit to grow to 3
/// assert_eq!(time.now(), Nanos::from_secs(10));
/// assert_eq!(sem.stats().in_use, 3);
/// # drop((a, b, c));
/// # Ok::<(), tollgate::SemaphoreError>(())
/// ```
pub struct AdaptiveSemaphore {
    core: Arc<Core<LimitSchedule>>,
}

/// The limit as a function of time: pure, so it is tested at explicit instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LimitSchedule {
    base: u64,
    step: u64,
    step_time: Nanos,
    start_from: Nanos,
    max_limit: Option<u64>,
    floor: u64,
}

impl LimitSchedule {
    fn limit(&self, now: Nanos) -> u64 {
        if now < self.start_from {
            return self.floor;
        }
        let steps = now.saturating_sub(self.start_from).as_u64() / self.step_time.as_u64();
        let grown = self.base.saturating_add(self.step.saturating_mul(steps));
        self.max_limit.map_or(grown, |max| grown.min(max))
    }

    /// The next instant after `now` at which the limit may rise, if it can rise at all.
    fn next_rise(&self, now: Nanos) -> Option<Nanos> {
        if now < self.start_from {
            return Some(self.start_from);
        }
        if self.step == 0 || self.max_limit.is_some_and(|max| self.limit(now) >= max) {
            return None;
        }
        let step_time = self.step_time.as_u64();
        let steps = now.saturating_sub(self.start_from).as_u64() / step_time;
        Some(self.start_from.saturating_add(Nanos::new(
            steps.saturating_add(1).saturating_mul(step_time),
        )))
    }
}

/// The schedule is the core's state: no rate resources, a concurrency limit that follows it.
impl Accounts for LimitSchedule {
    fn resources(&self) -> usize {
        0
    }

    fn capacity(&self, _resource: usize) -> Result<u64, RateError> {
        Ok(0)
    }

    fn conforms_at(&self, _resource: usize, now: Nanos, _cost: u64) -> Nanos {
        now
    }

    fn charge(&mut self, _resource: usize, _now: Nanos, at: Nanos, _cost: u64) -> (Nanos, Nanos) {
        (at, at)
    }

    fn record(&mut self, _resource: usize, now: Nanos, _cost: u64) -> Nanos {
        now
    }

    fn refund(&mut self, _resource: usize, _now: Nanos, _mark: Nanos, _cost: u64) -> Refunded {
        Refunded::default()
    }

    fn in_use(&self, _resource: usize, _now: Nanos) -> u64 {
        0
    }

    fn queue_end(&self, _resource: usize) -> Option<Nanos> {
        None
    }

    fn undo(&mut self, _resource: usize, _now: Nanos, _before: Nanos, _mark: Nanos, _cost: u64) {}

    fn slot_limit(&self, now: Nanos) -> Option<u64> {
        Some(self.limit(now))
    }

    fn next_slot_rise(&self, now: Nanos) -> Option<Nanos> {
        self.next_rise(now)
    }
}

/// A snapshot of an [`AdaptiveSemaphore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptiveStats {
    /// The limit now.
    pub limit: u64,
    /// Permits held.
    pub in_use: u64,
    /// Callers waiting.
    pub waiting: usize,
    /// The end of the current backpressure pause, if one is in force.
    pub paused_until: Option<Nanos>,
}

/// Builds an [`AdaptiveSemaphore`]; see [`AdaptiveSemaphore::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct AdaptiveBuilder {
    base: u64,
    step: u64,
    step_time: Duration,
    start_from: Option<Nanos>,
    max_limit: Option<u64>,
    floor: u64,
    clock: Clock,
}

impl AdaptiveBuilder {
    /// Added to the limit every `step_time` (default 1; 0 never grows).
    pub fn step(mut self, step: u64) -> Self {
        self.step = step;
        self
    }

    /// How often the limit grows (default 10 s, as in the seed).
    pub fn step_time(mut self, step_time: Duration) -> Self {
        self.step_time = step_time;
        self
    }

    /// The instant growth starts from (default: when built); before it the limit is the floor.
    pub fn start_from(mut self, start_from: Nanos) -> Self {
        self.start_from = Some(start_from);
        self
    }

    /// The most the limit grows to (default: unbounded, as in the seed).
    pub fn max_limit(mut self, max_limit: u64) -> Self {
        self.max_limit = Some(max_limit);
        self
    }

    /// The limit during a pause (default 1; 0 stops all new entries).
    pub fn floor(mut self, floor: u64) -> Self {
        self.floor = floor;
        self
    }

    /// The clock to read (default: the real clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the parameters and builds the semaphore.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{AdaptiveSemaphore, SemaphoreError};
    ///
    /// let bad = AdaptiveSemaphore::builder(1).step_time(Duration::ZERO).build();
    /// assert!(matches!(bad, Err(SemaphoreError::InvalidParameter { name: "step_time", .. })));
    /// ```
    pub fn build(self) -> Result<AdaptiveSemaphore, SemaphoreError> {
        let invalid = |name, reason| Err(SemaphoreError::InvalidParameter { name, reason });
        if self.base == 0 {
            return invalid("limit", "must be at least 1");
        }
        let step_time = Nanos::from(self.step_time);
        if step_time == Nanos::ZERO {
            return invalid("step_time", "must be longer than zero");
        }
        if self.max_limit.is_some_and(|max| max < self.base) {
            return invalid("max_limit", "must be at least the starting limit");
        }
        let start_from = self.start_from.unwrap_or_else(|| self.clock.now());
        let schedule = LimitSchedule {
            base: self.base,
            step: self.step,
            step_time,
            start_from,
            max_limit: self.max_limit,
            floor: self.floor,
        };
        let core = Core::new(self.clock, schedule, None, Duration::ZERO);
        Ok(AdaptiveSemaphore {
            core: Arc::new(core),
        })
    }
}

/// A slot of an [`AdaptiveSemaphore`], released on drop.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct AdaptivePermit<'a> {
    _slot: Held,
    semaphore: PhantomData<&'a AdaptiveSemaphore>,
}

impl fmt::Debug for AdaptivePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdaptivePermit")
    }
}

impl AdaptiveSemaphore {
    /// A builder starting at `limit` concurrent permits, growing by 1 every 10 s from now, with
    /// no maximum and a floor of 1 during pauses.
    pub fn builder(limit: u64) -> AdaptiveBuilder {
        AdaptiveBuilder {
            base: limit,
            step: 1,
            step_time: Duration::from_secs(10),
            start_from: None,
            max_limit: None,
            floor: 1,
            clock: Clock::new(),
        }
    }

    /// A semaphore with the default step, step time and floor (see [`builder`](Self::builder)).
    ///
    /// ```
    /// let sem = tollgate::AdaptiveSemaphore::new(4)?;
    /// let _permit = sem.acquire();
    /// # Ok::<(), tollgate::SemaphoreError>(())
    /// ```
    pub fn new(limit: u64) -> Result<AdaptiveSemaphore, SemaphoreError> {
        AdaptiveSemaphore::builder(limit).build()
    }

    /// The limit at instant `now` (on this semaphore's clock).
    pub fn limit_at(&self, now: Nanos) -> u64 {
        self.core.read(|ledger, _| ledger.accounts.limit(now))
    }

    /// The limit now.
    pub fn limit(&self) -> u64 {
        self.core.read(|ledger, now| ledger.accounts.limit(now))
    }

    /// Blocks until a slot is free under the current limit, in arrival order.
    pub fn acquire(&self) -> AdaptivePermit<'_> {
        self.enter(Patience::Forever)
            .expect("an acquire without a deadline only returns once admitted")
    }

    /// A slot if one is free now and nobody is waiting, else [`SemaphoreError::NotInTime`].
    pub fn try_acquire(&self) -> Result<AdaptivePermit<'_>, SemaphoreError> {
        self.enter(Patience::For(Nanos::ZERO))
    }

    /// A slot within `timeout`, else [`SemaphoreError::NotInTime`].
    pub fn try_acquire_for(&self, timeout: Duration) -> Result<AdaptivePermit<'_>, SemaphoreError> {
        self.enter(Patience::For(Nanos::from(timeout)))
    }

    /// A slot by `deadline` (an instant of the semaphore's clock or a [`std::time::Instant`]:
    /// see [`Deadline`]), else [`SemaphoreError::NotInTime`].
    ///
    /// # Errors
    /// [`SemaphoreError::NotInTime`].
    pub fn try_acquire_until(
        &self,
        deadline: impl Into<Deadline>,
    ) -> Result<AdaptivePermit<'_>, SemaphoreError> {
        self.enter(Patience::Until(deadline.into().on(self.core.clock())))
    }

    /// The server pushed back (a 429 with `retry_after`): unless a pause is already in force, set
    /// the base limit to `max(in_use − 1, 1)` and pause growth until `now + retry_after`, with the
    /// floor as the limit meanwhile. Returns whether the signal was applied.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::AdaptiveSemaphore;
    ///
    /// let sem = AdaptiveSemaphore::new(8)?;
    /// assert!(sem.backpressure(Duration::from_secs(30)));
    /// assert_eq!(sem.limit(), 1);
    /// assert!(!sem.backpressure(Duration::from_secs(5))); // same pause: ignored
    /// # Ok::<(), tollgate::SemaphoreError>(())
    /// ```
    pub fn backpressure(&self, retry_after: Duration) -> bool {
        self.core.change(|ledger, now| {
            let in_use = ledger.slots_in_use();
            let schedule = &mut ledger.accounts;
            if now < schedule.start_from {
                return false;
            }
            let base = in_use.saturating_sub(1).max(1);
            schedule.base = schedule.max_limit.map_or(base, |max| base.min(max));
            schedule.start_from = schedule
                .start_from
                .max(now.saturating_add(Nanos::from(retry_after)));
            true
        })
    }

    /// A snapshot.
    pub fn stats(&self) -> AdaptiveStats {
        self.core.read(|ledger, now| AdaptiveStats {
            limit: ledger.accounts.limit(now),
            in_use: ledger.slots_in_use(),
            waiting: ledger.waiting(),
            paused_until: Some(ledger.accounts.start_from).filter(|until| now < *until),
        })
    }

    fn enter(&self, patience: Patience) -> Result<AdaptivePermit<'_>, SemaphoreError> {
        let book: Arc<dyn Book> = self.core.clone();
        let refused = |_| SemaphoreError::NotInTime { wait: None };
        let ticket = self.core.reserve(&[], patience, true).map_err(refused)?;
        let slot = Held::new(book, ticket.id);
        if ticket.waiting {
            // Refused only by its deadline: it holds nothing.
            self.core.wait(ticket.id).map_err(refused)?;
        }
        Ok(AdaptivePermit {
            _slot: slot,
            semaphore: PhantomData,
        })
    }
}

impl fmt::Debug for AdaptiveSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveSemaphore")
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(base: u64, step_time_s: u64, start_s: u64) -> LimitSchedule {
        LimitSchedule {
            base,
            step: 1,
            step_time: Nanos::from_secs(step_time_s),
            start_from: Nanos::from_secs(start_s),
            max_limit: None,
            floor: 1,
        }
    }

    #[test]
    fn next_rise_is_the_next_step_boundary_or_the_end_of_the_pause() {
        let s = schedule(1, 10, 100);
        assert_eq!(
            s.next_rise(Nanos::from_secs(50)),
            Some(Nanos::from_secs(100))
        );
        assert_eq!(
            s.next_rise(Nanos::from_secs(100)),
            Some(Nanos::from_secs(110))
        );
        assert_eq!(
            s.next_rise(Nanos::from_secs(115)),
            Some(Nanos::from_secs(120))
        );
        let capped = LimitSchedule {
            max_limit: Some(2),
            ..s
        };
        assert_eq!(capped.next_rise(Nanos::from_secs(115)), None);
    }
}
