//! `KeyedMultiLimiter`: a call takes every resource's cost at once or none of them, charged at
//! the instant it goes; each key decides as a lone `MultiLimiter` of the same rates would.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::{
    Clock, KeyedMultiLimiter, LimitError, Limits, MultiLimiter, Nanos, Rate, REQUESTS, TOKENS,
};

use crate::support::proptest_config;

/// 2 requests at once, one more per 500 ms; 1,000 tokens at once, one per ms.
fn per_user(clock: Clock) -> KeyedMultiLimiter<&'static str, 2> {
    KeyedMultiLimiter::new([
        (REQUESTS, Rate::per_second(2)),
        (TOKENS, Rate::per_second(1_000)),
    ])
    .unwrap()
    .with_clock(clock)
}

/// Each resource's units in use for `key`.
fn in_use(keyed: &KeyedMultiLimiter<&'static str, 2>, key: &'static str) -> [u64; 2] {
    keyed.usage(&key).map(|(_, usage)| usage.in_use)
}

#[test]
fn a_call_that_fits_one_resource_but_not_the_other_charges_neither() {
    let (clock, _time) = Clock::mock();
    let keyed = per_user(clock);
    keyed.try_acquire(&"ann", &[(TOKENS, 900)]).unwrap();
    assert_eq!(in_use(&keyed, "ann"), [1, 900]);
    // Tokens short, a request free: neither taken.
    let refused = keyed.try_acquire(&"ann", &[(TOKENS, 200)]).unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_millis(100)));
    assert_eq!(in_use(&keyed, "ann"), [1, 900]);
    // Requests short, tokens free: neither taken.
    keyed.try_acquire(&"ann", &[(TOKENS, 0)]).unwrap();
    let refused = keyed.try_acquire(&"ann", &[(TOKENS, 10)]).unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_millis(500)));
    assert_eq!(in_use(&keyed, "ann"), [2, 900]);
    // A deadline the slower resource misses: neither taken, nothing slept.
    let late = keyed.try_acquire_for(&"ann", &[(TOKENS, 1)], Duration::from_millis(499));
    assert_eq!(late.unwrap_err().wait(), Some(Duration::from_millis(500)));
    assert_eq!(in_use(&keyed, "ann"), [2, 900]);
    assert_eq!(keyed.clock().now(), Nanos::ZERO);
    let stats = keyed.stats();
    assert_eq!((stats.admitted, stats.rejected), (2, 3));
}

#[test]
fn one_request_is_counted_unless_the_costs_name_requests() {
    let (clock, _time) = Clock::mock();
    let keyed = per_user(clock);
    keyed.try_acquire(&"k", &[]).unwrap();
    assert_eq!(in_use(&keyed, "k"), [1, 0]);
    keyed
        .try_acquire(&"k", &[(REQUESTS, 0), (TOKENS, 5)])
        .unwrap();
    assert_eq!(in_use(&keyed, "k"), [1, 5]);
    // Named twice: summed.
    keyed
        .try_acquire(&"k", &[(TOKENS, 5), (TOKENS, 6)])
        .unwrap();
    assert_eq!(in_use(&keyed, "k"), [2, 16]);
    // Without a requests resource, nothing is counted beside the costs.
    let calls = KeyedMultiLimiter::<u8, 2>::new([
        ("calls", Rate::per_second(1)),
        ("bytes", Rate::per_second(10)),
    ])
    .unwrap();
    calls.try_acquire(&0, &[("bytes", 3)]).unwrap();
    assert_eq!(calls.usage(&0).map(|(_, usage)| usage.in_use), [0, 3]);
}

#[test]
fn a_waiting_call_goes_when_its_slowest_resource_allows_and_is_charged_then() {
    let (clock, time) = Clock::mock();
    let keyed = per_user(clock);
    keyed
        .acquire(&"k", &[(REQUESTS, 0), (TOKENS, 1_000)])
        .unwrap();
    // A request is free now; the tokens at 300 ms. It sleeps (mock time) until then.
    keyed.acquire(&"k", &[(TOKENS, 300)]).unwrap();
    assert_eq!(time.now(), Nanos::from_millis(300));
    assert_eq!(in_use(&keyed, "k"), [1, 1_000]);
    // Its request was charged at 300 ms, not at 0: it regenerates at 800 ms (charged at 0, at
    // 500 ms), so two more requests fit at 800 ms.
    let refused = keyed.try_acquire(&"k", &[(REQUESTS, 2)]).unwrap_err();
    assert_eq!(refused.wait(), Some(Duration::from_millis(500)));
    time.advance(Duration::from_millis(499));
    assert!(keyed.try_acquire(&"k", &[(REQUESTS, 2)]).is_err());
    time.advance(Duration::from_millis(1));
    keyed.try_acquire(&"k", &[(REQUESTS, 2)]).unwrap();
}

#[test]
fn keys_are_apart() {
    let (clock, _time) = Clock::mock();
    let keyed = per_user(clock);
    keyed.try_acquire(&"ann", &[(TOKENS, 1_000)]).unwrap();
    keyed.try_acquire(&"bo", &[(TOKENS, 1_000)]).unwrap();
    assert!(keyed.try_acquire(&"ann", &[(TOKENS, 1)]).is_err());
    assert_eq!(
        keyed.usage(&"cy").map(|(_, usage)| usage.available),
        [2, 1_000]
    );
    assert_eq!(keyed.len(), 2, "a look stores nothing");
}

/// One call on a key: its costs (requests, tokens; `None`: not named) and how it waits.
#[derive(Clone, Copy, Debug)]
struct Call {
    key: u8,
    requests: Option<u64>,
    tokens: u64,
    wait: Wait,
}

#[derive(Clone, Copy, Debug)]
enum Wait {
    Now,
    For(u64),
    Until(u64),
    Forever,
}

fn call() -> impl Strategy<Value = Call> {
    let requests =
        prop_oneof![2 => Just(None), 2 => (0..3_u64).prop_map(Some), 1 => Just(Some(u64::MAX))];
    let tokens = prop_oneof![6 => 0..40_u64, 1 => Just(u64::MAX)];
    let wait = prop_oneof![
        4 => Just(Wait::Now),
        2 => (0..1_500_u64).prop_map(Wait::For),
        1 => (0..1_500_u64).prop_map(Wait::Until),
        1 => Just(Wait::Forever),
    ];
    (0..3_u8, requests, tokens, wait).prop_map(|(key, requests, tokens, wait)| Call {
        key,
        requests,
        tokens,
        wait,
    })
}

proptest! {
    #![proptest_config(proptest_config(300))]

    /// Every call on a key is admitted or refused (with the same error and wait) and sleeps
    /// exactly as on a lone `MultiLimiter` of the same rates, on mock clocks moved alike.
    #[test]
    fn each_key_decides_as_a_lone_multi_limiter(
        script in prop::collection::vec((0..400_u64, call()), 1..50),
    ) {
        let requests = Rate::per_second(5).burst(2);
        let tokens = Rate::new(30, Duration::from_millis(700)).burst(40);
        let (keyed_clock, keyed_time) = Clock::mock();
        let (lone_clock, lone_time) = Clock::mock();
        let keyed = KeyedMultiLimiter::<u8, 2>::new([(REQUESTS, requests), (TOKENS, tokens)])
            .unwrap()
            .with_clock(keyed_clock);
        let limits = Limits::new().rate(REQUESTS, requests).rate(TOKENS, tokens);
        let lone: Vec<MultiLimiter> = (0..3)
            .map(|_| MultiLimiter::new(limits.clone()).unwrap().with_clock(lone_clock.clone()))
            .collect();
        for (step, &(advance_ms, call)) in script.iter().enumerate() {
            keyed_time.advance(Duration::from_millis(advance_ms));
            lone_time.advance(Duration::from_millis(advance_ms));
            let now = keyed_time.now();
            let mut costs = vec![(TOKENS, call.tokens)];
            costs.extend(call.requests.map(|requests| (REQUESTS, requests)));
            let lone = &lone[usize::from(call.key)];
            let (ours, theirs) = match call.wait {
                Wait::Now => (keyed.try_acquire(&call.key, &costs), lone.try_acquire(&costs).map(drop)),
                Wait::For(ms) => {
                    let timeout = Duration::from_millis(ms);
                    (keyed.try_acquire_for(&call.key, &costs, timeout), lone.try_acquire_for(&costs, timeout).map(drop))
                }
                Wait::Until(ms) => {
                    let deadline = now + Duration::from_millis(ms);
                    (keyed.try_acquire_until(&call.key, &costs, deadline), lone.try_acquire_until(&costs, deadline).map(drop))
                }
                Wait::Forever => (keyed.acquire(&call.key, &costs), lone.acquire(&costs).map(drop)),
            };
            prop_assert_eq!(ours, theirs, "step {}: {:?} at {:?}", step, call, now);
            prop_assert_eq!(keyed_time.now(), lone_time.now(), "step {}: {:?} slept otherwise", step, call);
            let usage: Vec<(String, u64)> = keyed
                .usage(&call.key)
                .iter()
                .map(|(name, usage)| ((*name).to_owned(), usage.in_use))
                .collect();
            let lone_usage: Vec<(String, u64)> =
                lone.usage().into_iter().map(|(name, usage)| (name, usage.used)).collect();
            prop_assert_eq!(usage, lone_usage, "step {}: {:?}", step, call);
        }
    }
}

#[test]
fn an_error_names_what_to_change() {
    let keyed = per_user(Clock::mock().0);
    let too_big = keyed.try_acquire(&"k", &[(TOKENS, 1_001)]).unwrap_err();
    assert_eq!(
        too_big.to_string(),
        "tokens: cost 1001 exceeds the capacity 1000; raise the limit or split the call"
    );
    let unknown = keyed.try_acquire(&"k", &[("images", 1)]).unwrap_err();
    assert_eq!(
        unknown,
        LimitError::UnknownResource {
            name: "images".into(),
            known: vec![REQUESTS.into(), TOKENS.into()],
        }
    );
    assert!(keyed.is_empty());
}
