//! A hostile review of the Redis shared state: odd bytes in names, a server killed while jobs
//! acquire, parameters that differ (or only look the same), a cluster given nothing usable.
//! Each test that needs a server starts its own.

#![cfg(feature = "redis")]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tollgate::redis::{RedisError, RedisState};
use tollgate::{AttemptError, LimitError, Limits, MultiLimiter, Rate, Resource, Retry, Runner};

use crate::support::redis_server::RedisServer;

fn quick<E>(retries: u32) -> Retry<E> {
    Retry::exponential(retries)
        .base(Duration::from_millis(1))
        .cap(Duration::from_millis(5))
}

#[test]
fn resource_names_with_odd_bytes_share_one_quota() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let odd = "req uests\0\r\n=ü*;:";
    let open = || {
        MultiLimiter::new(Limits::new().rate(odd, Rate::per_minute(6).burst(3)))
            .unwrap()
            .shared_on(RedisState::open(&server.url(), "odd name \u{FEFF} \0 \r\n").unwrap())
            .unwrap()
    };
    let (a, b) = (open(), open());
    let permits: Vec<_> = (0..3)
        .map(|n| {
            let limiter = if n % 2 == 0 { &a } else { &b };
            limiter.try_acquire(&[(odd, 1)]).unwrap()
        })
        .collect();
    // The burst of 3 is spent between the two: a fourth (due 10 s later) is refused on either.
    assert!(a.try_acquire(&[(odd, 1)]).is_err());
    assert!(b.try_acquire(&[(odd, 1)]).is_err());
    drop(permits);
}

#[test]
fn limiter_names_with_braces_or_empty_are_refused_up_front() {
    for name in ["", "{", "}", "a{b}c"] {
        match RedisState::open("redis://127.0.0.1:1/", name) {
            Err(RedisError::InvalidName(named)) => assert_eq!(named, name),
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
    }
}

#[test]
fn a_cluster_without_nodes_or_with_a_bad_url_or_name_is_refused_up_front() {
    for nodes in [vec![], vec!["redis://127.0.0.1:1/", "not a url"]] {
        match RedisState::open_cluster(&nodes, "fine") {
            Err(RedisError::InvalidUrl { .. }) => {}
            other => panic!("{nodes:?}: expected InvalidUrl, got {other:?}"),
        }
    }
    match RedisState::open_cluster(["redis://127.0.0.1:1/"], "a{b}") {
        Err(RedisError::InvalidName(name)) => assert_eq!(name, "a{b}"),
        other => panic!("expected InvalidName, got {other:?}"),
    }
    // Opening connects to nothing: a cluster that is not there is found out at `shared_on`.
    let nowhere = RedisState::open_cluster(["redis://127.0.0.1:1/"], "fine").unwrap();
    match MultiLimiter::new(Limits::new().rpm(60))
        .unwrap()
        .shared_on(nowhere)
    {
        Err(LimitError::Redis(error)) => assert!(error.is_unreachable(), "{error}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[test]
fn a_huge_limiter_name_works_or_is_a_typed_error() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let name = "n".repeat(1 << 20);
    let limiter = MultiLimiter::new(Limits::new().rpm(600))
        .unwrap()
        .shared_on(RedisState::open(&server.url(), &name).unwrap());
    if let Ok(limiter) = limiter {
        let _permit = limiter.try_acquire(&[(tollgate::REQUESTS, 1)]).unwrap();
    }
}

#[test]
fn redis_killed_mid_run_fails_the_remaining_jobs_with_typed_errors_promptly() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let server = Mutex::new(Some(server));
    let url = server.lock().unwrap().as_ref().unwrap().url();
    let state = RedisState::open(&url, "killed")
        .unwrap()
        .timeout(Duration::from_millis(300));
    let mut runner = Runner::new(|x: &u64| {
        if *x == 0 {
            // Kill the server while this call holds its reservation.
            server.lock().unwrap().take();
        }
        Ok::<u64, String>(*x)
    })
    .resource(Resource::new("requests", Rate::per_second(10_000)).per_job(|_| 1))
    .max_concurrent(1)
    .retry(quick(2))
    .shared_on(state);
    runner.schedule_all(0..5).unwrap();
    let began = Instant::now();
    let report = runner.run();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(report.results[0], Some(0));
    for index in 1..5 {
        assert_eq!(report.results[index], None, "job {index}");
        assert!(
            report.errors[index].iter().all(|e| matches!(
                **e,
                AttemptError::Quota(LimitError::Redis(ref err)) if err.is_unreachable()
            )),
            "job {index}: {:?}",
            report.errors[index]
        );
        assert_eq!(report.errors[index].len(), 3, "1 attempt + 2 retries");
    }
}

#[test]
fn a_multi_limiter_whose_server_dies_returns_errors_not_hangs() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let limiter = MultiLimiter::new(Limits::new().rpm(6_000).max_parallel(2))
        .unwrap()
        .shared_on(
            RedisState::open(&server.url(), "dies")
                .unwrap()
                .timeout(Duration::from_millis(300)),
        )
        .unwrap();
    let held = limiter.acquire(&[(tollgate::REQUESTS, 1)]).unwrap();
    drop(server);
    let began = Instant::now();
    let err = limiter.acquire(&[(tollgate::REQUESTS, 1)]).unwrap_err();
    assert!(
        matches!(err, LimitError::Redis(ref e) if e.is_unreachable()),
        "{err:?}"
    );
    drop(held); // releasing a slot on a dead server does not panic or block
    assert!(began.elapsed() < Duration::from_secs(4));
}

#[test]
fn runners_with_differing_parameters_on_one_name_get_invalid_limits() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let make = |per_second: u64| {
        Runner::new(|x: &u64| Ok::<u64, String>(*x))
            .resource(Resource::new("requests", Rate::per_second(per_second)).per_job(|_| 1))
            .retry(Retry::never())
            .shared_on(RedisState::open(&server.url(), "differ").unwrap())
    };
    let mut first = make(100);
    first.schedule(1).unwrap();
    assert_eq!(first.run().results, vec![Some(1)]);
    let mut second = make(1_000);
    let err = second.schedule(2).unwrap_err();
    assert!(format!("{err}").contains("differ"), "{err}");
}

#[test]
fn quota_sets_that_only_print_alike_are_parameters_that_differ() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let open = || RedisState::open(&server.url(), "lookalike").unwrap();
    // One resource whose name spells out a second one...
    let one = Limits::new().rate("a=gcra:1000000ns*1 b", Rate::per_second(1_000).burst(1));
    // ...and two resources, "a" and "b": the same parameter text, " a=gcra:1000000ns*1 b=gcra:1000000ns*1".
    let two = Limits::new()
        .rate("a", Rate::per_second(1_000).burst(1))
        .rate("b", Rate::per_second(1_000).burst(1));
    let first = MultiLimiter::new(one).unwrap().shared_on(open()).unwrap();
    let _permit = first.try_acquire(&[("a=gcra:1000000ns*1 b", 1)]).unwrap();
    match MultiLimiter::new(two).unwrap().shared_on(open()) {
        Err(LimitError::Redis(RedisError::ParametersDiffer { .. })) => {}
        other => panic!("expected ParametersDiffer, got {other:?}"),
    }
}

#[test]
fn a_quota_set_that_prints_like_a_larger_one_is_refused_not_joined() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let open = || RedisState::open(&server.url(), "lookalike-reversed").unwrap();
    let one = Limits::new().rate("a=gcra:1000000ns*1 b", Rate::per_second(1_000).burst(1));
    let two = Limits::new()
        .rate("a", Rate::per_second(1_000).burst(1))
        .rate("b", Rate::per_second(1_000).burst(1));
    let first = MultiLimiter::new(two).unwrap().shared_on(open()).unwrap();
    let _permit = first.try_acquire(&[("a", 1), ("b", 1)]).unwrap();
    match MultiLimiter::new(one).unwrap().shared_on(open()) {
        Err(LimitError::Redis(RedisError::ParametersDiffer { .. })) => {}
        Ok(_) => panic!("a one-resource limiter joined the state of a two-resource one"),
        Err(other) => panic!("expected ParametersDiffer, got {other:?}"),
    }
}
