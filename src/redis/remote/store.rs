//! The Redis store as the limiter's [`StateStore`]: the seam's operations on the receipts this
//! process keeps and the script's decisions (`remote.rs`).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::{Arg, Remote};
use crate::multi::LimitError;
use crate::redis::RedisError;
use crate::reservation::{Cancel, Patience, PerResource, SettleFrom};
use crate::state::{Reserved, StateStore};
use crate::time::Wake;
use crate::{Clock, MultiLimiter, Nanos, Rate};

impl Cancel for Remote {
    fn cancel(&self, id: u64) {
        if let Some(receipt) = self.take(id) {
            if let Err(error) = self.refund(&receipt, None, true) {
                event!(warn, "a cancel could not reach Redis: {error}");
            }
        }
    }

    fn withdraw(&self, id: u64) -> bool {
        let waiting = self
            .receipts
            .lock()
            .get(&id)
            .is_some_and(|receipt| receipt.local_at > self.clock.now());
        if waiting {
            Cancel::cancel(self, id);
        }
        waiting
    }
}

impl StateStore for Remote {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn reserve(
        &self,
        limiter: &MultiLimiter,
        slots: &[u64],
        patience: Patience,
    ) -> Result<Reserved, LimitError> {
        let permit = self.reserve_shared(limiter, PerResource::from_slice(slots), patience)?;
        Ok(Reserved::Made(Box::new(permit)))
    }

    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        let receipts = self.receipts.lock();
        let receipt = receipts.get(&id)?;
        Some((receipt.local_at, receipt.binding))
    }

    fn wait(&self, _limiter: &MultiLimiter, id: u64) -> Result<(), LimitError> {
        let mut guard = self.receipts.lock();
        self.clock.block_on(
            &self.changed,
            &mut guard,
            self.precision,
            |receipts, now| match receipts.get(&id) {
                None => Wake::Ready(Err(LimitError::Cancelled)),
                Some(receipt) if receipt.local_at <= now => Wake::Ready(Ok(())),
                Some(receipt) => Wake::At(Some(receipt.local_at)),
            },
        )
    }

    fn forget(&self, id: u64) {
        let Some(receipt) = self.take(id) else {
            return;
        };
        if let Some(holder) = &receipt.holder {
            if let Err(error) = self.run("release", &[Arg::Str(holder)]) {
                event!(
                    warn,
                    "a slot could not be released (its lease frees it): {error}"
                );
            }
        }
    }

    fn settle(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
        // Redis keeps no charge's instant to lower a charge where it stands: from now, later,
        // so never less safe.
        _from: SettleFrom,
    ) -> Result<(), LimitError> {
        self.settle_shared(limiter, id, resource, actual)
    }

    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel> {
        self
    }

    /// Shared on Redis, the waiters' reservations are not told apart: they count in `used`.
    /// (Redis unreachable: nothing is known to be used.)
    fn usage(&self, resources: usize) -> Vec<(u64, u64)> {
        match self.usage_shared() {
            Ok((used, _)) => used.into_iter().map(|used| (used, 0)).collect(),
            Err(_) => vec![(0, 0); resources],
        }
    }

    fn waiting(&self) -> u64 {
        0
    }

    fn permits_held(&self, counted: u64) -> u64 {
        if self.max_parallel == 0 {
            return counted;
        }
        self.usage_shared().map_or(counted, |(_, active)| active)
    }

    fn set_rate(
        &self,
        limiter: &MultiLimiter,
        resource: usize,
        _before: &Rate,
        _rate: &Rate,
    ) -> Result<(), LimitError> {
        let name = limiter.name_of(resource);
        Err(LimitError::Redis(RedisError::Unsupported {
            what: format!(
                "set_rate({name:?}): the limits of a shared limiter are its parameters; \
                 start every process with the new limits under a new name"
            ),
        }))
    }

    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError> {
        self.observe_shared(resource, remaining, reset)
    }

    fn pause_until(&self, until: Nanos) {
        self.pause_shared(until);
    }

    /// Whether this process holds no receipt (nothing distinguishes it from a new one here).
    fn is_idle(&self) -> bool {
        self.receipts.lock().is_empty()
    }

    fn on_clock(&self, fresh: &MultiLimiter) -> Result<Arc<dyn StateStore>, LimitError> {
        let remote = Remote::new(fresh.limits(), fresh.clock().clone(), self.state.clone())
            .map_err(LimitError::Redis)?;
        Ok(remote)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
