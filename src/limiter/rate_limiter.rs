use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::single_account::{FastPath, SingleAccount};
use super::striped_counters::StripedCounters;
use super::Reservation;
use super::{AcquireError, LimiterStats};
use crate::algorithm::{
    Algorithm, Decision, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use crate::reservation::{Core, Held, Patience};
use crate::{Clock, Deadline, Nanos, Rate, RateError, WaitPrecision, DEFAULT_MAX_HOLD};

/// A blocking rate limiter, shared by reference or [`Arc`](std::sync::Arc) between threads.
///
/// It runs one [`Algorithm`] (GCRA by default) on the crate's reservation core and adds time
/// and waiting:
///
/// - **Shaping** ([`acquire`](Self::acquire), [`acquire_n`](Self::acquire_n)): the caller
///   *reserves* its cost (charged at the instant it fits) and sleeps, holding nothing, until
///   that instant. Reservations are served in the order they were made, so waiters are
///   **FIFO**: a waiting cost-20 request is not overtaken by later cost-1 requests. Each waiter
///   sleeps to an absolute instant, so lateness never accumulates.
/// - **Policing** ([`try_acquire`](Self::try_acquire), [`try_acquire_n`](Self::try_acquire_n)):
///   takes the cost if it fits now, else fails with the wait, taking nothing.
/// - **Bounded waits** ([`try_acquire_for`](Self::try_acquire_for),
///   [`try_acquire_until`](Self::try_acquire_until)): the wait is compared with the deadline
///   *before* anything is committed, so a request that would wait too long fails at once.
/// - **Reservations** ([`reserve`](Self::reserve)): a [`Reservation`] to wait for, cancel, or
///   settle with the actual cost. Any change of capacity (a settle, a cancel, `set_rate`,
///   `observe`) re-plans the callers already waiting, in arrival order: they move earlier when
///   capacity comes back.
///
/// A cost above the burst fails at once ([`AcquireError::ExceedsCapacity`]). An impossible rate
/// is refused by [`try_new`](Self::try_new) / [`try_with_algorithm`](Self::try_with_algorithm)
/// (and by parsing, and [`Rate::validate`]); given to the infallible constructors, it makes every
/// acquire fail with [`AcquireError::InvalidRate`]. Neither ever hangs or panics.
/// Decisions that need no wait are made without the lock, by compare-and-swap on the state's one
/// word, for the algorithms that have one ([`OneWord`](crate::algorithm::OneWord): the four
/// bucket algorithms); the others (the sliding window's log) are kept under the lock.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{Rate, RateLimiter};
///
/// let limiter = RateLimiter::new(Rate::per_minute(100));
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..25 {
///                 limiter.acquire().unwrap(); // the whole burst, shared by four threads
///             }
///         });
///     }
/// });
/// assert_eq!(limiter.stats().admitted, 100);
/// assert!(limiter.try_acquire_for(1, Duration::ZERO).is_err()); // the next one in 0.6 s
/// ```
pub struct RateLimiter<A: Algorithm = GcraVirtual> {
    clock: Clock,
    fast: Arc<FastPath>,
    counters: StripedCounters,
    core: Arc<Core<SingleAccount<A>>>,
}

impl RateLimiter<GcraVirtual> {
    /// A limiter for `rate` using GCRA (virtual scheduling), on the real clock.
    ///
    /// ```
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(10));
    /// limiter.acquire().unwrap();
    /// ```
    pub fn new(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }

    /// [`new`](Self::new), refusing an invalid rate at once (the earliest point: `new` cannot
    /// fail, so it reports an invalid rate at every acquire instead).
    ///
    /// # Errors
    /// The [`RateError`] that [`Rate::validate`] reports.
    ///
    /// ```
    /// use tollgate::{Rate, RateError, RateLimiter};
    ///
    /// assert_eq!(RateLimiter::try_new(Rate::per_second(0)).unwrap_err(), RateError::ZeroQuantity);
    /// let _limiter = RateLimiter::try_new(Rate::per_second(10))?;
    /// # Ok::<(), RateError>(())
    /// ```
    pub fn try_new(rate: Rate) -> Result<Self, RateError> {
        Self::try_with_algorithm(rate)
    }

    /// The same as [`RateLimiter::new`]: GCRA, virtual-scheduling form.
    pub fn gcra(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }
}

impl RateLimiter<GcraContinuous> {
    /// A limiter using GCRA in its continuous-state form (same decisions as [`RateLimiter::new`]).
    ///
    /// ```
    /// let limiter = tollgate::RateLimiter::gcra_continuous("3/1500ms".parse()?);
    /// limiter.acquire_n(3)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn gcra_continuous(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }
}

impl RateLimiter<TokenBucket> {
    /// A limiter using a token bucket (same decisions as [`RateLimiter::new`]).
    ///
    /// ```
    /// let bucket = tollgate::RateLimiter::token_bucket("4/2s".parse()?);
    /// bucket.acquire_n(4)?;
    /// assert_eq!(bucket.available(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_bucket(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }
}

impl RateLimiter<LeakyBucket> {
    /// A limiter using a leaky bucket as a meter (same decisions as [`RateLimiter::new`]).
    ///
    /// ```
    /// let bucket = tollgate::RateLimiter::leaky_bucket("4/2s".parse()?);
    /// bucket.acquire()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leaky_bucket(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }
}

impl RateLimiter<SlidingWindow> {
    /// A limiter counting an exact sliding window of one period, as LLM providers do: at most
    /// `quantity` in any window of the rate's period.
    ///
    /// A bare window has no pacing: a rate with any other burst is a
    /// [`RateError::BurstOnWindow`] (reported by [`try_with_algorithm`](Self::try_with_algorithm)
    /// at once, by every acquire otherwise). For "a window, and at most `burst` at once", use
    /// [`Limits::window`](crate::Limits::window), which paces the window with GCRA.
    ///
    /// ```
    /// use tollgate::algorithm::SlidingWindow;
    /// use tollgate::{Rate, RateError, RateLimiter};
    ///
    /// let rpm = RateLimiter::sliding_window(Rate::per_minute(3));
    /// rpm.acquire_n(3)?;
    /// assert!(rpm.try_acquire().is_err());
    ///
    /// let paced = RateLimiter::<SlidingWindow>::try_with_algorithm(Rate::per_minute(3).burst(1));
    /// assert!(matches!(paced, Err(RateError::BurstOnWindow { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sliding_window(rate: Rate) -> Self {
        Self::with_algorithm(rate)
    }
}

impl<A: Algorithm> RateLimiter<A> {
    /// A limiter for `rate` running algorithm `A`, on the real clock; the named constructors
    /// ([`RateLimiter::token_bucket`] and the like) are shorthands for it.
    ///
    /// ```
    /// use tollgate::algorithm::TokenBucket;
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::<TokenBucket>::with_algorithm(Rate::per_second(5));
    /// limiter.acquire()?;
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn with_algorithm(rate: Rate) -> Self {
        Self::build(
            rate,
            Clock::new(),
            WaitPrecision::default(),
            DEFAULT_MAX_HOLD,
        )
    }

    /// [`with_algorithm`](Self::with_algorithm), refusing an invalid rate at once.
    ///
    /// # Errors
    /// The [`RateError`] that [`Rate::validate`] reports, or that `A` reports for a rate it
    /// cannot mean ([`RateError::BurstOnWindow`] for a window with a burst).
    pub fn try_with_algorithm(rate: Rate) -> Result<Self, RateError> {
        A::new(&rate)?;
        Ok(Self::with_algorithm(rate))
    }

    fn build(rate: Rate, clock: Clock, precision: WaitPrecision, max_hold: Duration) -> Self {
        let account = SingleAccount::<A>::new(rate, Arc::new(FastPath::new(&A::new(&rate), &rate)));
        let fast = Arc::clone(&account.fast);
        let mut core = Core::new(clock.clone(), account, None, max_hold);
        core.set_precision(precision);
        RateLimiter {
            clock,
            fast,
            counters: StripedCounters::new(),
            core: Arc::new(core),
        }
    }

    /// The same limiter, reading `clock` (a mock clock in tests). Call it before first use: the
    /// limiter starts anew, full, on that clock.
    ///
    /// ```
    /// use tollgate::{Clock, Nanos, Rate, RateLimiter};
    ///
    /// let (clock, time) = Clock::mock();
    /// let limiter = RateLimiter::token_bucket(Rate::per_second(4)).with_clock(clock);
    /// limiter.acquire_n(4)?;
    /// limiter.acquire_n(2)?;
    /// assert_eq!(time.now(), Nanos::from_millis(500));
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn with_clock(self, clock: Clock) -> Self {
        Self::build(
            self.rate(),
            clock,
            self.core.precision(),
            self.core.max_hold(),
        )
    }

    /// The same limiter, waiting with `precision` ([`WaitPrecision::Sleep`] by default). Call
    /// it before first use, like [`with_clock`](Self::with_clock).
    pub fn with_precision(self, precision: WaitPrecision) -> Self {
        Self::build(
            self.rate(),
            self.clock.clone(),
            precision,
            self.core.max_hold(),
        )
    }

    /// The same limiter, refusing to wait longer than `max` for a server's hold
    /// ([`observe`](Self::observe)): an acquire that would fails at once with
    /// [`AcquireError::HeldTooLong`]. Default [`DEFAULT_MAX_HOLD`] (120 s). Call it before first
    /// use, like [`with_clock`](Self::with_clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{AcquireError, Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(10)).with_max_hold(Duration::from_secs(5));
    /// limiter.observe(0, Some(Duration::from_secs(3_600)))?; // "nothing left for an hour"
    /// assert!(matches!(limiter.acquire(), Err(AcquireError::HeldTooLong { .. })));
    /// # Ok::<(), tollgate::RateError>(())
    /// ```
    pub fn with_max_hold(self, max: Duration) -> Self {
        Self::build(self.rate(), self.clock.clone(), self.core.precision(), max)
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The rate in force.
    pub fn rate(&self) -> Rate {
        self.core.read(|ledger, _| ledger.accounts.rate)
    }

    /// Takes one unit, blocking until it fits.
    ///
    /// # Errors
    /// [`AcquireError::InvalidRate`] (the limiter's rate is invalid);
    /// [`AcquireError::HeldTooLong`] (a server's hold lasts longer than the longest hold).
    ///
    /// ```
    /// let limiter = tollgate::RateLimiter::new(tollgate::Rate::per_second(10));
    /// limiter.acquire()?;
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<(), AcquireError> {
        self.acquire_within(1, Patience::Forever)
    }

    /// Takes `cost` units, blocking until they fit (FIFO behind earlier waiters).
    ///
    /// # Errors
    /// [`AcquireError::ExceedsCapacity`] at once, without waiting, when `cost` exceeds the
    /// burst; [`AcquireError::InvalidRate`]; [`AcquireError::HeldTooLong`].
    ///
    /// ```
    /// use tollgate::{AcquireError, Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(10));
    /// limiter.acquire_n(5)?;
    /// assert!(matches!(limiter.acquire_n(11), Err(AcquireError::ExceedsCapacity { .. })));
    /// # Ok::<(), AcquireError>(())
    /// ```
    #[inline]
    pub fn acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        self.acquire_within(cost, Patience::Forever)
    }

    /// Takes one unit if it fits now; never blocks.
    ///
    /// # Errors
    /// [`AcquireError::NotInTime`] with the wait when it does not fit now.
    ///
    /// ```
    /// let limiter = tollgate::RateLimiter::new(tollgate::Rate::per_second(1));
    /// assert!(limiter.try_acquire().is_ok());
    /// assert!(limiter.try_acquire().unwrap_err().wait().is_some());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<(), AcquireError> {
        self.acquire_within(1, Patience::For(Nanos::ZERO))
    }

    /// Takes `cost` units if they fit now; never blocks.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire), and [`AcquireError::ExceedsCapacity`].
    #[inline]
    pub fn try_acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        self.acquire_within(cost, Patience::For(Nanos::ZERO))
    }

    /// Takes `cost` units, waiting at most `timeout`. When the wait would be longer, fails at
    /// once, without sleeping and without taking anything.
    ///
    /// # Errors
    /// [`AcquireError::NotInTime`] (with the wait it would need), at once;
    /// [`AcquireError::ExceedsCapacity`]; [`AcquireError::InvalidRate`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(10));
    /// limiter.acquire_n(10)?;
    /// let refused = limiter.try_acquire_for(3, Duration::from_millis(200)).unwrap_err();
    /// assert!(refused.wait().unwrap() > Duration::from_millis(200)); // about 300 ms
    /// limiter.try_acquire_for(1, Duration::from_millis(200))?; // waits about 100 ms
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    #[inline]
    pub fn try_acquire_for(&self, cost: u64, timeout: Duration) -> Result<(), AcquireError> {
        self.acquire_within(cost, Patience::For(Nanos::from(timeout)))
    }

    /// Takes `cost` units if they fit by `deadline`: an instant of this limiter's
    /// [`clock`](Self::clock) (so deadlines work on a mock clock too) or a
    /// [`std::time::Instant`] (see [`Deadline`]). A deadline that cannot be met fails at once,
    /// sleeping not at all; one already past takes only what fits now, as
    /// [`try_acquire`](Self::try_acquire_n) does.
    ///
    /// # Errors
    /// As [`try_acquire_for`](Self::try_acquire_for).
    ///
    /// ```
    /// use tollgate::{Clock, Nanos, Rate, RateLimiter};
    ///
    /// let (clock, time) = Clock::mock();
    /// let limiter = RateLimiter::new(Rate::per_second(2)).with_clock(clock);
    /// limiter.acquire_n(2)?;
    /// assert!(limiter.try_acquire_until(1, Nanos::from_millis(400)).is_err());
    /// limiter.try_acquire_until(1, Nanos::from_millis(500))?;
    /// assert_eq!(time.now(), Nanos::from_millis(500));
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    #[inline]
    pub fn try_acquire_until(
        &self,
        cost: u64,
        deadline: impl Into<Deadline>,
    ) -> Result<(), AcquireError> {
        let deadline = deadline.into().on(self.clock());
        self.acquire_within(cost, Patience::Until(deadline))
    }

    /// Reserves `cost` units without waiting: the [`Reservation`] says when they may be used,
    /// and can be waited for, cancelled or settled. Dropping it keeps the charge.
    ///
    /// # Errors
    /// [`AcquireError::ExceedsCapacity`]; [`AcquireError::InvalidRate`];
    /// [`AcquireError::HeldTooLong`].
    ///
    /// ```
    /// use tollgate::{Clock, Nanos, Rate, RateLimiter};
    ///
    /// let (clock, _time) = Clock::mock();
    /// let limiter = RateLimiter::new(Rate::per_second(10).burst(2)).with_clock(clock);
    /// limiter.acquire_n(2)?;
    /// let waiting = limiter.reserve(2)?;
    /// assert_eq!(waiting.ready_at(), Nanos::from_millis(200));
    /// waiting.cancel();                                        // gives both units back
    /// assert_eq!(limiter.reserve(2)?.ready_at(), Nanos::from_millis(200));
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn reserve(&self, cost: u64) -> Result<Reservation, AcquireError> {
        let ticket = self
            .core
            .reserve(&[cost], Patience::Forever, true)
            .map_err(|refusal| {
                self.counters.rejected();
                AcquireError::from(refusal)
            })?;
        self.counters.admitted();
        let book: Arc<dyn crate::reservation::Book> = self.core.clone();
        Ok(Reservation::new(Held::new(book, ticket.id), cost))
    }

    /// Switches to `rate` for every later decision. What is already owed is kept in units and
    /// drains at the new pace; callers already waiting are re-planned in arrival order (one
    /// whose cost exceeds the new burst fails with [`AcquireError::ExceedsCapacity`]).
    ///
    /// # Errors
    /// An invalid `rate` is refused ([`RateError`]) and the current one stays.
    ///
    /// ```
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(1));
    /// limiter.set_rate(Rate::per_second(20))?;
    /// limiter.acquire_n(20).unwrap();
    /// assert!(limiter.set_rate(Rate::per_second(0)).is_err());
    /// assert_eq!(limiter.rate(), Rate::per_second(20));
    /// # Ok::<(), tollgate::RateError>(())
    /// ```
    pub fn set_rate(&self, rate: Rate) -> Result<(), RateError> {
        rate.pace()?;
        self.core.change(|ledger, now| {
            let old = ledger.accounts.rate.pace();
            ledger.accounts.set_rate(now, rate)?;
            if let Ok(old) = old {
                ledger.remap_marks(0, |accounts, mark| {
                    accounts
                        .read(|algorithm| algorithm.mark_after_set_rate(now, mark, &old))
                        .unwrap_or(mark)
                });
            }
            Ok(())
        })
    }

    /// Takes in what the server says is left of this limit: what is available now is lowered to
    /// at most `remaining` (never raised: the local view may be stricter). With nothing
    /// remaining and a `reset`, nothing goes before `now + reset`, a **hold**: an absolute
    /// instant (a later rate change does not move it), after which the server's quota is whole
    /// again. Callers already waiting are re-planned behind it, in arrival order.
    ///
    /// # Errors
    /// [`RateError`] if the limiter's rate is invalid.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, Nanos, Rate, RateLimiter};
    ///
    /// let (clock, time) = Clock::mock();
    /// let limiter = RateLimiter::new(Rate::per_minute(600)).with_clock(clock);
    /// limiter.observe(0, Some(Duration::from_secs(20)))?; // the server: "none left for 20 s"
    /// limiter.acquire().unwrap();
    /// assert_eq!(time.now(), Nanos::from_secs(20));
    /// # Ok::<(), tollgate::RateError>(())
    /// ```
    pub fn observe(&self, remaining: u64, reset: Option<Duration>) -> Result<(), RateError> {
        self.core.change(|ledger, now| match (remaining, reset) {
            (0, Some(reset)) => {
                // A hold changes no algorithm state, but a limiter whose rate is invalid takes
                // in no reading: refused as the others are.
                ledger.accounts.read(|_| ())?;
                ledger.hold(Some(0), now.saturating_add(Nanos::from(reset)));
                Ok(())
            }
            _ => ledger
                .accounts
                .update(|algorithm| algorithm.observe(now, remaining)),
        })
    }

    /// Units that could be taken now without waiting (0 if the rate is invalid).
    pub fn available(&self) -> u64 {
        self.core.read(|ledger, now| {
            ledger
                .accounts
                .read(|algorithm| algorithm.available(now))
                .unwrap_or(0)
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LimiterStats {
        let (admitted, rejected) = self.counters.totals();
        self.core.read(|ledger, now| LimiterStats {
            admitted,
            rejected,
            waiting: ledger.waiting(),
            waited: ledger.waited.as_duration(),
            available: ledger
                .accounts
                .read(|algorithm| algorithm.available(now))
                .unwrap_or(0),
            in_use: ledger
                .accounts
                .read(|algorithm| algorithm.in_use(now))
                .unwrap_or(0),
        })
    }

    /// The one path every acquire takes: decide lock-free when possible, else reserve on the
    /// core and wait for the reserved instant.
    #[inline]
    fn acquire_within(&self, cost: u64, patience: Patience) -> Result<(), AcquireError> {
        match self.decide_without_lock(cost, patience) {
            Some(decided) => decided,
            None => self.acquire_on_core(cost, patience),
        }
    }

    /// The rest of [`acquire_within`](Self::acquire_within), out of line: reserve on the core
    /// and wait for the reserved instant.
    #[inline(never)]
    fn acquire_on_core(&self, cost: u64, patience: Patience) -> Result<(), AcquireError> {
        if self.fast.word().is_none() && self.core.take_now(&[cost]) {
            return self.counters.admit();
        }
        let ticket = match self.core.reserve(&[cost], patience, false) {
            Ok(ticket) => ticket,
            Err(refusal) => return self.counters.reject(refusal.into()),
        };
        if !ticket.waiting {
            return self.counters.admit();
        }
        match self.core.wait(ticket.id) {
            Ok(_) => self.counters.admit(),
            Err(refusal) => self.counters.reject(refusal.into()),
        }
    }

    /// The lock-free attempt: `Some` when decided without the lock, `None` to reserve on the
    /// core (a wait to sleep through, a change in progress, or an algorithm under the lock with
    /// nothing to refuse).
    #[inline(always)]
    fn decide_without_lock(
        &self,
        cost: u64,
        patience: Patience,
    ) -> Option<Result<(), AcquireError>> {
        // Unclamped: what is decided here is as safe on an early reading (see the method).
        let now = self.clock.now_unordered();
        let due = patience.due(now);
        let (Some(form), Some(word)) = (A::ONE_WORD, self.fast.word()) else {
            // Under the lock: only a unit that cannot fit in time is refused from here.
            let next_free = Nanos::new(self.fast.next_free.load(Ordering::Acquire));
            if cost == 1 {
                if let Err(wait) = due.in_time(next_free, now) {
                    return Some(self.counters.reject(AcquireError::NotInTime { wait }));
                }
            }
            return None;
        };
        let (version, pace, hold) = self.fast.pace.read()?;
        if pace.interval == 0 {
            return None; // an invalid rate: the core reports it
        }
        let mut old = word.load(Ordering::Acquire);
        loop {
            // The pace must still be the one the word was written with.
            if !self.fast.pace.unchanged_since(version) {
                return None;
            }
            let at = match form.decide_on_word(&pace, old, now, cost) {
                // A cost of 0 takes nothing: a server's hold does not apply to it (as on the
                // core, which plans only the resources a request costs).
                Decision::Admitted if cost == 0 || hold <= now => {
                    if cost > 0 {
                        let new = form.charge_on_word(&pace, old, now, cost);
                        if let Err(current) = word.compare_exchange_weak(
                            old,
                            new,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            old = current;
                            continue;
                        }
                    }
                    return Some(self.counters.admit());
                }
                // Held by a server: the core answers (a hold past the longest is `HeldTooLong`,
                // not a wait), as it does for every algorithm; a hold at the very instant the
                // cost conforms (both at the end of time) binds there too.
                Decision::Admitted => return None,
                Decision::NotBefore(at) if hold >= at => return None,
                Decision::NotBefore(at) => at,
                Decision::Never { capacity } => {
                    return Some(
                        self.counters
                            .reject(AcquireError::ExceedsCapacity { cost, capacity }),
                    )
                }
            };
            return match due.in_time(at, now) {
                Ok(()) => None, // a wait to sleep through: reserve on the core
                Err(wait) => Some(self.counters.reject(AcquireError::NotInTime { wait })),
            };
        }
    }
}

impl<A: Algorithm> fmt::Debug for RateLimiter<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("algorithm", &std::any::type_name::<A>())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiters_are_send_and_sync_for_every_algorithm() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimiter<GcraVirtual>>();
        assert_send_sync::<RateLimiter<GcraContinuous>>();
        assert_send_sync::<RateLimiter<TokenBucket>>();
        assert_send_sync::<RateLimiter<LeakyBucket>>();
        assert_send_sync::<RateLimiter<SlidingWindow>>();
        assert_send_sync::<AcquireError>();
        assert_send_sync::<Reservation>();
    }

    /// Every reading of the server, the hold (`0` with a reset) included, is refused on an
    /// invalid rate, as the rustdoc promises; the refused hold leaves nothing behind.
    fn observe_on_an_invalid_rate_is_an_error<A: Algorithm>() {
        let name = std::any::type_name::<A>();
        for invalid in [Rate::per_second(0), Rate::new(1, Duration::ZERO)] {
            let (clock, _time) = Clock::mock();
            let limiter = RateLimiter::<A>::with_algorithm(invalid).with_clock(clock);
            for (remaining, reset) in [
                (0, Some(Duration::from_secs(1))),
                (0, None),
                (3, Some(Duration::from_secs(1))),
                (3, None),
            ] {
                assert_eq!(
                    limiter.observe(remaining, reset),
                    Err(invalid.validate().unwrap_err()),
                    "{name}, {invalid:?}: observe({remaining}, {reset:?})"
                );
            }
            limiter.set_rate(Rate::per_second(1)).unwrap();
            assert_eq!(limiter.try_acquire(), Ok(()), "{name}: a hold was kept");
        }
    }

    #[test]
    fn observe_on_an_invalid_rate_is_an_error_for_every_algorithm() {
        observe_on_an_invalid_rate_is_an_error::<GcraVirtual>();
        observe_on_an_invalid_rate_is_an_error::<GcraContinuous>();
        observe_on_an_invalid_rate_is_an_error::<TokenBucket>();
        observe_on_an_invalid_rate_is_an_error::<LeakyBucket>();
        observe_on_an_invalid_rate_is_an_error::<SlidingWindow>();
    }

    #[test]
    fn the_default_limiter_fits_in_128_bytes() {
        assert!(std::mem::size_of::<RateLimiter<GcraVirtual>>() <= 128);
    }
}
