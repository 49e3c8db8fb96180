//! `MultiLimiter::try_charge`: the all-or-none decision without a permit. It must decide exactly
//! as `try_acquire` followed by the permit's drop, on every path (the lock-free view, the lock,
//! a queue, held slots, rate changes), and keep nothing.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::{
    Clock, LimitError, Limits, MockTime, MultiLimiter, Nanos, Rate, INPUT_TOKENS, REQUESTS, TOKENS,
};

use crate::support::proptest_config;

/// Two limiters of the same limits, each on its own mock clock moved in step: one decides with
/// `try_charge`, the other with `try_acquire` and an immediate drop.
struct SideBySide {
    charged: MultiLimiter,
    acquired: MultiLimiter,
    times: [MockTime; 2],
}

impl SideBySide {
    fn new(limits: Limits) -> SideBySide {
        let (one, first) = Clock::mock();
        let (two, second) = Clock::mock();
        SideBySide {
            charged: MultiLimiter::new(limits.clone()).unwrap().with_clock(one),
            acquired: MultiLimiter::new(limits).unwrap().with_clock(two),
            times: [first, second],
        }
    }

    fn advance(&self, by: Duration) {
        self.times.iter().for_each(|time| time.advance(by));
    }

    /// Both decide `costs`: their answers (a permit's drop at once), which must agree.
    fn decide(&self, costs: &[(&str, u64)]) -> Result<(), String> {
        let charged = self.charged.try_charge(costs).map_err(|e| e.to_string());
        let acquired = self
            .acquired
            .try_acquire(costs)
            .map(drop)
            .map_err(|e| e.to_string());
        assert_eq!(charged, acquired, "costs {costs:?}");
        charged
    }

    fn assert_same_usage(&self) {
        assert_eq!(self.charged.usage(), self.acquired.usage());
        assert_eq!(self.charged.active(), 0);
    }
}

/// One step of a random run.
#[derive(Clone, Debug)]
enum Step {
    Advance(u64),
    Decide { requests: u64, tokens: u64 },
    SetTokensRate(u64),
    Observe(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u64..3_000).prop_map(Step::Advance),
        8 => (0u64..3, prop_oneof![0u64..400, Just(1_000), Just(u64::MAX)])
            .prop_map(|(requests, tokens)| Step::Decide { requests, tokens }),
        1 => (1u64..2_000).prop_map(Step::SetTokensRate),
        1 => (0u64..1_000).prop_map(Step::Observe),
    ]
}

proptest! {
    #![proptest_config(proptest_config(300))]

    /// Whatever the mix of decisions, waits, rate changes and server feedback: the same
    /// answers and the same usage as a permit made and dropped at once.
    #[test]
    fn decides_as_a_permit_dropped_at_once(steps in prop::collection::vec(step(), 1..60)) {
        let both = SideBySide::new(Limits::new().rpm(20).tpm(1_000));
        for step in steps {
            match step {
                Step::Advance(ms) => both.advance(Duration::from_millis(ms)),
                Step::Decide { requests, tokens } => {
                    let _ = both.decide(&[(REQUESTS, requests), (TOKENS, tokens)]);
                }
                Step::SetTokensRate(per_minute) => {
                    for limiter in [&both.charged, &both.acquired] {
                        limiter.set_rate(TOKENS, Rate::per_minute(per_minute)).unwrap();
                    }
                }
                Step::Observe(remaining) => {
                    for limiter in [&both.charged, &both.acquired] {
                        limiter
                            .observe(TOKENS, remaining, Some(Duration::from_secs(2)))
                            .unwrap();
                    }
                }
            }
            both.assert_same_usage();
        }
    }
}

#[test]
fn a_refusal_takes_nothing_and_names_the_wait() {
    let both = SideBySide::new(Limits::new().rpm(60).input_tpm(1_000));
    assert_eq!(both.decide(&[(INPUT_TOKENS, 900)]), Ok(()));
    let err = both.charged.try_charge(&[(INPUT_TOKENS, 200)]).unwrap_err();
    // 100 tokens over: 6 s at 1,000 per minute.
    assert_eq!(
        err,
        LimitError::NotInTime {
            wait: Some(Duration::from_secs(6))
        }
    );
    assert_eq!(both.charged.usage()[1].1.used, 900);
    assert_eq!(
        both.charged.usage()[0].1.used,
        1,
        "the request of the call that went"
    );
}

#[test]
fn nobody_waiting_is_jumped() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(2))
        .unwrap()
        .with_clock(clock);
    api.try_charge(&[(REQUESTS, 2)]).unwrap();
    let waiting = api.reserve(&[(REQUESTS, 1)]).unwrap();
    assert_eq!(waiting.ready_at(), Some(Nanos::from_secs(30)));
    // At 30 s the unit is the waiter's, not a newcomer's.
    time.advance(Duration::from_secs(30));
    assert!(matches!(
        api.try_charge(&[(REQUESTS, 1)]),
        Err(LimitError::NotInTime { .. })
    ));
    waiting.wait().unwrap();
    drop(waiting);
    time.advance(Duration::from_secs(30));
    api.try_charge(&[(REQUESTS, 1)]).unwrap();
}

#[test]
fn a_concurrency_limit_needs_a_free_slot_and_holds_none() {
    let api = MultiLimiter::new(Limits::new().rpm(1_000).max_parallel(1)).unwrap();
    let held = api.try_acquire(&[(REQUESTS, 1)]).unwrap();
    assert_eq!(
        api.try_charge(&[(REQUESTS, 1)]),
        Err(LimitError::NotInTime { wait: None }),
        "the one slot is held"
    );
    drop(held);
    for _ in 0..3 {
        api.try_charge(&[(REQUESTS, 1)]).unwrap();
        assert_eq!(api.active(), 0, "a charge holds no slot");
    }
    assert_eq!(api.usage()[0].1.used, 4);
}

#[test]
fn bad_costs_are_typed_errors_taking_nothing() {
    let api = MultiLimiter::new(Limits::new().rpm(10).tpm(1_000)).unwrap();
    assert!(matches!(
        api.try_charge(&[("tokns", 1)]),
        Err(LimitError::UnknownResource { .. })
    ));
    for cost in [1_001, u64::MAX] {
        assert!(matches!(
            api.try_charge(&[(TOKENS, cost)]),
            Err(LimitError::ExceedsCapacity { .. })
        ));
    }
    assert!(api.usage().iter().all(|(_, usage)| usage.used == 0));
    // A cost of 0 takes nothing but the request.
    api.try_charge(&[(TOKENS, 0)]).unwrap();
    assert_eq!(api.usage()[0].1.used, 1);
    assert_eq!(api.usage()[1].1.used, 0);
}

#[test]
fn a_sliding_window_charges_as_a_permit_would() {
    // No one-word form: every decision goes to the lock.
    let limits = Limits::new()
        .rate(REQUESTS, Rate::per_second(3))
        .counting(tollgate::Counting::SlidingWindow);
    let both = SideBySide::new(limits);
    for _ in 0..3 {
        assert_eq!(both.decide(&[(REQUESTS, 1)]), Ok(()));
    }
    assert!(both.decide(&[(REQUESTS, 1)]).is_err());
    both.advance(Duration::from_secs(1));
    assert_eq!(both.decide(&[(REQUESTS, 1)]), Ok(()));
    both.assert_same_usage();
}
