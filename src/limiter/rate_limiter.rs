use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::shared_pace::SharedPace;
use super::striped_counters::StripedCounters;
use super::{AcquireError, LimiterStats};
use crate::algorithm::{
    Algorithm, Decision, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use crate::{Clock, Nanos, Rate, RateError, WaitPrecision};

/// A blocking rate limiter, shared by reference or [`Arc`](std::sync::Arc) between threads.
///
/// It runs one [`Algorithm`] (GCRA by default) under a mutex and adds time and waiting:
///
/// - **Shaping** ([`acquire`](Self::acquire), [`acquire_n`](Self::acquire_n)): the caller
///   *reserves* its cost at once (the state is committed as if taken at the instant it fits) and
///   then sleeps, holding nothing, until that instant. Reservations are served in the order they
///   were made, so waiters are **FIFO**: a waiting cost-20 request is not overtaken by later
///   cost-1 requests. Each waiter sleeps to an absolute instant computed from the state, so
///   lateness never accumulates.
/// - **Policing** ([`try_acquire`](Self::try_acquire), [`try_acquire_n`](Self::try_acquire_n)):
///   takes the cost if it fits now, else fails with the wait, taking nothing.
/// - **Bounded waits** ([`try_acquire_for`](Self::try_acquire_for),
///   [`acquire_until`](Self::acquire_until)): the wait is compared with the timeout *before*
///   anything is committed, so a request that would wait too long fails at once, without
///   sleeping.
///
/// A cost above the burst fails at once ([`AcquireError::CostExceedsBurst`]); an impossible rate
/// makes every acquire fail with [`AcquireError::InvalidRate`]. Neither ever hangs or panics.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{Rate, RateLimiter};
///
/// let limiter = RateLimiter::new(Rate::per_second(100));
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..30 {
///                 limiter.acquire().unwrap(); // 120 in all: 100 at once, 20 more within 0.2 s
///             }
///         });
///     }
/// });
/// assert_eq!(limiter.stats().admitted, 120);
/// assert!(limiter.try_acquire_for(1, Duration::ZERO).is_err());
/// ```
pub struct RateLimiter<A: Algorithm = GcraVirtual> {
    clock: Clock,
    precision: WaitPrecision,
    /// Where a one-word algorithm's state lives (lock-free path); `None` keeps it in `state`.
    word: Option<WordState>,
    /// For algorithms under the mutex: the earliest instant one unit fits, published after
    /// every change, so a rejection needs no lock.
    next_free: AtomicU64,
    counters: StripedCounters,
    state: Box<Mutex<State<A>>>,
    /// Notified when waiters' instants change (`set_rate`).
    reschedule: Condvar,
}

/// The state of an algorithm whose whole mutable state is one word
/// ([`Algorithm::to_word`]), updated by compare-and-swap.
#[derive(Debug)]
struct WordState {
    /// On a cache line of its own: the compare-and-swap traffic on it must not evict what every
    /// decision reads (the pace, the clock).
    word: Box<CacheLine<AtomicU64>>,
    pace: SharedPace,
}

#[derive(Debug)]
#[repr(align(128))]
struct CacheLine<T>(T);

struct State<A> {
    /// The algorithm (for one-word algorithms: the template of a valid rate; the state itself is
    /// in `RateLimiter::word`).
    algorithm: Result<A, RateError>,
    rate: Rate,
    /// The latest instant decided at: clock readings are clamped to it, so the algorithm never
    /// sees time go backwards.
    latest: Nanos,
    /// Callers sleeping until their reserved instant, by arrival ticket (FIFO order).
    waiters: BTreeMap<u64, Waiter>,
    next_ticket: u64,
    waited: Nanos,
}

struct Waiter {
    cost: u64,
    /// The instant the reservation conforms, or why it no longer can (after `set_rate`).
    at: Result<Nanos, AcquireError>,
}

impl<A> State<A> {
    fn observe(&mut self, reading: Nanos) -> Nanos {
        self.latest = self.latest.max(reading);
        self.latest
    }
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
    /// `min(quantity, burst)` in any window of the rate's period.
    ///
    /// ```
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let rpm = RateLimiter::sliding_window(Rate::per_minute(3));
    /// rpm.acquire_n(3)?;
    /// assert!(rpm.try_acquire().is_err());
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
        let algorithm = A::new(&rate);
        let word = match (&algorithm, rate.pace()) {
            (Ok(algorithm), Ok(pace)) => algorithm.to_word().map(|word| WordState {
                word: Box::new(CacheLine(AtomicU64::new(word))),
                pace: SharedPace::new(pace),
            }),
            _ => None,
        };
        RateLimiter {
            clock: Clock::new(),
            precision: WaitPrecision::default(),
            word,
            next_free: AtomicU64::new(0),
            counters: StripedCounters::new(),
            state: Box::new(Mutex::new(State {
                algorithm,
                rate,
                latest: Nanos::ZERO,
                waiters: BTreeMap::new(),
                next_ticket: 0,
                waited: Nanos::ZERO,
            })),
            reschedule: Condvar::new(),
        }
    }

    /// The same limiter, reading `clock` (a mock clock in tests). Call it before first use: the
    /// state starts full at any instant of any clock.
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
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self.state.get_mut().latest = Nanos::ZERO;
        self.next_free = AtomicU64::new(0);
        self
    }

    /// The same limiter, waiting with `precision` ([`WaitPrecision::Sleep`] by default).
    pub fn with_precision(mut self, precision: WaitPrecision) -> Self {
        self.precision = precision;
        self
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The rate in force.
    pub fn rate(&self) -> Rate {
        self.state.lock().rate
    }

    /// Takes one unit, blocking until it fits.
    ///
    /// Fails only if the limiter's rate is invalid.
    ///
    /// ```
    /// let limiter = tollgate::RateLimiter::new(tollgate::Rate::per_second(10));
    /// limiter.acquire()?;
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn acquire(&self) -> Result<(), AcquireError> {
        self.acquire_within(1, None)
    }

    /// Takes `cost` units, blocking until they fit (FIFO behind earlier waiters).
    ///
    /// Fails at once, without waiting, when `cost` exceeds the burst.
    ///
    /// ```
    /// use tollgate::{AcquireError, Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(10));
    /// limiter.acquire_n(5)?;
    /// assert!(matches!(limiter.acquire_n(11), Err(AcquireError::CostExceedsBurst { .. })));
    /// # Ok::<(), AcquireError>(())
    /// ```
    pub fn acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        self.acquire_within(cost, None)
    }

    /// Takes one unit if it fits now; never blocks.
    ///
    /// ```
    /// let limiter = tollgate::RateLimiter::new(tollgate::Rate::per_second(1));
    /// assert!(limiter.try_acquire().is_ok());
    /// assert!(limiter.try_acquire().unwrap_err().wait().is_some());
    /// ```
    pub fn try_acquire(&self) -> Result<(), AcquireError> {
        self.acquire_within(1, Some(Nanos::ZERO))
    }

    /// Takes `cost` units if they fit now; never blocks. The error says how long until they
    /// would.
    pub fn try_acquire_n(&self, cost: u64) -> Result<(), AcquireError> {
        self.acquire_within(cost, Some(Nanos::ZERO))
    }

    /// Takes `cost` units, waiting at most `timeout`. When the wait would be longer, fails at
    /// once, without sleeping and without taking anything.
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
    pub fn try_acquire_for(&self, cost: u64, timeout: Duration) -> Result<(), AcquireError> {
        self.acquire_within(cost, Some(Nanos::from(timeout)))
    }

    /// Takes `cost` units if they fit by `deadline`, waiting until then at most. A deadline that
    /// cannot be met (including one already past, when the cost does not fit now) fails at once.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Rate::per_second(2));
    /// limiter.acquire_n(2)?;
    /// assert!(limiter.acquire_until(1, Instant::now()).is_err());
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn acquire_until(&self, cost: u64, deadline: Instant) -> Result<(), AcquireError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.try_acquire_for(cost, timeout)
    }

    /// Settles a request that took `estimated` units and turned out to use `actual`: refunds the
    /// difference, or charges the excess. The call has already happened, so this never blocks:
    /// an excess (even above the burst) becomes debt that later callers wait for.
    ///
    /// ```
    /// use tollgate::{Rate, RateLimiter};
    ///
    /// let tokens = RateLimiter::new(Rate::per_minute(1_000));
    /// tokens.acquire_n(300)?;             // estimate
    /// tokens.reconcile(300, 120)?;        // used less: 180 back
    /// assert_eq!(tokens.available(), 880);
    /// # Ok::<(), tollgate::AcquireError>(())
    /// ```
    pub fn reconcile(&self, estimated: u64, actual: u64) -> Result<(), AcquireError> {
        let mut state = self.state.lock();
        let now = state.observe(self.clock.now());
        self.update(&mut state, now, |algorithm| {
            if actual > estimated {
                algorithm.charge(now, actual - estimated);
            } else if estimated > actual {
                algorithm.refund(now, estimated - actual);
            }
        })?;
        Ok(())
    }

    /// Switches to `rate` for every later decision. What is already owed is kept in units and
    /// drains at the new pace; callers already waiting have their instants recomputed, in their
    /// order of arrival (one whose cost exceeds the new burst fails with
    /// [`AcquireError::CostExceedsBurst`]).
    ///
    /// An invalid `rate` is refused and the current one stays.
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
        let pace = rate.pace()?;
        self.change_state(|state, now| {
            if state.algorithm.is_err() {
                state.algorithm = A::new(&rate);
            } else {
                self.update_unpublished(&mut state.algorithm, |a| a.set_rate(now, &rate))??;
                if let Some(word) = &self.word {
                    word.pace.store(pace);
                }
            }
            state.rate = rate;
            Ok(())
        })
    }

    /// Takes in what the server says is left of this limit: what is available now is lowered to
    /// at most `remaining` (never raised: the local view may be stricter), and with nothing
    /// remaining every caller is held until `reset`, when given. Callers already waiting are
    /// re-scheduled behind it, in arrival order.
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
        let reset = reset.map(Nanos::from);
        self.change_state(|state, now| {
            self.update_unpublished(&mut state.algorithm, |a| a.observe(now, remaining, reset))
        })
    }

    /// Applies `change` with every waiter's reservation given back first and taken again after,
    /// in arrival order, keeping the lock-free path out meanwhile.
    fn change_state(
        &self,
        change: impl FnOnce(&mut State<A>, Nanos) -> Result<(), RateError>,
    ) -> Result<(), RateError> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let now = state.observe(self.clock.now());
        if let Some(word) = &self.word {
            word.pace.begin_write();
        }
        let changed = self.reschedule_waiters(state, now, change);
        if let Some(word) = &self.word {
            word.pace.end_write();
        }
        self.publish_next_free(&mut state.algorithm, now);
        self.reschedule.notify_all();
        changed
    }

    fn reschedule_waiters(
        &self,
        state: &mut State<A>,
        now: Nanos,
        change: impl FnOnce(&mut State<A>, Nanos) -> Result<(), RateError>,
    ) -> Result<(), RateError> {
        if state.algorithm.is_ok() {
            for waiter in state.waiters.values().rev() {
                if waiter.at.is_ok() {
                    self.update_unpublished(&mut state.algorithm, |a| a.refund(now, waiter.cost))?;
                }
            }
        }
        change(state, now)?;
        for waiter in state.waiters.values_mut() {
            if waiter.at.is_ok() {
                let cost = waiter.cost;
                waiter.at = self.update_unpublished(&mut state.algorithm, |a| {
                    a.reserve(now, cost)
                        .map_err(|_| AcquireError::CostExceedsBurst {
                            cost,
                            burst: a.capacity(),
                        })
                })?;
            }
        }
        Ok(())
    }

    /// Units that could be taken now without waiting (0 if the rate is invalid).
    pub fn available(&self) -> u64 {
        let mut state = self.state.lock();
        let now = state.observe(self.clock.now());
        self.update(&mut state, now, |algorithm| algorithm.available(now))
            .unwrap_or(0)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LimiterStats {
        let available = self.available();
        let (admitted, rejected) = self.counters.totals();
        let state = self.state.lock();
        LimiterStats {
            admitted,
            rejected,
            waiting: state.waiters.len(),
            waited: state.waited.as_duration(),
            available,
        }
    }

    /// The one path every acquire takes: decide, reserve, sleep until the reserved instant.
    /// `max_wait: None` waits as long as it takes.
    fn acquire_within(&self, cost: u64, max_wait: Option<Nanos>) -> Result<(), AcquireError> {
        if let Some(decided) = self.decide_without_lock(cost, max_wait) {
            return decided;
        }
        let mut state = self.state.lock();
        let now = state.observe(self.clock.now());
        let deadline = max_wait.map(|max_wait| now.saturating_add(max_wait));
        let decided = self.update(&mut state, now, |algorithm| {
            let decision = algorithm.decide(now, cost);
            let commit = match decision {
                Decision::Admitted => cost > 0,
                Decision::NotBefore(at) => deadline.map_or(true, |deadline| at <= deadline),
                Decision::Never { .. } => false,
            };
            if commit {
                algorithm.charge(now, cost);
            }
            decision
        });
        let at = match decided {
            Ok(Decision::Admitted) => return self.admit(),
            Ok(Decision::NotBefore(at)) if deadline.map_or(true, |deadline| at <= deadline) => at,
            Ok(Decision::NotBefore(at)) => {
                let wait = at.saturating_sub(now).as_duration();
                return self.reject(AcquireError::RateLimited { wait });
            }
            Ok(Decision::Never { capacity }) => {
                return self.reject(AcquireError::CostExceedsBurst {
                    cost,
                    burst: capacity,
                })
            }
            Err(err) => return self.reject(err.into()),
        };
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiters.insert(ticket, Waiter { cost, at: Ok(at) });
        let outcome = self.sleep_until_reserved(&mut state, ticket, deadline);
        state.waiters.remove(&ticket);
        match outcome {
            Ok(()) => {
                let waited = state.latest.saturating_sub(now);
                state.waited = state.waited.saturating_add(waited);
                self.admit()
            }
            Err(err) => self.reject(err),
        }
    }

    /// The lock-free attempt: `Some` when decided without the mutex, `None` to take the locked
    /// path (a wait to sleep through, a rate change in progress, or an algorithm under the mutex
    /// with nothing to refuse).
    #[inline]
    fn decide_without_lock(
        &self,
        cost: u64,
        max_wait: Option<Nanos>,
    ) -> Option<Result<(), AcquireError>> {
        let Some(word) = &self.word else {
            // Under the mutex: only a unit that cannot fit in time is refused from here.
            let next_free = Nanos::new(self.next_free.load(Ordering::Acquire));
            let now = self.clock.now();
            let too_late =
                max_wait.is_some_and(|max_wait| next_free > now.saturating_add(max_wait));
            if cost == 1 && too_late {
                let wait = next_free.saturating_sub(now).as_duration();
                return Some(self.reject(AcquireError::RateLimited { wait }));
            }
            return None;
        };
        let now = self.clock.now();
        loop {
            let pace = word.pace.read()?;
            let old = word.word.0.load(Ordering::Acquire);
            let mut algorithm = A::from_word(&pace, old)?;
            match algorithm.decide(now, cost) {
                Decision::Admitted => {
                    if cost > 0 {
                        algorithm.charge(now, cost);
                        let new = algorithm.to_word()?;
                        if word
                            .word
                            .0
                            .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
                            .is_err()
                        {
                            continue;
                        }
                    }
                    return Some(self.admit());
                }
                Decision::NotBefore(at) => {
                    let deadline = max_wait.map(|max_wait| now.saturating_add(max_wait));
                    if deadline.map_or(true, |deadline| at <= deadline) {
                        return None; // a wait to sleep through: reserve under the mutex
                    }
                    let wait = at.saturating_sub(now).as_duration();
                    return Some(self.reject(AcquireError::RateLimited { wait }));
                }
                Decision::Never { capacity } => {
                    return Some(self.reject(AcquireError::CostExceedsBurst {
                        cost,
                        burst: capacity,
                    }))
                }
            }
        }
    }

    /// Applies `change` to the algorithm's state atomically (the caller holds the mutex), then
    /// publishes what the lock-free path reads.
    fn update<R>(
        &self,
        state: &mut State<A>,
        now: Nanos,
        change: impl FnMut(&mut A) -> R,
    ) -> Result<R, RateError> {
        let result = self.update_unpublished(&mut state.algorithm, change);
        self.publish_next_free(&mut state.algorithm, now);
        result
    }

    /// Applies `change` to the algorithm's state: for one-word algorithms, on a copy built from
    /// the word, committed by compare-and-swap (retried if the lock-free path changed the word
    /// meanwhile, so `change` must only act on the algorithm); otherwise in place.
    fn update_unpublished<R>(
        &self,
        algorithm: &mut Result<A, RateError>,
        mut change: impl FnMut(&mut A) -> R,
    ) -> Result<R, RateError> {
        let template = algorithm.as_mut().map_err(|err| err.clone())?;
        let Some(word) = &self.word else {
            return Ok(change(template));
        };
        let pace = word.pace.load();
        loop {
            let old = word.word.0.load(Ordering::Acquire);
            let Some(mut copy) = A::from_word(&pace, old) else {
                return Ok(change(template));
            };
            let result = change(&mut copy);
            let new = copy.to_word().unwrap_or(old);
            if new == old
                || word
                    .word
                    .0
                    .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Ok(result);
            }
        }
    }

    /// For algorithms under the mutex: publishes the earliest instant one unit fits.
    fn publish_next_free(&self, algorithm: &mut Result<A, RateError>, now: Nanos) {
        if self.word.is_none() {
            if let Ok(algorithm) = algorithm {
                let next_free = algorithm.conforms_at(now, 1);
                self.next_free.store(next_free.as_u64(), Ordering::Release);
            }
        }
    }

    fn admit(&self) -> Result<(), AcquireError> {
        self.counters.admitted();
        Ok(())
    }

    fn reject(&self, err: AcquireError) -> Result<(), AcquireError> {
        self.counters.rejected();
        Err(err)
    }

    /// Sleeps until the waiter `ticket`'s instant, which `set_rate` may move meanwhile. If it
    /// moves past `deadline`, or out of reach, the reservation is given back.
    fn sleep_until_reserved(
        &self,
        state: &mut MutexGuard<'_, State<A>>,
        ticket: u64,
        deadline: Option<Nanos>,
    ) -> Result<(), AcquireError> {
        loop {
            let now = state.observe(self.clock.now());
            let waiter = &state.waiters[&ticket];
            let cost = waiter.cost;
            let at = waiter.at.clone()?;
            if now >= at {
                return Ok(());
            }
            if deadline.is_some_and(|deadline| at > deadline) {
                self.update(state, now, |algorithm| algorithm.refund(now, cost))?;
                let wait = at.saturating_sub(now).as_duration();
                return Err(AcquireError::RateLimited { wait });
            }
            self.clock
                .wait_until(&self.reschedule, state, Some(at), self.precision);
        }
    }
}

impl<A: Algorithm> fmt::Debug for RateLimiter<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("RateLimiter")
            .field("rate", &state.rate)
            .field(
                "algorithm",
                &state.algorithm.as_ref().map(|_| std::any::type_name::<A>()),
            )
            .field("waiting", &state.waiters.len())
            .field("clock", &self.clock)
            .finish()
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
    }

    #[test]
    fn the_default_limiter_fits_in_128_bytes() {
        assert!(std::mem::size_of::<RateLimiter<GcraVirtual>>() <= 128);
    }
}
