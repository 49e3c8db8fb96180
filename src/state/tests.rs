//! A third store, written as a maintainer would add one: one type implementing [`StateStore`]
//! (here over the in-memory store, recording what it is asked) and a limiter placed on it with
//! `MultiLimiter::with_store`. Every operation of the public types reaches it: nothing in
//! `multi/` goes around the seam.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Reserved, StateStore};
use crate::multi::LimitError;
use crate::reservation::{Cancel, Patience, SettleFrom};
use crate::{Clock, Limits, MultiLimiter, Nanos, Rate, REQUESTS, TOKENS};

/// The in-memory store, recording the name of every operation asked of it.
struct Recording {
    inner: Arc<dyn StateStore>,
    asked: Mutex<Vec<&'static str>>,
}

impl Recording {
    fn ask(&self, operation: &'static str) -> &dyn StateStore {
        self.asked.lock().push(operation);
        &*self.inner
    }
}

impl Cancel for Recording {
    fn cancel(&self, id: u64) {
        self.ask("cancel").cancel(id);
    }
    fn withdraw(&self, id: u64) -> bool {
        self.ask("withdraw").withdraw(id)
    }
}

impl StateStore for Recording {
    fn clock(&self) -> &Clock {
        self.inner.clock()
    }
    fn reserve(
        &self,
        limiter: &MultiLimiter,
        slots: &[u64],
        patience: Patience,
    ) -> Result<Reserved, LimitError> {
        self.ask("reserve").reserve(limiter, slots, patience)
    }
    fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        self.ask("plan").plan(id)
    }
    fn wait(&self, limiter: &MultiLimiter, id: u64) -> Result<(), LimitError> {
        self.ask("wait").wait(limiter, id)
    }
    fn forget(&self, id: u64) {
        self.ask("forget").forget(id);
    }
    fn settle(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
        from: SettleFrom,
    ) -> Result<(), LimitError> {
        self.ask("settle")
            .settle(limiter, id, resource, actual, from)
    }
    fn canceller(self: Arc<Self>) -> Arc<dyn Cancel> {
        self
    }
    fn usage(&self, resources: usize) -> Vec<(u64, u64)> {
        self.ask("usage").usage(resources)
    }
    fn waiting(&self) -> u64 {
        self.ask("waiting").waiting()
    }
    fn permits_held(&self, counted: u64) -> u64 {
        self.ask("permits_held").permits_held(counted)
    }
    fn set_rate(
        &self,
        limiter: &MultiLimiter,
        resource: usize,
        before: &Rate,
        rate: &Rate,
    ) -> Result<(), LimitError> {
        self.ask("set_rate")
            .set_rate(limiter, resource, before, rate)
    }
    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError> {
        self.ask("observe").observe(resource, remaining, reset)
    }
    fn pause_until(&self, until: Nanos) {
        self.ask("pause_until").pause_until(until);
    }
    fn is_idle(&self) -> bool {
        self.ask("is_idle").is_idle()
    }
    fn on_clock(&self, fresh: &MultiLimiter) -> Result<Arc<dyn StateStore>, LimitError> {
        self.ask("on_clock").on_clock(fresh)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn every_operation_of_a_multi_limiter_and_its_permits_goes_through_its_store() {
    let (clock, _time) = Clock::mock();
    let limits = Limits::new().rpm(60).tpm(1_000).max_parallel(2);
    let memory = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let store = Arc::new(Recording {
        inner: Arc::clone(memory.store()),
        asked: Mutex::new(Vec::new()),
    });
    let limiter = memory.with_store(Arc::clone(&store) as Arc<dyn StateStore>);

    let permit = limiter.acquire(&[(TOKENS, 600)]).unwrap();
    permit.settle(TOKENS, 100).unwrap();
    let later = limiter.reserve(&[(TOKENS, 1_000)]).unwrap();
    assert_eq!(later.ready_at(), Some(Nanos::from_secs(6)));
    assert_eq!(later.waited_for(), Some(TOKENS));
    later.cancel_handle().cancel();
    assert_eq!(later.wait(), Err(LimitError::Cancelled));
    drop((permit, later));
    assert_eq!(limiter.usage()[1].1.used, 100);
    assert_eq!(limiter.permits().used, 0);
    limiter.set_rate(REQUESTS, Rate::per_minute(30)).unwrap();
    limiter
        .observe(TOKENS, 0, Some(Duration::from_secs(1)))
        .unwrap();
    limiter.pause_until(Nanos::from_secs(2));
    let _ = limiter.clone().with_clock(Clock::mock().0);

    let asked = store.asked.lock().clone();
    for operation in [
        "reserve",
        "settle",
        "plan",
        "cancel",
        "wait",
        "forget",
        "usage",
        "waiting",
        "permits_held",
        "set_rate",
        "observe",
        "pause_until",
        "on_clock",
    ] {
        assert!(
            asked.contains(&operation),
            "{operation} not asked: {asked:?}"
        );
    }
}
