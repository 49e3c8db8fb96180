//! The default store: a multi-resource limiter's state in this process's memory, on the
//! reservation core over its [`Meters`] (one algorithm per slot). A call that cannot go in time
//! while nobody is queued is refused without the core's lock, from the meters' published words
//! ([`MeterWords`]); one they show fitting now takes the lock only to be charged, while nothing
//! was published since; everything else is decided under the lock.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::{charge_through_a_permit, Reserved, StateStore};
use crate::multi::{window_of, LimitError};
use crate::reservation::{
    has_place, Accounts, Cancel, Core, MeterWords, Meters, Patience, Refusal, SettleFrom, Verdict,
};
use crate::{Clock, MultiLimiter, Nanos, Rate};

/// The in-memory store: the core over the meters, and the meters' words as a rejection reads
/// them without its lock.
pub(crate) struct InMemory {
    pub(super) core: Core<Meters>,
    pub(super) words: Arc<MeterWords>,
}

impl InMemory {
    pub(crate) fn new(core: Core<Meters>) -> InMemory {
        let words = core.read(|ledger, _| Arc::clone(ledger.accounts.words()));
        InMemory { core, words }
    }

    /// `limiter`'s store if it is in memory (`None` on Redis, or any other store).
    pub(crate) fn of(limiter: &MultiLimiter) -> Option<&InMemory> {
        limiter.store().as_any().downcast_ref::<InMemory>()
    }

    /// The reservation core this store decides with.
    pub(crate) fn core(&self) -> &Core<Meters> {
        &self.core
    }
}

impl Cancel for InMemory {
    fn cancel(&self, id: u64) {
        self.core.cancel(id);
    }
    fn withdraw(&self, id: u64) -> bool {
        self.core.withdraw(id)
    }
}

impl StateStore for InMemory {
    fn clock(&self) -> &Clock {
        self.core.clock()
    }

    #[inline]
    fn reserve(
        &self,
        limiter: &MultiLimiter,
        slots: &[u64],
        patience: Patience,
    ) -> Result<Reserved, LimitError> {
        // One reading for both: unclamped, the published view's latest instant clamps it, and
        // under the lock the ledger's.
        let reading = self.core.clock().now_unordered();
        let ticket = match self.words.read(slots, patience, reading) {
            Verdict::Refused(refusal) => return Err(limiter.error(refusal)),
            // Decided on the view: the lock only commits it, while the view stands.
            Verdict::FitsNow(version) => self
                .core
                .reserve_as_published(slots, patience, version, reading),
            Verdict::Locked => self.core.reserve_read(slots, patience, true, reading),
        }
        .map_err(|refusal| limiter.error(refusal))?;
        Ok(Reserved::Kept {
            id: ticket.id,
            went: !ticket.waiting,
            counted: has_place(ticket.id),
        })
    }

    /// Decided on the published view as [`reserve`](Self::reserve) is; a call that fits now is
    /// only charged under the lock, while the view stands. Anything else (the view changed,
    /// or only the lock can tell) goes the reservation's way, dropped at once.
    #[inline]
    fn try_charge(&self, limiter: &MultiLimiter, slots: &[u64]) -> Result<(), LimitError> {
        let reading = self.core.clock().now_unordered();
        match self.words.read(slots, Patience::For(Nanos::ZERO), reading) {
            Verdict::Refused(refusal) => Err(limiter.error(refusal)),
            Verdict::FitsNow(version) if self.core.charge_as_published(slots, version, reading) => {
                Ok(())
            }
            Verdict::FitsNow(_) | Verdict::Locked => charge_through_a_permit(limiter, slots),
        }
    }

    fn reserve_in_flight(
        &self,
        limiter: &MultiLimiter,
        slots: &[u64],
        patience: Patience,
    ) -> Result<Reserved, LimitError> {
        // Not from the published view: its meters do not hold units in flight. The rates'
        // slots fly; their pacing slots after them space starts: charged at the grant.
        let rates = limiter.limits().resources.len();
        let ticket = (self.core.reserve_in_flight(slots, rates, patience))
            .map_err(|refusal| limiter.error(refusal))?;
        Ok(Reserved::Kept {
            id: ticket.id,
            went: !ticket.waiting,
            // Kept in a place only when it holds nothing in flight (it costs nothing).
            counted: has_place(ticket.id),
        })
    }

    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        self.core.plan(id)
    }

    fn wait(&self, limiter: &MultiLimiter, id: u64) -> Result<(), LimitError> {
        self.core.wait(id).map_err(|refusal| limiter.error(refusal))
    }

    fn forget(&self, id: u64) {
        self.core.forget(id);
    }

    fn settle(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
        from: SettleFrom,
    ) -> Result<(), LimitError> {
        settle_slots(limiter, resource, |slot| {
            self.core.settle(id, slot, actual, from)
        })
    }

    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel> {
        self
    }

    fn usage(&self, resources: usize) -> Vec<(u64, u64)> {
        self.core.read(|ledger, now| {
            let gone = ledger.accounts_of_calls_gone(now);
            (0..resources)
                .map(|index| {
                    let in_use = gone.in_use(index, now);
                    let used = in_use.saturating_add(ledger.in_flight_gone(index));
                    (used, ledger.reserved_by_waiters(index, now))
                })
                .collect()
        })
    }

    fn waiting(&self) -> u64 {
        self.core.read(|ledger, _| ledger.waiting()) as u64
    }

    fn permits_held(&self, counted: u64) -> u64 {
        // A permit kept in a place counts until its drop frees the place.
        counted + self.core.read(|ledger, _| ledger.kept_in_places())
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
        self.core
            .change(|ledger, now| {
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
        self.core.change(|ledger, now| match (remaining, reset) {
            (0, Some(reset)) => ledger.hold(Some(resource), now.saturating_add(Nanos::from(reset))),
            _ => ledger.observe_remaining(resource, now, remaining),
        });
        Ok(())
    }

    fn pause_until(&self, until: Nanos) {
        self.core.change(|ledger, _| ledger.hold(None, until));
    }

    fn is_idle(&self) -> bool {
        self.core.read(|ledger, now| ledger.is_idle(now))
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
