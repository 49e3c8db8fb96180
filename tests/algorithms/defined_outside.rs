//! An algorithm written outside the crate, in one file, runs unchanged in every limiter: a
//! `RateLimiter`, a `MultiLimiter`, a `ModelLimiter` and the `Runner`, all on mock clocks.
//!
//! The algorithm is a **fixed window**: at most `quantity` per period, counted in whole periods
//! since the clock's origin. It decides unlike every built-in one (three at 0.9 s and three
//! more at 1.0 s, which GCRA and a sliding window of 3/s both refuse), so each assertion below
//! shows that the limiter asked this algorithm, not another.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tollgate::algorithm::{Algorithm, Decision, Refunded};
use tollgate::{
    AcquireError, Clock, LimitError, Limits, ModelLimiter, MultiLimiter, Nanos, Rate, RateError,
    RateLimiter, Resource, Runner, REQUESTS,
};

/// At most `limit` per period, counted in whole periods (window `i` is `[i·period, (i+1)·period)`).
/// A charge counts in the window of the instant it goes; charges for later windows (callers
/// waiting) are kept per window.
#[derive(Clone, Debug)]
struct FixedWindow {
    limit: u64,
    period: u64,
    latest: Nanos,
    /// Units per window index, the current window and later ones only.
    counts: BTreeMap<u64, u64>,
}

impl FixedWindow {
    fn index(&self, at: Nanos) -> u64 {
        at.as_u64() / self.period
    }

    fn start(&self, index: u64) -> Nanos {
        Nanos::new(index.saturating_mul(self.period))
    }

    fn counted(&self, index: u64) -> u64 {
        self.counts.get(&index).copied().unwrap_or(0)
    }

    /// Takes in `now` and forgets the windows before its own.
    fn advance(&mut self, now: Nanos) -> Nanos {
        self.latest = self.latest.max(now);
        let current = self.index(self.latest);
        self.counts = self.counts.split_off(&current);
        self.latest
    }

    fn add(&mut self, index: u64, cost: u64) {
        let units = self.counts.entry(index).or_default();
        *units = units.saturating_add(cost);
    }

    fn take(&mut self, index: u64, cost: u64) -> u64 {
        let Some(units) = self.counts.get_mut(&index) else {
            return 0;
        };
        let taken = cost.min(*units);
        *units -= taken;
        if *units == 0 {
            self.counts.remove(&index);
        }
        taken
    }
}

impl Algorithm for FixedWindow {
    fn new(rate: &Rate) -> Result<Self, RateError> {
        let pace = rate.pace()?;
        if rate.capacity() != rate.quantity() {
            return Err(RateError::BurstOnWindow { rate: *rate });
        }
        Ok(FixedWindow {
            limit: pace.quantity(),
            period: pace.period(),
            latest: Nanos::ZERO,
            counts: BTreeMap::new(),
        })
    }

    /// What is counted moves to the new current window.
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
        let mut next = FixedWindow::new(rate)?;
        let now = self.advance(now);
        let used = self.in_use(now);
        next.latest = now;
        if used > 0 {
            next.add(next.index(now), used);
        }
        *self = next;
        Ok(())
    }

    fn capacity(&self) -> u64 {
        self.limit
    }

    fn latest(&self) -> Nanos {
        self.latest
    }

    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        let now = now.max(self.latest);
        let mut index = self.index(now);
        while self.counted(index).saturating_add(cost) > self.limit {
            index += 1;
        }
        self.start(index).max(now)
    }

    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        let now = self.advance(now);
        let at = at.max(self.conforms_at(now, cost));
        let index = self.index(at);
        self.add(index, cost);
        self.start(index)
    }

    /// A usage that happened counts in the current window, even beyond the limit.
    fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        let now = self.advance(now);
        let index = self.index(now);
        self.add(index, cost);
        self.start(index)
    }

    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        self.advance(now);
        let index = self.index(mark);
        Refunded::units(self.take(index, cost))
    }

    fn refund(&mut self, now: Nanos, cost: u64) {
        let now = self.advance(now);
        let index = self.index(now);
        self.take(index, cost);
    }

    fn in_use(&self, now: Nanos) -> u64 {
        let current = self.index(now.max(self.latest));
        self.counts.range(current..).map(|(_, units)| units).sum()
    }
}

const MS: fn(u64) -> Nanos = Nanos::from_millis;

#[test]
fn the_algorithm_alone_counts_whole_periods() {
    let mut window = FixedWindow::new(&Rate::per_second(3)).unwrap();
    assert_eq!(window.try_take(MS(900), 3), Decision::Admitted);
    assert_eq!(window.try_take(MS(950), 1), Decision::NotBefore(MS(1_000)));
    assert_eq!(window.try_take(MS(1_000), 3), Decision::Admitted);
    assert_eq!(window.decide(MS(1_000), 4), Decision::Never { capacity: 3 });
    // A charge for the next window, refunded by its mark; one of the past window gives nothing.
    let mark = window.charge_at(MS(1_000), MS(1_000), 2);
    assert_eq!(mark, MS(2_000));
    assert_eq!(window.in_use(MS(1_000)), 5);
    assert_eq!(window.refund_charge(MS(1_500), mark, 2), Refunded::units(2));
    assert_eq!(
        window.refund_charge(MS(2_000), MS(1_000), 3),
        Refunded::units(0)
    );
    assert_eq!(window.available(MS(2_000)), 3);
}

#[test]
fn in_a_rate_limiter() {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<FixedWindow>::with_algorithm(Rate::per_second(3)).with_clock(clock);
    time.advance(Duration::from_millis(900));
    for _ in 0..3 {
        limiter.try_acquire().unwrap();
    }
    let refused = limiter.try_acquire().unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_millis(100)));
    // Waits for the next whole period, not for a unit to regenerate.
    limiter.acquire().unwrap();
    assert_eq!(time.now(), MS(1_000));
    limiter.try_acquire_n(2).unwrap();
    assert_eq!(limiter.available(), 0);
    assert_eq!(limiter.stats().in_use, 3);
    // A reservation counts in the window it goes in; cancelled, it gives its units back.
    let reservation = limiter.reserve(3).unwrap();
    assert_eq!(reservation.ready_at(), MS(2_000));
    reservation.cancel();
    assert_eq!(limiter.reserve(3).unwrap().ready_at(), MS(2_000));
    assert!(matches!(
        limiter.try_acquire_n(4),
        Err(AcquireError::ExceedsCapacity {
            cost: 4,
            capacity: 3
        })
    ));
    // The algorithm's own refusal of a rate it cannot mean, at construction.
    assert_eq!(
        RateLimiter::<FixedWindow>::try_with_algorithm(Rate::per_second(3).burst(1)).unwrap_err(),
        RateError::BurstOnWindow {
            rate: Rate::per_second(3).burst(1)
        }
    );
}

#[test]
fn in_a_multi_limiter_beside_a_built_in_algorithm() {
    let (clock, time) = Clock::mock();
    let limits = Limits::new()
        .rate_with::<FixedWindow>(REQUESTS, Rate::per_second(3))
        .tpm(60_000); // GCRA: 1,000 tokens per second
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    time.advance(Duration::from_millis(900));
    for _ in 0..3 {
        drop(api.try_acquire(&[("tokens", 10)]).unwrap());
    }
    assert!(api.try_acquire(&[]).is_err());
    drop(api.acquire(&[("tokens", 10)]).unwrap());
    assert_eq!(time.now(), MS(1_000));
    // Settled to nothing, a request gives its unit of the window back.
    let permit = api.acquire(&[(REQUESTS, 2)]).unwrap();
    assert_eq!(time.now(), MS(1_000));
    assert!(api.try_acquire(&[]).is_err());
    permit.settle(REQUESTS, 0).unwrap();
    drop(api.try_acquire(&[(REQUESTS, 2)]).unwrap());
    assert!(api.try_acquire(&[]).is_err());
    // A waiting reservation counts in the next window; cancelled, it leaves that window whole.
    let waiting = api.reserve(&[(REQUESTS, 3)]).unwrap();
    assert_eq!(waiting.ready_at(), Some(MS(2_000)));
    waiting.cancel();
    time.advance(Duration::from_millis(1_000));
    for _ in 0..3 {
        drop(api.try_acquire(&[]).unwrap());
    }
    // A new rate through the algorithm's own `set_rate`: the window's three still count.
    api.set_rate(REQUESTS, Rate::per_second(5)).unwrap();
    for _ in 0..2 {
        drop(api.try_acquire(&[]).unwrap());
    }
    assert!(api.try_acquire(&[]).is_err());
    // The algorithm's refusal names the resource.
    let invalid = MultiLimiter::new(
        Limits::new().rate_with::<FixedWindow>("uploads", Rate::per_second(3).burst(1)),
    )
    .unwrap_err();
    assert!(
        matches!(&invalid, LimitError::InvalidRate { resource, error: RateError::BurstOnWindow { .. } } if resource == "uploads"),
        "{invalid:?}"
    );
}

#[test]
fn in_a_model_limiter() {
    let (clock, time) = Clock::mock();
    let models = ModelLimiter::builder()
        .model(
            "fixed",
            Limits::new().rate_with::<FixedWindow>(REQUESTS, Rate::per_second(3)),
        )
        .default(Limits::new().rpm(60))
        .with_clock(clock)
        .build()
        .unwrap();
    time.advance(Duration::from_millis(900));
    for _ in 0..3 {
        drop(models.try_acquire("fixed", &[]).unwrap());
    }
    assert!(models.try_acquire("fixed", &[]).is_err());
    for _ in 0..3 {
        drop(models.acquire("fixed", &[]).unwrap());
    }
    assert_eq!(time.now(), MS(1_000));
    drop(models.acquire("fixed", &[]).unwrap());
    assert_eq!(time.now(), MS(2_000));
}

#[test]
fn in_the_runner() {
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_millis(900));
    let starts = Mutex::new(Vec::new());
    let mut runner = Runner::new(|_: &u32| {
        starts.lock().unwrap().push(time.now().as_u64() / 1_000_000);
        Ok::<(), String>(())
    })
    .with_clock(clock)
    .resource(Resource::new(REQUESTS, Rate::per_second(3)).counted_with::<FixedWindow>())
    .max_concurrent(1);
    runner.schedule_all(0..7).unwrap();
    let (results, errors) = runner.run().into_parts();
    assert!(results.iter().all(Option::is_some), "{errors:?}");
    drop(runner);
    assert_eq!(
        starts.into_inner().unwrap(),
        [900, 900, 900, 1_000, 1_000, 1_000, 2_000]
    );
}

/// A store shared by processes runs its own scripts (GCRA and the exact window): an algorithm
/// it cannot run is refused by name, before any connection, not counted some other way.
#[cfg(feature = "redis")]
#[test]
fn a_shared_limiter_refuses_an_algorithm_it_cannot_run() {
    let state = tollgate::redis::RedisState::open("redis://127.0.0.1:1/", "fixed").unwrap();
    let limits = Limits::new().rate_with::<FixedWindow>(REQUESTS, Rate::per_second(3));
    let refused = MultiLimiter::new(limits)
        .unwrap()
        .shared_on(state)
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("FixedWindow") && message.contains("GCRA"),
        "{message}"
    );
}
