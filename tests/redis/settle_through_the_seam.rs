//! `Permit::settle` goes through the limiter's state store, the same call for memory and Redis:
//! on Redis it gives back and charges the quota every process shares exactly as in memory, and
//! a settle that cannot reach Redis is a typed error (`LimitError::Redis(Unreachable)`), not a
//! `Cancelled` that would say the permit was given up.

#![cfg(feature = "redis")]

use std::time::Duration;

use tollgate::redis::{RedisError, RedisState};
use tollgate::{LimitError, Limits, MultiLimiter, Rate, TOKENS};

use crate::support::redis_server::RedisServer;

/// 1,000 tokens an hour, GCRA: nothing regenerates within the test (one token every 3.6 s).
fn limits() -> Limits {
    Limits::new().rate(TOKENS, Rate::per_hour(1_000))
}

/// Two processes' views of one limiter on `server` (two limiters naming the same state).
fn two_processes(server: &RedisServer, name: &str) -> (MultiLimiter, MultiLimiter) {
    let open = || {
        let state = RedisState::open(&server.url(), name).unwrap();
        MultiLimiter::new(limits())
            .unwrap()
            .shared_on(state)
            .unwrap()
    };
    (open(), open())
}

fn tokens_used(limiter: &MultiLimiter) -> u64 {
    limiter.usage()[0].1.used
}

/// The same settles on `a` and `b` (one quota seen from two places): what each leaves for the
/// other, as the tokens used after each step.
fn settle_scenario(a: &MultiLimiter, b: &MultiLimiter) -> Vec<u64> {
    let mut used = Vec::new();
    let first = a.acquire(&[(TOKENS, 800)]).unwrap();
    used.push(tokens_used(b));
    // 200 left: 300 does not fit, and nothing is taken by the refusal.
    assert!(matches!(
        b.try_acquire(&[(TOKENS, 300)]),
        Err(LimitError::NotInTime { .. })
    ));
    // The call used 100: the other 700 come back to every process.
    first.settle(TOKENS, 100).unwrap();
    used.push(tokens_used(b));
    let second = b
        .try_acquire(&[(TOKENS, 850)])
        .expect("the 700 given back by the settle are shared");
    used.push(tokens_used(a));
    // It used 1,000: 150 above its estimate, charged as debt that every process waits for.
    second.settle(TOKENS, 1_000).unwrap();
    used.push(tokens_used(a));
    assert!(matches!(
        a.try_acquire(&[(TOKENS, 1)]),
        Err(LimitError::NotInTime { .. })
    ));
    // Cancelled, a permit has nothing left to settle, in either store.
    let third = a.reserve(&[(TOKENS, 1)]).unwrap();
    let handle = third.cancel_handle();
    handle.cancel();
    assert_eq!(third.settle(TOKENS, 1), Err(LimitError::Cancelled));
    used
}

#[test]
fn a_settle_on_redis_gives_back_and_charges_the_shared_quota_as_in_memory() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let memory = MultiLimiter::new(limits()).unwrap();
    let in_memory = settle_scenario(&memory, &memory.clone());
    assert_eq!(in_memory, [800, 100, 950, 1_100]);

    let (a, b) = two_processes(&server, "settle-shared");
    let on_redis = settle_scenario(&a, &b);
    // Redis counts a GCRA's backlog in whole microseconds, rounded up: at most one token more
    // for the milliseconds the test takes, never fewer.
    for (redis, memory) in on_redis.iter().zip(&in_memory) {
        assert!(
            (*memory..=*memory + 1).contains(redis),
            "on Redis {on_redis:?}, in memory {in_memory:?}"
        );
    }
}

#[test]
fn a_settle_when_redis_is_gone_is_a_typed_unreachable_error() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let state = RedisState::open(&server.url(), "settle-gone")
        .unwrap()
        .timeout(Duration::from_millis(300));
    let limiter = MultiLimiter::new(limits())
        .unwrap()
        .shared_on(state)
        .unwrap();
    let permit = limiter.acquire(&[(TOKENS, 500)]).unwrap();
    drop(server);
    let settled = permit.settle(TOKENS, 100);
    assert!(
        matches!(
            settled,
            Err(LimitError::Redis(RedisError::Unreachable { .. }))
        ),
        "{settled:?}"
    );
    // The permit is still held (not cancelled): settling again says the same.
    assert!(matches!(
        permit.settle(TOKENS, 100),
        Err(LimitError::Redis(RedisError::Unreachable { .. }))
    ));
}
