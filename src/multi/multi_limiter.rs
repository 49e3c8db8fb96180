use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::meter::Meter;
use super::{LimitError, Limits, Permit};
use crate::{Clock, Nanos, WaitPrecision};

/// Enforces a [`Limits`]: a call takes its cost from **every** resource at once, or waits, or
/// fails having taken nothing.
///
/// Waiters are served in arrival order. The one at the head of the line takes a concurrency slot
/// (when the limits have one) and then reserves every rate at once, at the instant all of them
/// allow the call (the largest of the waits). Each resource is charged **at that instant**, not
/// when the caller asked, so a limit that was not the binding one does not refill while the
/// caller sleeps. The caller then leaves the line and sleeps, holding no lock, until its instant.
///
/// Clones share the same limiter.
///
/// ```
/// use tollgate::{Clock, Limits, MultiLimiter, Nanos};
///
/// let (clock, time) = Clock::mock();
/// let api = MultiLimiter::with_clock(Limits::new().rpm(60).tpm(1_000).max_parallel(2), clock)?;
/// let first = api.acquire(&[("requests", 1), ("tokens", 1_000)])?;   // all 1,000 tokens
/// let second = api.acquire(&[("requests", 1), ("tokens", 500)])?;    // waits for tokens: 30 s
/// assert_eq!(time.now(), Nanos::from_secs(30));
/// assert!(api.try_acquire(&[("requests", 1)]).is_err());             // both slots held
/// drop((first, second));
/// # Ok::<(), tollgate::LimitError>(())
/// ```
#[derive(Clone)]
pub struct MultiLimiter {
    inner: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) clock: Clock,
    pub(super) limits: Limits,
    pub(super) state: Mutex<MultiState>,
    /// Notified when the head of the line leaves it or a slot comes free.
    pub(super) changed: Condvar,
}

pub(super) struct MultiState {
    /// One meter per resource of `limits`, in the same order.
    pub(super) meters: Vec<Meter>,
    /// Permits holding a concurrency slot.
    pub(super) active: u64,
    /// Tickets of callers waiting, in arrival order.
    queue: VecDeque<u64>,
    next_ticket: u64,
    /// The instant of the latest grant: later grants are never earlier (FIFO).
    last_grant: Nanos,
    latest: Nanos,
}

impl MultiState {
    pub(super) fn observe(&mut self, reading: Nanos) -> Nanos {
        self.latest = self.latest.max(reading);
        self.latest
    }
}

impl MultiLimiter {
    /// A limiter for `limits` on the real clock; fails if a rate is invalid or the concurrency
    /// limit is 0.
    pub fn new(limits: Limits) -> Result<MultiLimiter, LimitError> {
        MultiLimiter::with_clock(limits, Clock::new())
    }

    /// A limiter for `limits` reading `clock`.
    pub fn with_clock(limits: Limits, clock: Clock) -> Result<MultiLimiter, LimitError> {
        if limits.max_parallel == Some(0) {
            return Err(LimitError::ZeroParallel);
        }
        let meters = limits
            .resources
            .iter()
            .map(|resource| {
                Meter::new(&resource.rate, resource.counting.unwrap_or(limits.counting)).map_err(
                    |error| LimitError::InvalidRate {
                        resource: resource.name.clone(),
                        error,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MultiLimiter {
            inner: Arc::new(Shared {
                clock,
                limits,
                state: Mutex::new(MultiState {
                    meters,
                    active: 0,
                    queue: VecDeque::new(),
                    next_ticket: 0,
                    last_grant: Nanos::ZERO,
                    latest: Nanos::ZERO,
                }),
                changed: Condvar::new(),
            }),
        })
    }

    /// The limits enforced.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Takes `costs` (`(resource, cost)` pairs; resources not named cost 0) and a concurrency
    /// slot, blocking until all fit.
    pub fn acquire(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.enter(costs, None)
    }

    /// Takes `costs` if everything fits now, else fails at once, taking nothing.
    pub fn try_acquire(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.enter(costs, Some(Duration::ZERO))
    }

    /// Takes `costs`, waiting at most `timeout`; fails at once, taking nothing, when the rates
    /// alone would need longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{LimitError, Limits, MultiLimiter};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(1))?;
    /// let _first = api.acquire(&[("requests", 1)])?;
    /// let refused = api.acquire_timeout(&[("requests", 1)], Duration::from_secs(1));
    /// assert!(matches!(refused, Err(LimitError::RateLimited { wait: Some(_) })));
    /// # Ok::<(), LimitError>(())
    /// ```
    pub fn acquire_timeout(
        &self,
        costs: &[(&str, u64)],
        timeout: Duration,
    ) -> Result<Permit, LimitError> {
        self.enter(costs, Some(timeout))
    }

    /// Takes `costs` if they fit by `deadline`.
    pub fn acquire_until(
        &self,
        costs: &[(&str, u64)],
        deadline: Instant,
    ) -> Result<Permit, LimitError> {
        self.enter(
            costs,
            Some(deadline.saturating_duration_since(Instant::now())),
        )
    }

    /// How much of each resource is in use now (`limit − available`), and its limit (the rate's
    /// quantity), in the order of the limits.
    pub fn usage(&self) -> Vec<(String, u64, u64)> {
        let mut state = self.inner.state.lock();
        let now = state.observe(self.inner.clock.now());
        self.inner
            .limits
            .resources
            .iter()
            .zip(&state.meters)
            .map(|(resource, meter)| {
                let meter = meter.algorithm();
                let used = meter.capacity().saturating_sub(meter.available(now));
                (resource.name.clone(), used, resource.rate.quantity())
            })
            .collect()
    }

    /// Takes in what the server says is left of `resource`: what is available now is lowered to
    /// at most `remaining` (never raised), and with nothing remaining no call goes before
    /// `reset`, when given (after it the budget refills at the limit's own pace, which is
    /// conservative: the server may refill faster). Calls already granted keep their grants.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, Limits, MultiLimiter, Nanos};
    ///
    /// let (clock, time) = Clock::mock();
    /// let api = MultiLimiter::with_clock(Limits::new().rpm(100).tpm(50_000), clock)?;
    /// api.observe("tokens", 0, Some(Duration::from_secs(7)))?;
    /// let permit = api.acquire(&[("requests", 1), ("tokens", 1)])?;
    /// assert_eq!(permit.granted_at(), Nanos::from_secs(7));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn observe(
        &self,
        resource: &str,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError> {
        let index = self
            .inner
            .limits
            .resources
            .iter()
            .position(|r| r.name == resource)
            .ok_or_else(|| LimitError::UnknownResource(resource.to_owned()))?;
        let mut state = self.inner.state.lock();
        let now = state.observe(self.inner.clock.now());
        state.meters[index]
            .algorithm_mut()
            .observe(now, remaining, reset.map(Nanos::from));
        Ok(())
    }

    /// Permits holding a concurrency slot now.
    pub fn active(&self) -> u64 {
        self.inner.state.lock().active
    }

    /// The per-resource cost vector for `costs`, checked against every capacity.
    fn resolve(&self, state: &MultiState, costs: &[(&str, u64)]) -> Result<Vec<u64>, LimitError> {
        let resources = &self.inner.limits.resources;
        let mut resolved = vec![0; resources.len()];
        for &(name, cost) in costs {
            let index = resources
                .iter()
                .position(|resource| resource.name == name)
                .ok_or_else(|| LimitError::UnknownResource(name.to_owned()))?;
            let capacity = state.meters[index].algorithm().capacity();
            if cost > capacity {
                return Err(LimitError::ExceedsCapacity {
                    resource: name.to_owned(),
                    cost,
                    capacity,
                });
            }
            resolved[index] += cost;
        }
        Ok(resolved)
    }

    fn enter(
        &self,
        costs: &[(&str, u64)],
        timeout: Option<Duration>,
    ) -> Result<Permit, LimitError> {
        let permit = self.reserve(costs, timeout)?;
        self.inner.clock.sleep_until(permit.granted_at());
        Ok(permit)
    }

    /// Reserves `costs` and returns the permit at once, without sleeping until its
    /// [`granted_at`](Permit::granted_at) instant: the caller waits (or cancels instead).
    pub(crate) fn reserve(
        &self,
        costs: &[(&str, u64)],
        timeout: Option<Duration>,
    ) -> Result<Permit, LimitError> {
        let inner = &self.inner;
        let mut state = inner.state.lock();
        let costs = self.resolve(&state, costs)?;
        let started = state.observe(inner.clock.now());
        let deadline = timeout.map(|timeout| started.saturating_add(Nanos::from(timeout)));
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(ticket);
        loop {
            let now = state.observe(inner.clock.now());
            let first = state.queue.front() == Some(&ticket);
            let slot_free = inner
                .limits
                .max_parallel
                .map_or(true, |max| state.active < max);
            if first && slot_free {
                // The instant every resource allows the call, and which one binds it.
                let (at, binding) = costs
                    .iter()
                    .zip(&state.meters)
                    .enumerate()
                    .filter(|(_, (cost, _))| **cost > 0)
                    .map(|(index, (cost, meter))| {
                        (meter.algorithm().conforms_at(now, *cost), Some(index))
                    })
                    .fold((now.max(state.last_grant), None), |best, next| {
                        if next.0 > best.0 {
                            next
                        } else {
                            best
                        }
                    });
                state.queue.pop_front();
                inner.changed.notify_all();
                // A grant at the current instant always fits, even for a deadline just passed.
                if at > now && deadline.is_some_and(|deadline| at > deadline) {
                    let wait = at.saturating_sub(now).as_duration();
                    return Err(LimitError::RateLimited { wait: Some(wait) });
                }
                for (cost, meter) in costs.iter().zip(&mut state.meters) {
                    if *cost > 0 {
                        meter.algorithm_mut().charge(at, *cost);
                    }
                }
                state.last_grant = at;
                let holds_slot = inner.limits.max_parallel.is_some();
                if holds_slot {
                    state.active += 1;
                }
                let binding = binding.filter(|_| at > now);
                return Ok(Permit::new(
                    Arc::clone(inner),
                    costs,
                    at,
                    binding,
                    holds_slot,
                ));
            }
            if deadline.is_some_and(|deadline| now >= deadline) {
                state.queue.retain(|queued| *queued != ticket);
                inner.changed.notify_all();
                return Err(LimitError::RateLimited { wait: None });
            }
            inner
                .clock
                .wait_until(&inner.changed, &mut state, deadline, WaitPrecision::Sleep);
        }
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
