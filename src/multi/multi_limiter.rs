use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{LimitError, Limits, Permit, Usage, REQUESTS};
use crate::reservation::{
    Cancel, Core, Keeper, Meter, Meters, Patience, PerResource, Refusal, SettleFrom,
};
use crate::state::{InMemory, Reserved, StateStore};
use crate::{Clock, Deadline, Nanos, Rate};

/// Enforces a [`Limits`]: a call takes its cost from **every** resource at once, or waits, or
/// fails having taken nothing.
///
/// Calls are served in arrival order (FIFO), on the crate's reservation core. The one at the
/// head of the line takes a concurrency slot (when the limits have one) and every rate at
/// once, at the instant all of them allow the call; each resource is charged **at that
/// instant**, so a limit that was not the binding one does not refill while the caller sleeps.
/// Any change of capacity (a settle, a cancel, a slot freed, server feedback) re-plans the
/// callers still waiting, in arrival order: they move earlier when capacity comes back.
///
/// Clones share the same limiter. Its state lives in one store: in memory (the default), or
/// where a constructor such as `shared_on` (feature `redis`) placed it. In memory, a call that
/// cannot go in time while nobody is queued (and no server's hold or pause is in force) is
/// refused without taking the limiter's lock, with the answer the lock would give, when every
/// resource is counted by GCRA (the default counting; an exact window's log is read under the
/// lock).
///
/// ```
/// use tollgate::{Clock, Limits, MultiLimiter, Nanos, REQUESTS, TOKENS};
///
/// let (clock, time) = Clock::mock();
/// let api = MultiLimiter::new(Limits::new().rpm(60).tpm(1_000).max_parallel(2))?.with_clock(clock);
/// let first = api.acquire(&[(REQUESTS, 1), (TOKENS, 1_000)])?;   // all 1,000 tokens
/// let second = api.acquire(&[(REQUESTS, 1), (TOKENS, 500)])?;    // waits for tokens: 30 s
/// assert_eq!(time.now(), Nanos::from_secs(30));
/// assert!(api.try_acquire(&[(REQUESTS, 1)]).is_err());           // both slots held
/// drop((first, second));
/// # Ok::<(), tollgate::LimitError>(())
/// ```
#[derive(Clone)]
pub struct MultiLimiter {
    inner: Arc<Shared>,
}

struct Shared {
    limits: Limits,
    /// Where the state lives: every decision and reservation.
    store: Arc<dyn StateStore>,
    /// The rate in force per resource (the configured one, or one learnt since).
    rates: parking_lot::Mutex<Vec<Rate>>,
    /// Per resource, the core's index of its pacing slot: an exact window has one, after the
    /// resources, which paces it with its burst ([`Meter::pacing`]); both must pass.
    pacers: Vec<Option<usize>>,
    /// Whether any resource has a pacing slot.
    paced: bool,
    /// The index of [`REQUESTS`], when the limits count requests: one per call unless the
    /// costs say otherwise.
    requests: Option<usize>,
    /// Permits held ([`MultiLimiter::active`]) that the store does not count itself.
    held: AtomicU64,
}

impl MultiLimiter {
    /// A limiter for `limits` on the real clock.
    ///
    /// # Errors
    /// [`LimitError::InvalidRate`] naming the resource whose rate is invalid;
    /// [`LimitError::ZeroParallel`] for `max_parallel(0)`.
    pub fn new(limits: Limits) -> Result<MultiLimiter, LimitError> {
        MultiLimiter::build(limits, Clock::new())
    }

    /// The same limiter, reading `clock` (a mock clock in tests). Call it before first use: the
    /// limiter starts anew, full, on that clock.
    pub fn with_clock(self, clock: Clock) -> MultiLimiter {
        // The limits were valid a moment ago, so building them again cannot fail.
        let Ok(fresh) = MultiLimiter::build(self.inner.limits.clone(), clock) else {
            return self;
        };
        match self.inner.store.on_clock(&fresh) {
            Ok(store) => fresh.with_store(store),
            Err(_) => self,
        }
    }

    /// The same limits and rates, their state in `store` (a store's constructor calls it).
    pub(crate) fn with_store(self, store: Arc<dyn StateStore>) -> MultiLimiter {
        let shared = Shared {
            limits: self.inner.limits.clone(),
            store,
            rates: parking_lot::Mutex::new(self.inner.rates.lock().clone()),
            pacers: self.inner.pacers.clone(),
            paced: self.inner.paced,
            requests: self.inner.requests,
            held: AtomicU64::new(0),
        };
        MultiLimiter {
            inner: Arc::new(shared),
        }
    }

    /// Where the state lives.
    pub(crate) fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// A limiter for `limits` reading `clock`.
    pub(crate) fn build(limits: Limits, clock: Clock) -> Result<MultiLimiter, LimitError> {
        if limits.max_parallel == Some(0) {
            return Err(LimitError::ZeroParallel);
        }
        let mut meters = Vec::with_capacity(limits.resources.len());
        let mut pacing = Vec::new();
        let mut pacers = Vec::with_capacity(limits.resources.len());
        for resource in &limits.resources {
            let invalid = |error| LimitError::InvalidRate {
                resource: resource.name.clone(),
                error,
            };
            let counting = resource.counting.unwrap_or(limits.counting);
            if counting == super::Counting::SlidingWindow {
                // The window counts the quantity; a pacing slot after the resources, the burst.
                let window = window_of(&resource.rate).map_err(invalid)?;
                pacing.push(Meter::pacing(&resource.rate).map_err(invalid)?);
                meters.push(counting.meter(&window).map_err(invalid)?);
                pacers.push(Some(limits.resources.len() + pacing.len() - 1));
            } else {
                meters.push(counting.meter(&resource.rate).map_err(invalid)?);
                pacers.push(None);
            }
        }
        meters.extend(pacing);
        let requests = limits.resources.iter().position(|r| r.name == REQUESTS);
        let mut core = Core::new(
            clock,
            Meters::new(meters),
            limits.max_parallel,
            limits.max_hold,
        );
        core.set_precision(limits.precision);
        let rates = limits
            .resources
            .iter()
            .map(|resource| resource.rate)
            .collect();
        Ok(MultiLimiter {
            inner: Arc::new(Shared {
                limits,
                store: Arc::new(InMemory::new(core)),
                rates: parking_lot::Mutex::new(rates),
                paced: pacers.iter().any(Option::is_some),
                pacers,
                requests,
                held: AtomicU64::new(0),
            }),
        })
    }

    /// The limits enforced.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &Clock {
        self.inner.store.clock()
    }

    /// Takes `costs` (`(resource, cost)` pairs; resources not named cost 0, except
    /// [`REQUESTS`](crate::REQUESTS): one per call unless named; a resource named twice costs
    /// the sum) and a concurrency slot, blocking until all fit.
    ///
    /// The one rule for requests, in every limiter and the Runner: a call counts one request
    /// unless its costs name `"requests"` (name it with 0 to take none).
    ///
    /// ```
    /// use tollgate::{Limits, MultiLimiter, REQUESTS, TOKENS};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(60).tpm(1_000))?;
    /// let _permit = api.acquire(&[(TOKENS, 10)])?;       // one request, 10 tokens
    /// assert_eq!(api.usage()[0].1.used, 1);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    ///
    /// # Errors
    /// [`LimitError::UnknownResource`], [`LimitError::ExceedsCapacity`] at once, taking nothing.
    pub fn acquire(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.enter(costs, Patience::Forever)
    }

    /// Takes `costs` if everything fits now, else fails at once, taking nothing.
    ///
    /// # Errors
    /// [`LimitError::NotInTime`], and as [`acquire`](Self::acquire).
    pub fn try_acquire(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.enter(costs, Patience::For(Nanos::ZERO))
    }

    /// Charges `costs` if everything fits now, else fails at once, taking nothing; keeps
    /// nothing: no permit, so nothing to [`settle`](Permit::settle) or
    /// [`cancel`](Permit::cancel), and no concurrency slot held (with
    /// [`max_parallel`](Limits::max_parallel), a free slot is needed now, as for a call that
    /// ends as it starts).
    ///
    /// The decision of [`RateLimiter::try_acquire`](crate::RateLimiter::try_acquire) for
    /// several resources at once, all or none: for a cost known when the call is made (a
    /// request and its counted input tokens, a message and its bytes), where
    /// [`try_acquire`](Self::try_acquire)'s permit would be dropped unused. It decides exactly
    /// as `try_acquire` followed by the permit's drop, without making the permit (its
    /// reference to the limiter, its receipt).
    ///
    /// ```
    /// use tollgate::{LimitError, Limits, MultiLimiter, INPUT_TOKENS};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(60).input_tpm(1_000))?;
    /// api.try_charge(&[(INPUT_TOKENS, 900)])?;      // one request, 900 input tokens
    /// let refused = api.try_charge(&[(INPUT_TOKENS, 200)]).unwrap_err();
    /// assert!(matches!(refused, LimitError::NotInTime { wait: Some(_) }));
    /// assert_eq!(api.usage()[1].1.used, 900);       // the refusal took nothing
    /// # Ok::<(), LimitError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_charge(&self, costs: &[(&str, u64)]) -> Result<(), LimitError> {
        let mut slots = PerResource::filled(self.inner.limits.resources.len(), 0u64);
        self.resolve(costs, &mut slots)?;
        self.inner.store.try_charge(self, &slots)
    }

    /// Takes `costs`, waiting at most `timeout`; fails at once, taking nothing, when the rates
    /// alone would need longer.
    ///
    /// # Errors
    /// [`LimitError::NotInTime`] (with the wait, when the rates decided it; `None` when no
    /// concurrency slot came free in time), and as [`acquire`](Self::acquire).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{LimitError, Limits, MultiLimiter, REQUESTS};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(1))?;
    /// let _first = api.acquire(&[(REQUESTS, 1)])?;
    /// let refused = api.try_acquire_for(&[(REQUESTS, 1)], Duration::from_secs(1));
    /// assert!(matches!(refused, Err(LimitError::NotInTime { wait: Some(_) })));
    /// # Ok::<(), LimitError>(())
    /// ```
    pub fn try_acquire_for(
        &self,
        costs: &[(&str, u64)],
        timeout: Duration,
    ) -> Result<Permit, LimitError> {
        self.enter(costs, Patience::For(Nanos::from(timeout)))
    }

    /// Takes `costs` if they fit by `deadline`: an instant of this limiter's
    /// [`clock`](Self::clock) or a [`std::time::Instant`] (see [`Deadline`]).
    ///
    /// # Errors
    /// As [`try_acquire_for`](Self::try_acquire_for).
    pub fn try_acquire_until(
        &self,
        costs: &[(&str, u64)],
        deadline: impl Into<Deadline>,
    ) -> Result<Permit, LimitError> {
        let deadline = deadline.into().on(self.clock());
        self.enter(costs, Patience::Until(deadline))
    }

    /// Reserves `costs` and a slot without waiting: the [`Permit`] says when the call may go
    /// ([`ready_at`](Permit::ready_at)); [`wait`](Permit::wait) for it, or
    /// [`cancel`](Permit::cancel) it.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// use tollgate::{Clock, Limits, MultiLimiter, Nanos, REQUESTS};
    ///
    /// let (clock, _time) = Clock::mock();
    /// let api = MultiLimiter::new(Limits::new().rpm(2))?.with_clock(clock);
    /// let _now = api.acquire(&[(REQUESTS, 2)])?;
    /// let later = api.reserve(&[(REQUESTS, 1)])?;
    /// assert_eq!(later.ready_at(), Some(Nanos::from_secs(30)));
    /// later.cancel();
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn reserve(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.reserve_within(costs, Patience::Forever, Then::Return)
    }

    /// Per resource, in the order of the limits: what calls that went use now (debt
    /// included, so it can exceed the limit), what callers still waiting have reserved, and
    /// the limit (the quantity of the rate in force). See [`Usage`].
    ///
    /// Shared on Redis, the waiters' reservations are not told apart: they count in `used`.
    pub fn usage(&self) -> Vec<(String, Usage)> {
        let rates = self.inner.rates.lock().clone();
        let resources = &self.inner.limits.resources;
        let figures = self.inner.store.usage(resources.len());
        resources
            .iter()
            .zip(rates)
            .zip(figures)
            .map(|((resource, rate), (used, reserved))| {
                let usage = Usage {
                    used,
                    reserved,
                    limit: Some(rate.quantity()),
                };
                (resource.name.clone(), usage)
            })
            .collect()
    }

    /// The rate in force for `resource`: the configured one, or the one set or learnt since.
    ///
    /// # Errors
    /// [`LimitError::UnknownResource`].
    pub fn rate(&self, resource: &str) -> Result<Rate, LimitError> {
        let index = self.index_of(resource)?;
        Ok(self.inner.rates.lock()[index])
    }

    /// Switches `resource` to `rate` for every later decision: what is owed is kept in units,
    /// and calls already waiting are re-planned in arrival order (one whose cost now exceeds
    /// the capacity fails with [`LimitError::ExceedsCapacity`]).
    ///
    /// # Errors
    /// [`LimitError::UnknownResource`]; [`LimitError::InvalidRate`] (the current rate stays).
    ///
    /// ```
    /// use tollgate::{Limits, MultiLimiter, Rate, REQUESTS};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(600))?;
    /// api.set_rate(REQUESTS, Rate::per_minute(300))?;
    /// assert_eq!(api.usage()[0].1.limit, Some(300));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn set_rate(&self, resource: &str, rate: Rate) -> Result<(), LimitError> {
        let index = self.index_of(resource)?;
        let mut rates = self.inner.rates.lock();
        let before = rates[index];
        self.inner.store.set_rate(self, index, &before, &rate)?;
        rates[index] = rate;
        Ok(())
    }

    /// Takes in what the server says is left of `resource`: what is available now is lowered to
    /// at most `remaining` (never raised). With nothing remaining and a `reset`, no call using
    /// it goes before `now + reset` (a hold: an absolute instant, after which the server's
    /// quota is whole again). Calls already waiting are re-planned behind it; calls already
    /// gone keep their grants.
    ///
    /// # Errors
    /// [`LimitError::UnknownResource`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, Limits, MultiLimiter, Nanos, REQUESTS, TOKENS};
    ///
    /// let (clock, time) = Clock::mock();
    /// let api = MultiLimiter::new(Limits::new().rpm(100).tpm(50_000))?.with_clock(clock);
    /// api.observe(TOKENS, 0, Some(Duration::from_secs(7)))?;
    /// let _permit = api.acquire(&[(REQUESTS, 1), (TOKENS, 1)])?;
    /// assert_eq!(time.now(), Nanos::from_secs(7));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn observe(
        &self,
        resource: &str,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError> {
        let index = self.index_of(resource)?;
        self.inner.store.observe(index, remaining, reset)
    }

    /// No call goes before `until` (a pause every resource respects; calls already waiting are
    /// re-planned behind it).
    pub(crate) fn pause_until(&self, until: Nanos) {
        self.inner.store.pause_until(until);
    }

    /// Whether nothing distinguishes this limiter from a new one and nobody else holds it: every
    /// resource full, no hold, nobody waiting, no permit alive, no other clone.
    pub(super) fn is_idle_and_unshared(&self) -> bool {
        self.is_unshared() && self.inner.store.is_idle()
    }

    /// Whether nobody else holds this limiter: no permit alive, no other clone.
    pub(super) fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// Permits held now: acquired (or reserved and waited for), not yet dropped or cancelled,
    /// with or without a `max_parallel` (shared on Redis: the concurrency leases held by every
    /// process, when the limits have a `max_parallel`).
    ///
    /// ```
    /// use tollgate::{Limits, MultiLimiter, TOKENS};
    ///
    /// let api = MultiLimiter::new(Limits::new().tpm(1_000))?;   // no max_parallel
    /// let permit = api.acquire(&[(TOKENS, 10)])?;
    /// assert_eq!(api.active(), 1);
    /// drop(permit);
    /// assert_eq!(api.active(), 0);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn active(&self) -> u64 {
        let counted = self.inner.held.load(Ordering::Relaxed);
        self.inner.store.permits_held(counted)
    }

    /// [`active`](Self::active) against `max_parallel`, with the permits still waiting for
    /// their instant as `reserved`.
    pub fn permits(&self) -> Usage {
        Usage {
            used: self.active(),
            reserved: self.inner.store.waiting(),
            limit: self.inner.limits.max_parallel,
        }
    }

    /// Counts a permit as held (it went), once.
    pub(super) fn hold_permit(&self) {
        self.inner.held.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a held permit as gone (dropped or cancelled).
    pub(super) fn release_permit(&self) {
        self.inner.held.fetch_sub(1, Ordering::Relaxed);
    }

    /// The index of resource `name`.
    pub(super) fn index_of(&self, name: &str) -> Result<usize, LimitError> {
        self.inner
            .limits
            .resources
            .iter()
            .position(|resource| resource.name == name)
            .ok_or_else(|| LimitError::UnknownResource {
                name: name.to_owned(),
                known: self
                    .inner
                    .limits
                    .resources
                    .iter()
                    .map(|resource| resource.name.clone())
                    .collect(),
            })
    }

    /// The name of resource `index` of the core (a window's pacing slot is named as its
    /// window).
    pub(crate) fn name_of(&self, index: usize) -> &str {
        let resources = &self.inner.limits.resources;
        let owner = match resources.get(index) {
            Some(_) => index,
            None => self
                .inner
                .pacers
                .iter()
                .position(|pacer| *pacer == Some(index))
                .unwrap_or(0),
        };
        &resources[owner].name
    }

    /// The core's index of the pacing slot of resource `index`, if it is a window.
    pub(crate) fn pacer_of(&self, index: usize) -> Option<usize> {
        self.inner.pacers[index]
    }

    /// The per-slot cost vector for `costs` (a resource named twice costs the sum; the
    /// requests, when the limits count them and `costs` does not name them, one), written in
    /// `resolved` (zeros, one per resource): built where it stays, not copied out of a result.
    #[inline(always)]
    fn resolve(
        &self,
        costs: &[(&str, u64)],
        resolved: &mut PerResource<u64>,
    ) -> Result<(), LimitError> {
        let resources = &self.inner.limits.resources;
        let mut requests_named = false;
        for (position, &(name, cost)) in costs.iter().enumerate() {
            // Costs are mostly named in the limits' order: that resource is tried first.
            let index = match resources.get(position) {
                Some(resource) if same_name(&resource.name, name) => position,
                _ => self.index_of(name)?,
            };
            requests_named |= Some(index) == self.inner.requests;
            resolved[index] = resolved[index].saturating_add(cost);
        }
        if let (Some(requests), false) = (self.inner.requests, requests_named) {
            resolved[requests] = 1;
        }
        let pacers = &self.inner.pacers;
        if !self.inner.paced {
            return Ok(());
        }
        // Each window's pacing slot is charged what the window is.
        let slots = resources.len() + pacers.iter().flatten().count();
        let mut with_pacing = PerResource::filled(slots, 0u64);
        with_pacing[..resources.len()].copy_from_slice(resolved);
        for (index, pacer) in pacers.iter().enumerate() {
            if let Some(pacer) = pacer {
                with_pacing[*pacer] = resolved[index];
            }
        }
        *resolved = with_pacing;
        Ok(())
    }

    fn enter(&self, costs: &[(&str, u64)], patience: Patience) -> Result<Permit, LimitError> {
        self.reserve_within(costs, patience, Then::Wait)
    }

    /// Reserves `costs` within `patience`, then waits for the reservation's instant or not
    /// (`then`): its permit.
    pub(crate) fn reserve_within(
        &self,
        costs: &[(&str, u64)],
        patience: Patience,
        then: Then,
    ) -> Result<Permit, LimitError> {
        let mut slots = PerResource::filled(self.inner.limits.resources.len(), 0u64);
        self.resolve(costs, &mut slots)?;
        self.reserve_slots(&slots, patience, then)
    }

    /// Reserves `slots` (the costs per slot, resolved) in the store, then waits for the
    /// reservation's instant or not (`then`): the permit it holds.
    ///
    /// Written for the permit to be made once, where the caller receives it: a reservation is
    /// waited for before its permit exists, and the permit copies `slots` figure by figure. A
    /// permit made, then moved out of a result kept aside for the wait's error, or built from
    /// figures just written one by one, is read back wider than it was written: a
    /// store-forwarding stall, a third of a decision's time.
    #[inline(always)]
    pub(crate) fn reserve_slots(
        &self,
        slots: &[u64],
        patience: Patience,
        then: Then,
    ) -> Result<Permit, LimitError> {
        let reserved = self.inner.store.reserve(self, slots, patience)?;
        self.permit_of(reserved, slots, then)
    }

    /// [`reserve`](Self::reserve)s `costs` **in flight** ([`StateStore::reserve_in_flight`]):
    /// once the permit goes, its units are held until each resource is settled (billed from
    /// that instant) or the permit dropped (billed then). The Runner's attempts.
    pub(crate) fn reserve_in_flight(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        let mut slots = PerResource::filled(self.inner.limits.resources.len(), 0u64);
        self.resolve(costs, &mut slots)?;
        let reserved = (self.inner.store).reserve_in_flight(self, &slots, Patience::Forever)?;
        self.permit_of(reserved, &slots, Then::Return)
    }

    /// The permit of what the store `reserved` for `slots`, once waited for or not (`then`).
    #[inline(always)]
    fn permit_of(
        &self,
        reserved: Reserved,
        slots: &[u64],
        then: Then,
    ) -> Result<Permit, LimitError> {
        match reserved {
            Reserved::Kept { id, went, counted } => {
                if !went && then == Then::Wait {
                    // Refused while waiting, it holds nothing: forgotten, as its drop would.
                    if let Err(refused) = self.wait_for(id) {
                        self.inner.store.forget(id);
                        return Err(refused);
                    }
                }
                Ok(Permit::new(
                    self.clone(),
                    id,
                    PerResource::from_slice(slots),
                    went || then == Then::Wait,
                    counted,
                ))
            }
            Reserved::Made(permit) => {
                if then == Then::Wait {
                    permit.wait()?;
                }
                Ok(*permit)
            }
        }
    }

    /// Blocks until permit `id` may go.
    pub(super) fn wait_for(&self, id: u64) -> Result<(), LimitError> {
        self.inner.store.wait(self, id)
    }

    /// Replaces what permit `id` was charged of resource `index` by `actual`, counted `from`
    /// now or from the charge's instant ([`StateStore::settle`]).
    pub(super) fn settle(
        &self,
        id: u64,
        index: usize,
        actual: u64,
        from: SettleFrom,
    ) -> Result<(), LimitError> {
        self.inner.store.settle(self, id, index, actual, from)
    }

    /// [`LimitError::HeldTooLong`] for a hold of `wait` on resource `index`, naming the
    /// setting to raise.
    pub(crate) fn held_too_long(&self, index: usize, wait: Duration) -> LimitError {
        let limits = &self.inner.limits;
        LimitError::HeldTooLong {
            resource: self.name_of(index).to_owned(),
            wait,
            max: limits.max_hold,
            setting: limits.max_hold_setting,
        }
    }

    /// The public error for a refusal of the core (a slot named as its resource).
    pub(crate) fn error(&self, refusal: Refusal) -> LimitError {
        match refusal {
            Refusal::ExceedsCapacity {
                resource,
                cost,
                capacity,
            } => LimitError::ExceedsCapacity {
                resource: self.name_of(resource).to_owned(),
                cost,
                capacity,
            },
            Refusal::NotInTime { wait } => LimitError::NotInTime { wait },
            Refusal::Cancelled => LimitError::Cancelled,
            Refusal::InvalidRate { resource, error } => LimitError::InvalidRate {
                resource: self.name_of(resource).to_owned(),
                error,
            },
            Refusal::HeldTooLong { resource, wait } => self.held_too_long(resource, wait),
        }
    }
}

/// What a reservation does once made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// Waits for its instant before its permit is made: an acquire.
    Wait,
    /// Comes back at once, for its holder to wait for or cancel: a [`MultiLimiter::reserve`].
    Return,
}

/// A permit reaches its reservation through the limiter, in its store.
impl Keeper for MultiLimiter {
    fn cancel(&self, id: u64) {
        self.inner.store.cancel(id);
    }

    fn forget(&self, id: u64) {
        self.inner.store.forget(id);
    }

    fn canceller(&self) -> Arc<dyn Cancel> {
        Arc::clone(&self.inner.store).canceller()
    }
}

impl fmt::Debug for MultiLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiLimiter")
            .field("limits", &self.inner.limits)
            .field("usage", &self.usage())
            .field("active", &self.active())
            .finish()
    }
}

/// Whether `a` and `b` are the same resource name, compared inline: in a decision's path, the call
/// to `memcmp` that `==` makes cost more than the comparison of a short name (up to 16 bytes,
/// two overlapping words; longer or shorter names as any string).
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
    };
    let half = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
    };
    match len {
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, len - 4) == half(b, len - 4),
        _ => a == b,
    }
}

/// The rate an exact window counts for `rate`: its quantity per period (the burst is paced
/// apart, [`Meter::pacing`]); a burst above the quantity cannot be honoured by a window.
pub(crate) fn window_of(rate: &Rate) -> Result<Rate, crate::RateError> {
    if rate.capacity() > rate.quantity() {
        return Err(crate::RateError::BurstOnWindow { rate: *rate });
    }
    Ok(Rate::new(rate.quantity(), rate.period()))
}

#[cfg(test)]
mod tests {
    use super::same_name;

    #[test]
    fn names_compared_inline_agree_with_string_equality() {
        let base = "abcdefghijklmnopqrstuvwxyz";
        for len in 0..=20 {
            let name = &base[..len];
            assert!(same_name(name, name));
            assert!(!same_name(name, &base[..len + 1]));
            for at in 0..len {
                let mut other = name.as_bytes().to_vec();
                other[at] = b'_';
                let other = String::from_utf8(other).unwrap();
                assert!(!same_name(name, &other), "{name} vs {other}");
            }
        }
    }
}
