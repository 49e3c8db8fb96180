//! What the accounting-bound properties (`accounting_bound_random_calls`) run: the operations
//! (mock time spans, calls, the mode of settling) and the limiters under test behind one
//! interface, a `RateLimiter` of any algorithm or a two-resource `MultiLimiter`.

use std::time::Duration;

use tollgate::algorithm::Algorithm;
use tollgate::{MultiLimiter, Permit, Rate, RateLimiter, Reservation};

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// A span of mock time: `quarters` quarters of the case's emission interval, plus `jitter` ns
/// (to land on and next to the instants the limiter computes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub(crate) quarters: u64,
    pub(crate) jitter: u64,
}

impl Step {
    pub(crate) fn nanos(self, scale: u64) -> u64 {
        scale * self.quarters / 4 + self.jitter
    }
}

/// One call on the limiter. Costs, slots and figures are selectors, mapped onto what exists when
/// the operation runs (the capacity in force, the reservations held, the figure in force).
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Blocking acquire of the costs (per resource).
    Acquire([u64; 2]),
    /// Policing: take the costs if they fit now.
    TryAcquire([u64; 2]),
    /// Take the costs if they fit within the step.
    TryAcquireFor([u64; 2], Step),
    /// Reserve and hold the reservation (waiting or not).
    Reserve([u64; 2]),
    /// Wait for a held reservation still waiting.
    Wait(usize),
    /// Settle resource `.1` of a held reservation with a figure chosen by `.2`.
    Settle(usize, usize, u64),
    /// Cancel a held reservation.
    Cancel(usize),
    /// Drop a held reservation that went (keeps its charge).
    Drop(usize),
    /// Let mock time pass.
    Advance(Step),
    /// The server says `remaining` (selector) is left of resource `.0`, maybe with a reset.
    Observe(usize, u64, Option<Step>),
    /// Switch to the case's rate `.0` (single limiter only).
    SetRate(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Settles at or below the figure in force; exact bound.
    WithinEstimate,
    /// Settles also above the figure in force (debt); the bound counted with the debt.
    Debt,
    /// Settles within the estimate, plus `set_rate` between two rates; the looser bound.
    SetRate,
}

// ---------------------------------------------------------------------------------------------
// The limiters under test, behind one interface
// ---------------------------------------------------------------------------------------------

/// A held reservation of either limiter.
pub(crate) enum Handle {
    Single(Reservation),
    Multi(Permit),
}

impl Handle {
    /// `None`: unknown (cancelled or refused). A `Reservation` says `ZERO` then, which is
    /// never later than now: the caller then asks `wait`, which tells.
    pub(crate) fn ready_at(&self) -> Option<u64> {
        match self {
            Handle::Single(reservation) => Some(reservation.ready_at().as_u64()),
            Handle::Multi(permit) => permit.ready_at().map(|at| at.as_u64()),
        }
    }

    pub(crate) fn wait(&self) -> Result<(), String> {
        match self {
            Handle::Single(reservation) => reservation.wait().map_err(|e| format!("{e:?}")),
            Handle::Multi(permit) => permit.wait().map_err(|e| format!("{e:?}")),
        }
    }

    pub(crate) fn settle(&self, resource: usize, actual: u64) -> Result<(), String> {
        match self {
            Handle::Single(reservation) => reservation.settle(actual).map_err(|e| format!("{e:?}")),
            Handle::Multi(permit) => permit
                .settle(NAMES[resource], actual)
                .map_err(|e| format!("{e:?}")),
        }
    }

    pub(crate) fn cancel(self) {
        match self {
            Handle::Single(reservation) => reservation.cancel(),
            Handle::Multi(permit) => permit.cancel(),
        }
    }
}

const NAMES: [&str; 2] = ["x", "y"];

pub(crate) trait Subject {
    fn resources(&self) -> usize;
    /// The most one call may cost of `resource` now.
    fn capacity(&self, resource: usize) -> u64;
    /// `Ok(None)`: admitted with nothing to hold (a `RateLimiter` acquire).
    fn acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String>;
    fn try_acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String>;
    fn try_acquire_for(&self, costs: &[u64], timeout: Duration) -> Result<Option<Handle>, String>;
    fn reserve(&self, costs: &[u64]) -> Result<Handle, String>;
    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), String>;
    fn set_rate(&self, resource: usize, rate: Rate) -> Result<(), String>;
}

/// The capacity of `rate` counted as a bucket (`burst`) or as a window (`min(quantity, burst)`).
fn capacity_of(rate: &Rate, window: bool) -> u64 {
    if window {
        rate.quantity().min(rate.capacity())
    } else {
        rate.capacity()
    }
}

pub(crate) struct Single<A: Algorithm> {
    pub(crate) limiter: RateLimiter<A>,
    pub(crate) window: bool,
}

impl<A: Algorithm> Subject for Single<A> {
    fn resources(&self) -> usize {
        1
    }
    fn capacity(&self, _resource: usize) -> u64 {
        capacity_of(&self.limiter.rate(), self.window)
    }
    fn acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .acquire_n(costs[0])
            .map(|()| None)
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire_n(costs[0])
            .map(|()| None)
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire_for(&self, costs: &[u64], timeout: Duration) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire_for(costs[0], timeout)
            .map(|()| None)
            .map_err(|e| format!("{e:?}"))
    }
    fn reserve(&self, costs: &[u64]) -> Result<Handle, String> {
        self.limiter
            .reserve(costs[0])
            .map(Handle::Single)
            .map_err(|e| format!("{e:?}"))
    }
    fn observe(
        &self,
        _resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), String> {
        self.limiter
            .observe(remaining, reset)
            .map_err(|e| format!("{e:?}"))
    }
    fn set_rate(&self, _resource: usize, rate: Rate) -> Result<(), String> {
        self.limiter.set_rate(rate).map_err(|e| format!("{e:?}"))
    }
}

pub(crate) struct Multi {
    pub(crate) limiter: MultiLimiter,
    pub(crate) windows: [bool; 2],
}

impl Multi {
    fn named(costs: &[u64]) -> Vec<(&'static str, u64)> {
        costs.iter().zip(NAMES).map(|(&c, n)| (n, c)).collect()
    }
}

impl Subject for Multi {
    fn resources(&self) -> usize {
        2
    }
    fn capacity(&self, resource: usize) -> u64 {
        capacity_of(
            &self.limiter.rate(NAMES[resource]).unwrap(),
            self.windows[resource],
        )
    }
    fn acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .acquire(&Multi::named(costs))
            .map(|p| Some(Handle::Multi(p)))
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire(&Multi::named(costs))
            .map(|p| Some(Handle::Multi(p)))
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire_for(&self, costs: &[u64], timeout: Duration) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire_for(&Multi::named(costs), timeout)
            .map(|p| Some(Handle::Multi(p)))
            .map_err(|e| format!("{e:?}"))
    }
    fn reserve(&self, costs: &[u64]) -> Result<Handle, String> {
        self.limiter
            .reserve(&Multi::named(costs))
            .map(Handle::Multi)
            .map_err(|e| format!("{e:?}"))
    }
    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), String> {
        self.limiter
            .observe(NAMES[resource], remaining, reset)
            .map_err(|e| format!("{e:?}"))
    }
    fn set_rate(&self, resource: usize, rate: Rate) -> Result<(), String> {
        self.limiter
            .set_rate(NAMES[resource], rate)
            .map_err(|e| format!("{e:?}"))
    }
}
