use std::fmt;
use std::sync::Arc;

use super::multi_limiter::{MultiState, Shared};
use super::LimitError;
use crate::Nanos;

/// What an admitted call holds: its concurrency slot (until dropped) and the costs it was
/// charged, which [`settle`](Permit::settle) reconciles with the actual usage.
///
/// Dropping a permit without settling keeps the estimate. A permit dropped during a panic's
/// unwinding frees its slot like any other.
///
/// ```
/// use tollgate::{Limits, MultiLimiter};
///
/// let api = MultiLimiter::new(Limits::new().rpm(100).tpm(10_000).max_parallel(4))?;
/// let mut permit = api.acquire(&[("requests", 1), ("tokens", 3_000)])?;  // the estimate
/// permit.settle(1_200);                                                  // what it used
/// assert_eq!(api.active(), 1);
/// drop(permit);
/// assert_eq!(api.active(), 0);
/// # Ok::<(), tollgate::LimitError>(())
/// ```
#[must_use = "the concurrency slot is released as soon as the permit is dropped"]
pub struct Permit {
    shared: Arc<Shared>,
    /// The cost charged to each resource, in the limits' order.
    costs: Vec<u64>,
    granted_at: Nanos,
    /// The resource that set `granted_at`, when the call had to wait for one.
    binding: Option<usize>,
    holds_slot: bool,
}

impl Permit {
    pub(super) fn new(
        shared: Arc<Shared>,
        costs: Vec<u64>,
        granted_at: Nanos,
        binding: Option<usize>,
        holds_slot: bool,
    ) -> Permit {
        Permit {
            shared,
            costs,
            granted_at,
            binding,
            holds_slot,
        }
    }

    /// The resource the call waited for, if it had to wait.
    pub fn waited_for(&self) -> Option<&str> {
        self.binding
            .map(|index| self.shared.limits.resources[index].name.as_str())
    }

    /// Gives everything back, as if the call never happened (a reservation abandoned before
    /// its call started).
    pub(crate) fn cancel(mut self) {
        let shared = Arc::clone(&self.shared);
        let mut state = shared.state.lock();
        let now = state.observe(shared.clock.now());
        for index in 0..self.costs.len() {
            self.reconcile(&mut state, now, index, 0);
        }
        drop(state); // before `self` drops, which takes the lock to free its slot
    }

    /// The instant the call was allowed to go.
    pub fn granted_at(&self) -> Nanos {
        self.granted_at
    }

    /// Reconciles the `"tokens"` estimate with the `actual` usage (no-op if the limits count no
    /// tokens). See [`settle_resource`](Self::settle_resource).
    pub fn settle(&mut self, actual: u64) {
        // Only "tokens" is settled here; limits without it have nothing to reconcile.
        self.settle_resource("tokens", actual).ok();
    }

    /// Reconciles what resource `name` was charged with the `actual` usage: the unused part is
    /// refunded (from this call's own entry, for a sliding window), the excess is charged now as
    /// debt that later calls wait for. Never blocks. Settling again reconciles with the last
    /// settled figure.
    pub fn settle_resource(&mut self, name: &str, actual: u64) -> Result<(), LimitError> {
        let index = self
            .shared
            .limits
            .resources
            .iter()
            .position(|resource| resource.name == name)
            .ok_or_else(|| LimitError::UnknownResource(name.to_owned()))?;
        let shared = Arc::clone(&self.shared);
        let mut state = shared.state.lock();
        let now = state.observe(shared.clock.now());
        self.reconcile(&mut state, now, index, actual);
        Ok(())
    }
}

impl Permit {
    /// Brings resource `index`'s charge to `actual`: refund the difference (from this call's
    /// own entry) or charge the excess as debt.
    fn reconcile(&mut self, state: &mut MultiState, now: Nanos, index: usize, actual: u64) {
        let charged = self.costs[index];
        let meter = state.meters[index].algorithm_mut();
        if actual < charged {
            meter.refund_charged_at(now, self.granted_at, charged - actual);
        } else if actual > charged {
            meter.charge(now, actual - charged);
        }
        self.costs[index] = actual;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.holds_slot {
            let mut state = self.shared.state.lock();
            state.active -= 1;
            self.shared.changed.notify_all();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("costs", &self.costs)
            .field("granted_at", &self.granted_at)
            .field("waited_for", &self.waited_for())
            .field("holds_slot", &self.holds_slot)
            .finish()
    }
}
