//! `with_clock` on a limiter already shared on Redis keeps it shared (the state store's
//! `on_clock`): the same quota as every other process, decided on the server, the caller
//! sleeping on the new clock; and its `Fallback::Local` share decides on that clock too.

#![cfg(feature = "redis")]

use std::time::Duration;

use tollgate::redis::{Fallback, RedisState};
use tollgate::{Clock, LimitError, Limits, MultiLimiter, Nanos, Rate, TOKENS};

use crate::support::redis_server::RedisServer;

fn limits() -> Limits {
    Limits::new().rate(TOKENS, Rate::per_hour(1_000))
}

#[test]
fn a_shared_limiter_given_a_clock_stays_on_the_shared_quota() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let open = || RedisState::open(&server.url(), "clocked").unwrap();
    let other = MultiLimiter::new(limits())
        .unwrap()
        .shared_on(open())
        .unwrap();
    let (clock, time) = Clock::mock();
    let clocked = MultiLimiter::new(limits())
        .unwrap()
        .shared_on(open())
        .unwrap()
        .with_clock(clock);

    let permit = clocked.acquire(&[(TOKENS, 600)]).unwrap();
    assert!(permit.server_ready_at().is_some(), "decided on Redis");
    assert_eq!(other.usage()[0].1.used, 600, "the other process sees it");
    assert!(matches!(
        other.try_acquire(&[(TOKENS, 500)]),
        Err(LimitError::NotInTime { .. })
    ));
    permit.settle(TOKENS, 100).unwrap();
    assert_eq!(other.usage()[0].1.used, 100);
    // A wait is slept on the mock clock: 3.6 s a token, the 1,000th token in an hour.
    drop(other.acquire(&[(TOKENS, 900)]).unwrap());
    let before = time.now();
    drop(clocked.acquire(&[(TOKENS, 1)]).unwrap());
    assert!(time.now() > before, "slept on the mock clock");
}

#[test]
fn its_local_fallback_decides_on_the_new_clock() {
    let Some(mut server) = RedisServer::start_or_skip() else {
        return;
    };
    let state = RedisState::open(&server.url(), "clocked-fallback")
        .unwrap()
        .on_unreachable(Fallback::Local { share: 0.5 });
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(100));
    let api = MultiLimiter::new(Limits::new().rate(TOKENS, Rate::per_second(10)))
        .unwrap()
        .shared_on(state)
        .unwrap()
        .with_clock(clock);
    server.kill();
    // Redis gone: the local half (5 a second) decides, on the mock clock.
    let mut permits = Vec::new();
    for _ in 0..5 {
        permits.push(api.try_acquire(&[(TOKENS, 1)]).unwrap());
    }
    assert!(permits
        .iter()
        .all(|permit| permit.server_ready_at().is_none()));
    assert_eq!(time.now(), Nanos::from_secs(100));
    let refused = api.try_acquire(&[(TOKENS, 1)]).unwrap_err();
    assert!(
        matches!(refused, LimitError::NotInTime { .. }),
        "{refused:?}"
    );
    let waited = api.acquire(&[(TOKENS, 1)]).unwrap();
    assert_eq!(
        time.now(),
        Nanos::from_millis(100_200),
        "one token every 200 ms"
    );
    drop(waited);
}
