//! The default store: a multi-resource limiter's state in this process's memory, on the
//! reservation core over its [`Meters`] (one algorithm per slot).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::StateStore;
use crate::multi::{window_of, LimitError, Permit};
use crate::reservation::{Accounts, Cancel, Core, Meters, Patience, PerResource, Refusal};
use crate::{Clock, MultiLimiter, Nanos, Rate};

impl StateStore for Core<Meters> {
    fn clock(&self) -> &Clock {
        Core::clock(self)
    }

    fn reserve(
        &self,
        limiter: &MultiLimiter,
        slots: PerResource<u64>,
        patience: Patience,
    ) -> Result<Permit, LimitError> {
        let ticket = Core::reserve(self, &slots, patience, true)
            .map_err(|refusal| limiter.error(refusal))?;
        Ok(Permit::new(
            limiter.clone(),
            ticket.id,
            slots,
            !ticket.waiting,
        ))
    }

    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        Core::plan(self, id)
    }

    fn wait(&self, limiter: &MultiLimiter, id: u64) -> Result<(), LimitError> {
        Core::wait(self, id).map_err(|refusal| limiter.error(refusal))
    }

    fn forget(&self, id: u64) {
        Core::forget(self, id);
    }

    fn settle(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
    ) -> Result<(), LimitError> {
        settle_slots(limiter, resource, |slot| {
            Core::settle(self, id, slot, actual)
        })
    }

    fn settle_in_place(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
    ) -> Result<(), LimitError> {
        settle_slots(limiter, resource, |slot| {
            Core::settle_in_place(self, id, slot, actual)
        })
    }

    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel> {
        self
    }

    fn usage(&self, resources: usize) -> Vec<(u64, u64)> {
        self.read(|ledger, now| {
            let gone = ledger.accounts_of_calls_gone(now);
            (0..resources)
                .map(|index| {
                    let used = gone.in_use(index, now);
                    (used, ledger.reserved_by_waiters(index, now))
                })
                .collect()
        })
    }

    fn waiting(&self) -> u64 {
        self.read(|ledger, _| ledger.waiting()) as u64
    }

    fn slots_held(&self) -> Option<u64> {
        None
    }

    fn set_rate(
        &self,
        limiter: &MultiLimiter,
        resource: usize,
        before: &Rate,
        rate: &Rate,
    ) -> Result<(), LimitError> {
        let invalid = |error| LimitError::InvalidRate {
            resource: limiter.name_of(resource).to_owned(),
            error,
        };
        rate.pace().map_err(invalid)?;
        let pacer = limiter.pacer_of(resource);
        // A window counts the quantity; its pacing slot, the burst.
        let counted = match pacer {
            Some(_) => window_of(rate).map_err(invalid)?,
            None => *rate,
        };
        let old = before.pace().map_err(invalid)?;
        self.change(|ledger, now| {
            ledger.accounts.set_rate(resource, now, &counted)?;
            ledger.remap_marks(resource, |meters, mark| {
                meters.mark_after_set_rate(resource, now, mark, &old)
            });
            if let Some(pacer) = pacer {
                let paced = |rate: &Rate| rate.capacity() < rate.quantity();
                ledger.accounts.set_pacing(pacer, now, rate)?;
                if paced(before) && paced(rate) {
                    ledger.remap_marks(pacer, |meters, mark| {
                        meters.mark_after_set_rate(pacer, now, mark, &old)
                    });
                }
            }
            Ok::<_, crate::RateError>(())
        })
        .map_err(invalid)
    }

    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError> {
        self.change(|ledger, now| match (remaining, reset) {
            (0, Some(reset)) => ledger.hold(Some(resource), now.saturating_add(Nanos::from(reset))),
            _ => ledger.accounts.observe(resource, now, remaining),
        });
        Ok(())
    }

    fn pause_until(&self, until: Nanos) {
        self.change(|ledger, _| ledger.hold(None, until));
    }

    fn is_idle(&self) -> bool {
        self.read(|ledger, now| ledger.is_idle(now))
    }

    fn on_clock(&self, fresh: &MultiLimiter) -> Result<Arc<dyn StateStore>, LimitError> {
        Ok(Arc::clone(fresh.store()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Settles `resource` with `settle`, and a window's pacing slot first: its capacity (the burst)
/// is the smaller, so a refusal leaves both unchanged.
fn settle_slots(
    limiter: &MultiLimiter,
    resource: usize,
    settle: impl Fn(usize) -> Result<(), Refusal>,
) -> Result<(), LimitError> {
    let settle = |slot| settle(slot).map_err(|refusal| limiter.error(refusal));
    if let Some(pacer) = limiter.pacer_of(resource) {
        settle(pacer)?;
    }
    settle(resource)
}
