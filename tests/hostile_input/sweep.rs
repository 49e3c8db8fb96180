//! Every public function taking a duration, a cost, a rate or a name, called with the extremes
//! (0, 1, `u64::MAX`, `Duration::ZERO`, `Duration::MAX`, empty and duplicate names) under a
//! watchdog: each call returns, in time, a typed error or the documented behaviour. Nothing
//! panics, hangs or overflows. Limiters run on mock clocks, so a wait that is allowed returns
//! at once with time moved.

use std::sync::mpsc;
use std::time::Duration;

use tollgate::algorithm::{
    Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{
    AcquireError, AdaptiveSemaphore, Clock, CreditSemaphore, LimitError, Limits, ModelLimiter,
    MultiLimiter, Nanos, Rate, RateLimiter,
};

const COSTS: [u64; 4] = [0, 1, 2, u64::MAX];
const DURATIONS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_secs(1),
    Duration::MAX,
];

fn rates() -> Vec<Rate> {
    let mut rates = Vec::new();
    for quantity in [0, 1, 3, u64::MAX] {
        for period in DURATIONS {
            for burst in [None, Some(0), Some(1), Some(u64::MAX)] {
                let rate = Rate::new(quantity, period);
                rates.push(burst.map_or(rate, |burst| rate.burst(burst)));
            }
        }
    }
    rates
}

/// Runs `case` on a thread; it must finish within 20 s (whatever it asserts).
fn watchdog(name: &str, case: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        case();
        done.send(()).ok();
    });
    match finished.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => worker.join().unwrap(),
        Err(_) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("{name}: hung"),
        },
    }
}

/// The errors a limiter may answer an extreme call with.
fn typed(result: Result<(), AcquireError>) {
    if let Err(err) = result {
        assert!(!err.to_string().is_empty());
    }
}

fn sweep_rate_limiter<A: Algorithm>() {
    for rate in rates() {
        let (clock, time) = Clock::mock();
        let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock.clone());
        assert_eq!(
            RateLimiter::<A>::try_with_algorithm(rate).is_ok(),
            // The rate's own validation, and what the algorithm can mean (a bare window takes
            // no burst: `RateError::BurstOnWindow`).
            A::new(&rate).is_ok()
        );
        for cost in COSTS {
            typed(limiter.try_acquire_n(cost));
            typed(limiter.acquire_n(cost)); // the mock clock jumps to its instant
            for wait in DURATIONS {
                typed(limiter.try_acquire_for(cost, wait));
            }
            typed(limiter.try_acquire_until(cost, Nanos::ZERO));
            typed(limiter.try_acquire_until(cost, Nanos::MAX));
            if let Ok(reservation) = limiter.reserve(cost) {
                typed(reservation.settle(cost));
                typed(reservation.settle(u64::MAX));
                reservation.cancel();
            }
        }
        for remaining in COSTS {
            for reset in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
                limiter.observe(remaining, reset).ok();
                typed(limiter.try_acquire());
            }
        }
        for other in [
            Rate::per_second(0),
            Rate::new(u64::MAX, Duration::MAX),
            Rate::per_second(5),
        ] {
            match limiter.set_rate(other) {
                Ok(()) => assert_eq!(limiter.rate(), other),
                Err(err) => assert_eq!(Err(err), other.validate()),
            }
        }
        time.advance(Duration::MAX);
        typed(limiter.try_acquire());
        let _ = limiter.stats();
    }
}

#[test]
fn rate_limiters_answer_every_extreme_with_a_typed_error_or_the_documented_behaviour() {
    watchdog("gcra", sweep_rate_limiter::<GcraVirtual>);
    watchdog("gcra continuous", sweep_rate_limiter::<GcraContinuous>);
    watchdog("token bucket", sweep_rate_limiter::<TokenBucket>);
    watchdog("leaky bucket", sweep_rate_limiter::<LeakyBucket>);
    watchdog("sliding window", sweep_rate_limiter::<SlidingWindow>);
}

#[test]
fn rates_parse_and_validate_without_panicking() {
    for rate in rates() {
        let _ = rate.validate();
        let _ = rate.pace();
        if rate.validate().is_ok() {
            assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
        }
    }
    for text in [
        "",
        "/",
        "1/",
        "/s",
        "0/s",
        "1/0s",
        "18446744073709551616/s",
        "1/s, burst",
        "1/s,",
        "1/99999999999999999999h",
        "1 / s",
        "1/s, burst 0",
    ] {
        let _ = text.parse::<Rate>();
    }
}

#[test]
fn multi_and_model_limiters_answer_every_extreme() {
    watchdog("multi", || {
        for rate in rates() {
            let (clock, _time) = Clock::mock();
            let limits = Limits::new()
                .rate("", rate)
                .window("w", rate)
                .max_hold(Duration::MAX);
            let api = match MultiLimiter::new(limits) {
                Ok(api) => api.with_clock(clock),
                Err(LimitError::InvalidRate { .. }) => {
                    assert!(rate.validate().is_err());
                    continue;
                }
                Err(other) => panic!("{other}"),
            };
            for cost in COSTS {
                for names in [
                    &[("", cost)][..],
                    &[("", cost), ("", cost)],
                    &[("w", cost), ("", 1)],
                    &[("missing", cost)],
                ] {
                    let _ = api.try_acquire(names);
                    let _ = api.acquire(names);
                    for wait in DURATIONS {
                        if let Ok(permit) = api.try_acquire_for(names, wait) {
                            assert!(permit.settle("", u64::MAX).is_ok());
                            assert!(permit.settle("missing", 1).is_err());
                        }
                    }
                    let _ = api.try_acquire_until(names, Nanos::MAX);
                }
                for reset in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
                    api.observe("", cost, reset).unwrap();
                    assert!(api.observe("missing", cost, reset).is_err());
                }
            }
            let _ = api.usage();
        }
        assert_eq!(
            MultiLimiter::new(Limits::new().max_parallel(0)).unwrap_err(),
            LimitError::ZeroParallel
        );
    });
    watchdog("model", || {
        let (clock, _time) = Clock::mock();
        let models = ModelLimiter::builder()
            .model("", Limits::new().rpm(u64::MAX).tpm(1))
            .model("", Limits::new().rpm(1))
            .with_clock(clock)
            .build()
            .unwrap();
        assert!(models.try_acquire("", &[]).is_ok());
        assert!(matches!(
            models.try_acquire("", &[]),
            Err(LimitError::NotInTime { .. })
        ));
        assert!(matches!(
            models.try_acquire("unknown", &[]),
            Err(LimitError::UnknownModel(_))
        ));
        assert!(ModelLimiter::builder()
            .default(Limits::new().rpm(0))
            .build()
            .is_err());
    });
}

#[test]
fn semaphores_answer_every_extreme() {
    watchdog("credit", || {
        for capacity in [0, 1, u64::MAX] {
            let (clock, _time) = Clock::mock();
            let sem = CreditSemaphore::new(capacity).with_clock(clock);
            for credits in COSTS {
                for refund_after in DURATIONS {
                    let _ = sem.try_transact(credits, refund_after, || ());
                    let _ = sem.try_transact_for(credits, refund_after, Duration::ZERO, || ());
                }
            }
            let _ = sem.stats();
        }
    });
    watchdog("adaptive", || {
        for limit in [0, 1, u64::MAX] {
            for step_time in DURATIONS {
                let (clock, _time) = Clock::mock();
                let built = AdaptiveSemaphore::builder(limit)
                    .step(u64::MAX)
                    .step_time(step_time)
                    .max_limit(u64::MAX)
                    .with_clock(clock)
                    .build();
                let Ok(sem) = built else { continue };
                let _ = sem.try_acquire();
                let _ = sem.try_acquire_for(Duration::ZERO);
                for wait in DURATIONS {
                    sem.backpressure(wait);
                }
                let _ = sem.limit();
                let _ = sem.stats();
            }
        }
    });
}
