//! A user-defined algorithm that panics inside one of its methods: the panic reaches the caller
//! that made the call, and the limiter it ran in keeps working afterwards for everyone else.
//! No lock is left poisoned, no waiter hangs (the limiters' locks are parking_lot's, released on
//! unwind; a change that panicked half-way must not leave the queue without its plans).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use tollgate::algorithm::{Algorithm, GcraVirtual, Refunded};
use tollgate::{Clock, Limits, MultiLimiter, Nanos, Rate, RateError, RateLimiter};

/// GCRA, except that it panics when told a server has exactly 7 left, or charged 13.
#[derive(Clone, Debug)]
struct Fragile(GcraVirtual);

impl Algorithm for Fragile {
    fn new(rate: &Rate) -> Result<Self, RateError> {
        GcraVirtual::new(rate).map(Fragile)
    }
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
        self.0.set_rate(now, rate)
    }
    fn capacity(&self) -> u64 {
        self.0.capacity()
    }
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        self.0.conforms_at(now, cost)
    }
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        assert_ne!(cost, 13, "a user algorithm's bug");
        self.0.charge_at(now, at, cost)
    }
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        self.0.refund_charge(now, mark, cost)
    }
    fn refund(&mut self, now: Nanos, cost: u64) {
        self.0.refund(now, cost);
    }
    fn in_use(&self, now: Nanos) -> u64 {
        self.0.in_use(now)
    }
    fn observe(&mut self, now: Nanos, remaining: u64) {
        assert_ne!(remaining, 7, "a user algorithm's bug");
        self.0.observe(now, remaining);
    }
}

/// Runs `f` on another thread and fails the test if it takes longer than 10 s (a hang).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || sent.send(f()));
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("hung after a panic in a user algorithm")
}

#[test]
fn a_panic_in_observe_leaves_the_waiters_planned_and_the_limiter_working() {
    let (clock, time) = Clock::mock();
    let limits = Limits::new().rate_with::<Fragile>("credits", Rate::per_second(20));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let _all = api.acquire(&[("credits", 20)]).unwrap();
    let waiter = api.reserve(&[("credits", 1)]).unwrap();
    let planned = waiter.ready_at();
    assert_eq!(planned, Some(Nanos::from_millis(50)));

    let panicked = catch_unwind(AssertUnwindSafe(|| api.observe("credits", 7, None)));
    assert!(panicked.is_err(), "the panic reaches the caller");

    // The waiter keeps its plan and goes then; the limiter still decides.
    assert_eq!(waiter.ready_at(), planned);
    // A newcomer still queues behind it (FIFO).
    let newcomer = api.reserve(&[("credits", 1)]).unwrap();
    assert_eq!(newcomer.ready_at(), Some(Nanos::from_millis(100)));
    newcomer.cancel();
    let api2 = api.clone();
    within_10s(move || {
        waiter.wait().unwrap();
        drop(api2.acquire(&[("credits", 1)]).unwrap());
    });
    assert_eq!(time.now(), Nanos::from_millis(100));
    assert_eq!(api.usage()[0].1.reserved, 0);
}

#[test]
fn a_panic_in_a_charge_refuses_that_call_only() {
    let (clock, _time) = Clock::mock();
    let limits = Limits::new().rate_with::<Fragile>("credits", Rate::per_second(20));
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock.clone());
    let panicked = catch_unwind(AssertUnwindSafe(|| api.acquire(&[("credits", 13)])));
    assert!(panicked.is_err());
    let api2 = api.clone();
    within_10s(move || drop(api2.acquire(&[("credits", 5)]).unwrap()));
    // Nothing half-taken by the call that panicked: 20 - 5 left.
    assert_eq!(api.usage()[0].1.used, 5);

    let single = RateLimiter::<Fragile>::with_algorithm(Rate::per_second(20)).with_clock(clock);
    let panicked = catch_unwind(AssertUnwindSafe(|| single.acquire_n(13)));
    assert!(panicked.is_err());
    within_10s(move || single.acquire_n(5).unwrap());
}
