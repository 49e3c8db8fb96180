//! All or none: a multi-resource call takes every cost at the instant it may go, waits in
//! arrival order, fails fast having taken nothing, and settles estimates against actual usage.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::{Clock, Counting, LimitError, Limits, MultiLimiter, Nanos};

fn secs(s: u64) -> Nanos {
    Nanos::from_secs(s)
}

#[test]
fn a_call_delayed_by_tokens_is_counted_against_requests_when_it_goes() {
    // requests: 2 per minute in a strict window; tokens: 1,000 per minute.
    let (clock, time) = Clock::mock();
    let limits = Limits::new()
        .window("requests", "2/min".parse().unwrap())
        .tpm(1_000);
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let a = api.acquire(&[("requests", 1), ("tokens", 1_000)]).unwrap();
    let b = api.acquire(&[("requests", 1), ("tokens", 1_000)]).unwrap();
    assert_eq!(
        (a.ready_at().unwrap(), b.ready_at().unwrap()),
        (secs(0), secs(60))
    );
    assert_eq!(time.now(), secs(60));
    // At 60 s the first request has left the window and the second counts from 60 s: exactly
    // one more request fits. Had the second been charged when it asked (0 s), two would.
    let c = api.try_acquire(&[("requests", 1)]).unwrap();
    assert!(matches!(
        api.try_acquire(&[("requests", 1)]),
        Err(LimitError::NotInTime { .. })
    ));
    assert_eq!(c.ready_at().unwrap(), secs(60));
}

#[test]
fn waiters_go_in_arrival_order_and_the_wait_is_the_largest() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(60).tpm(600))
        .unwrap()
        .with_clock(clock);
    let grants: Vec<_> = [(1, 600), (1, 0), (1, 300)]
        .iter()
        .map(|&(requests, tokens)| {
            api.acquire(&[("requests", requests), ("tokens", tokens)])
                .unwrap()
                .ready_at()
                .unwrap()
        })
        .collect();
    // The second needs no tokens but comes after the first; the third waits 30 s for tokens.
    assert_eq!(grants, [secs(0), secs(0), secs(30)]);
}

#[test]
fn a_cost_above_any_capacity_fails_at_once_and_unknown_resources_are_named() {
    let api = MultiLimiter::new(Limits::new().rpm(10).tpm(100)).unwrap();
    assert_eq!(
        api.acquire(&[("requests", 1), ("tokens", 101)])
            .unwrap_err(),
        LimitError::ExceedsCapacity {
            resource: "tokens".into(),
            cost: 101,
            capacity: 100
        }
    );
    assert_eq!(
        api.acquire(&[("credits", 1)]).unwrap_err(),
        LimitError::UnknownResource {
            name: "credits".into(),
            known: vec!["requests".into(), "tokens".into()]
        }
    );
    assert!(matches!(
        MultiLimiter::new(Limits::new().max_parallel(0)),
        Err(LimitError::ZeroParallel)
    ));
    assert!(matches!(
        MultiLimiter::new(Limits::new().rpm(0)),
        Err(LimitError::InvalidRate { .. })
    ));
    // Nothing was taken by the failures.
    let charged: Vec<_> = api
        .usage()
        .into_iter()
        .map(|(name, usage)| (name, usage.charged(), usage.limit.unwrap()))
        .collect();
    assert_eq!(
        charged,
        vec![("requests".into(), 0, 10), ("tokens".into(), 0, 100)]
    );
}

#[test]
fn a_timeout_that_would_pass_fails_at_once_taking_nothing() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(60).tpm(600))
        .unwrap()
        .with_clock(clock);
    let _first = api.acquire(&[("requests", 1), ("tokens", 600)]).unwrap();
    let refused = api.try_acquire_for(&[("requests", 1), ("tokens", 300)], Duration::from_secs(10));
    assert_eq!(
        refused.unwrap_err(),
        LimitError::NotInTime {
            wait: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(time.now(), secs(0));
    assert_eq!(api.usage()[0].1.charged(), 1);
    assert_eq!(api.usage()[0].1.limit, Some(60));
}

#[test]
fn settle_refunds_the_unused_estimate_and_charges_excess_as_debt() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().tpm(600))
        .unwrap()
        .with_clock(clock);
    let permit = api.acquire(&[("tokens", 500)]).unwrap();
    permit.settle("tokens", 200).unwrap(); // 300 back
    assert_eq!(api.usage()[0].1.charged(), 200);
    let big = api.acquire(&[("tokens", 400)]).unwrap();
    assert_eq!(big.ready_at().unwrap(), secs(0));
    big.settle("tokens", 700).unwrap(); // 300 more than estimated: debt, never blocking
    assert_eq!(time.now(), secs(0));
    // 900 used of 600/min: the next 100 tokens wait 300 over + 100 = 40 s.
    let next = api.acquire(&[("tokens", 100)]).unwrap();
    assert_eq!(next.ready_at().unwrap(), secs(40));
}

#[test]
fn a_sliding_window_refund_comes_from_the_calls_own_entry() {
    let (clock, time) = Clock::mock();
    let limits = Limits::new().tpm(100).counting(Counting::SlidingWindow);
    let api = MultiLimiter::new(limits).unwrap().with_clock(clock);
    let early = api.acquire(&[("tokens", 60)]).unwrap();
    time.advance(Duration::from_secs(30));
    let _late = api.acquire(&[("tokens", 40)]).unwrap();
    // The estimate's entry at 0 s gives back all 60; the actual 10 counts from now (30 s).
    early.settle("tokens", 10).unwrap();
    assert_eq!(api.usage()[0].1.charged(), 50);
    time.advance(Duration::from_secs(30));
    assert_eq!(api.usage()[0].1.charged(), 50); // nothing left the window at 60 s
    time.advance(Duration::from_secs(30));
    assert_eq!(api.usage()[0].1.charged(), 0);
}

#[test]
fn slots_are_freed_on_drop_and_on_panic_and_not_leaked_by_timeouts() {
    let api = MultiLimiter::new(Limits::new().rpm(1_000).max_parallel(1)).unwrap();
    let held = api.acquire(&[("requests", 1)]).unwrap();
    let refused = api.try_acquire_for(&[("requests", 1)], Duration::from_millis(20));
    assert_eq!(refused.unwrap_err(), LimitError::NotInTime { wait: None });
    drop(held);
    let panicked = std::thread::scope(|s| {
        s.spawn(|| {
            let _permit = api.acquire(&[("requests", 1)]).unwrap();
            panic!("the call failed");
        })
        .join()
    });
    assert!(panicked.is_err());
    assert_eq!(api.active(), 0);
    let _again = api.try_acquire(&[("requests", 1)]).unwrap();
}

#[test]
fn a_cancel_handle_outliving_its_permit_cancels_nothing_else() {
    let api = MultiLimiter::new(Limits::new().tpm(600))
        .unwrap()
        .with_clock(Clock::mock().0);
    // More permits alive at once than the core keeps in its lock-free places: every receipt
    // is kept, each refunds exactly its own charge.
    let many: Vec<_> = (0..40)
        .map(|_| api.try_acquire(&[("tokens", 10)]).unwrap())
        .collect();
    assert_eq!(api.usage()[0].1.charged(), 400);
    let handles: Vec<_> = many.iter().map(|permit| permit.cancel_handle()).collect();
    for (index, permit) in many.into_iter().enumerate() {
        match index % 3 {
            0 => permit.cancel(),
            1 => handles[index].cancel(), // the permit is dropped below, after its cancel
            _ => permit.settle("tokens", 5).unwrap(),
        }
    }
    assert_eq!(api.usage()[0].1.charged(), 13 * 5);
    // Every permit is gone: their handles now find ids whose places went to new permits.
    let fresh: Vec<_> = (0..40)
        .map(|_| api.try_acquire(&[("tokens", 1)]).unwrap())
        .collect();
    for handle in &handles {
        handle.cancel();
    }
    assert_eq!(api.usage()[0].1.charged(), 13 * 5 + 40);
    for permit in &fresh {
        permit.settle("tokens", 2).unwrap();
    }
    assert_eq!(api.usage()[0].1.charged(), 13 * 5 + 80);
}

/// Actual usage per resource within any window: never above the bound when calls use at most
/// their estimate.
fn check_bound(grants: &[(Nanos, u64)], burst: u64, interval: u64) -> Result<(), TestCaseError> {
    for (i, (start, _)) in grants.iter().enumerate() {
        let mut total = 0;
        for (at, cost) in &grants[i..] {
            total += cost;
            let length = at.as_u64() - start.as_u64();
            prop_assert!(
                total <= burst + length / interval,
                "{total} within {length} ns"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::support::proptest_config(500))]

    #[test]
    fn no_resource_bound_is_exceeded_over_costs_settles_and_timeouts(
        calls in prop::collection::vec((0u64..20_000, 0u64..=10, 0u64..=10, 0u64..5_000, any::<bool>()), 1..60),
    ) {
        let (clock, time) = Clock::mock();
        // requests: 6/min (interval 10 s), tokens: 10/min (interval 6 s).
        let api = MultiLimiter::new(Limits::new().rpm(6).tpm(10)).unwrap().with_clock(clock);
        let mut requests = Vec::new();
        let mut tokens = Vec::new();
        for (gap_ms, estimate, used, timeout_ms, wait) in calls {
            time.advance(Duration::from_millis(gap_ms));
            let costs = [("requests", 1), ("tokens", estimate)];
            let permit = if wait {
                api.acquire(&costs)
            } else {
                api.try_acquire_for(&costs, Duration::from_millis(timeout_ms))
            };
            if let Ok(permit) = permit {
                let used = used.min(estimate);
                permit.settle("tokens", used).unwrap();
                requests.push((permit.ready_at().unwrap(), 1));
                tokens.push((permit.ready_at().unwrap(), used));
            }
        }
        requests.sort();
        tokens.sort();
        check_bound(&requests, 6, 10_000_000_000)?;
        check_bound(&tokens, 10, 6_000_000_000)?;
    }
}

/// An acquire whose wait is refused (here by a server's hold beyond the longest allowed) fails
/// and leaves nothing: nothing reserved, no permit counted, the next call not behind it.
#[test]
fn an_acquire_refused_while_waiting_leaves_nothing_behind() {
    let api = MultiLimiter::new(Limits::new().rpm(1).max_hold(Duration::from_secs(5))).unwrap();
    let first = api.acquire(&[("requests", 1)]).unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| api.acquire(&[("requests", 1)]));
        crate::support::wait_until("the second acquire to wait", || {
            api.usage()[0].1.reserved == 1
        });
        api.observe("requests", 0, Some(Duration::from_secs(3_600)))
            .unwrap();
        let refused = crate::support::join(waiter).unwrap();
        assert!(
            matches!(refused, Err(LimitError::HeldTooLong { .. })),
            "{refused:?}"
        );
    });
    assert_eq!(api.usage()[0].1.reserved, 0, "nothing left reserved");
    assert_eq!(api.active(), 1, "only the first permit is held");
    drop(first);
    assert_eq!(api.active(), 0);
}
