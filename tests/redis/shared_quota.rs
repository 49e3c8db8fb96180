//! One quota shared through Redis: by OS processes (this test binary re-executed as children),
//! by limiters whose local clocks disagree, by a holder that dies with a concurrency slot; the
//! parameters are checked and an unreachable server is the user's typed choice.

#![cfg(feature = "redis")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tollgate::redis::{Fallback, RedisError, RedisState};
use tollgate::{
    AttemptError, Clock, LimitError, Limits, MultiLimiter, Rate, Resource, Runner, REQUESTS,
};

use crate::support::redis_server::RedisServer;
use crate::support::test_name;

/// The quota the processes share: 200 per second, burst 20 (one every 5 ms).
const RATE: u64 = 200;
const BURST: u64 = 20;

fn shared_limits() -> Limits {
    Limits::new().rate(REQUESTS, Rate::per_second(RATE).burst(BURST))
}

pub(super) fn micros(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Acquires one request at a time from `api` until one is granted at or after `end` (server
/// time, in microseconds): the server's instants of the grants, that last one included.
pub(super) fn grants_until(api: &MultiLimiter, end: i64) -> Vec<i64> {
    let mut grants = Vec::new();
    loop {
        let permit = api.acquire(&[(REQUESTS, 1)]).unwrap();
        let at = micros(permit.server_ready_at().unwrap());
        grants.push(at);
        if at >= end {
            return grants;
        }
    }
}

fn server_now_micros(url: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_connection().unwrap();
    let (seconds, micros): (i64, i64) = redis::cmd("TIME").query(&mut connection).unwrap();
    seconds * 1_000_000 + micros
}

/// The most grants any stretch of time holds beyond what GCRA allows (`burst + span / T`),
/// over every pair of grants (sorted server instants, microseconds): ≤ 0 when the bound holds.
pub(super) fn worst_excess(grants: &[i64], interval_us: f64, burst: u64) -> f64 {
    // Grants i..=j number j − i + 1 and span t_j − t_i: the bound is
    // j − i + 1 ≤ burst + (t_j − t_i) / T, i.e. f(j) − f(i) ≤ burst − 1 with f(k) = k − t_k / T.
    let mut lowest = f64::INFINITY;
    let mut worst = f64::NEG_INFINITY;
    for (k, &t) in grants.iter().enumerate() {
        let f = k as f64 - t as f64 / interval_us;
        lowest = lowest.min(f);
        worst = worst.max(f - lowest - (burst as f64 - 1.0));
    }
    worst
}

/// Windows of one second (starting at each grant) holding more than `burst + rate`.
fn windows_over_the_bound(grants: &[i64], rate: u64, burst: u64) -> usize {
    let mut over = 0;
    let mut end = 0;
    for start in 0..grants.len() {
        while end < grants.len() && grants[end] < grants[start] + 1_000_000 {
            end += 1;
        }
        if (end - start) as u64 > burst + rate {
            over += 1;
        }
    }
    over
}

/// The child side of `four_processes_share_one_quota`: a no-op unless run by it.
#[test]
fn shared_quota_child() {
    let (Ok(url), Ok(end)) = (
        std::env::var("TOLLGATE_TEST_REDIS_URL"),
        std::env::var("TOLLGATE_TEST_END_US"),
    ) else {
        return;
    };
    let end: i64 = end.parse().unwrap();
    let state = RedisState::open(&url, "four-processes").unwrap();
    let api = MultiLimiter::new(shared_limits())
        .unwrap()
        .shared_on(state)
        .unwrap();
    let grants = grants_until(&api, end);
    let lines: Vec<String> = grants.iter().map(|at| format!("GRANT {at}")).collect();
    println!("{}", lines.join("\n"));
}

#[test]
fn four_processes_share_one_quota() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let start = server_now_micros(&server.url());
    let end = start + 3_000_000;
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .arg(test_name(module_path!(), "shared_quota_child"))
                .args(["--exact", "--nocapture"])
                .env("TOLLGATE_TEST_REDIS_URL", server.url())
                .env("TOLLGATE_TEST_END_US", end.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut per_process = Vec::new();
    let mut grants = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child failed");
        let mine: Vec<i64> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("GRANT "))
            .map(|at| at.trim().parse().unwrap())
            .collect();
        per_process.push(mine.len());
        grants.extend(mine);
    }
    assert!(per_process.iter().all(|&n| n > 0), "{per_process:?}");
    grants.sort_unstable();
    grants.retain(|&at| at < end);
    let interval_us = 1_000_000.0 / RATE as f64;
    let excess = worst_excess(&grants, interval_us, BURST);
    let over = windows_over_the_bound(&grants, RATE, BURST);
    let first = grants[0];
    let ideal = BURST as f64 + (end - first) as f64 / interval_us;
    let admitted = grants.len() as f64;
    eprintln!(
        "4 processes {per_process:?}: {} grants in {:.3} s from the first, ideal {ideal:.1} \
         ({:+.2} %), worst excess {excess:.4}, 1 s windows over the bound: {over}",
        grants.len(),
        (end - first) as f64 / 1e6,
        (admitted / ideal - 1.0) * 100.0
    );
    assert!(excess <= 1e-6, "the bound is broken by {excess} grants");
    assert_eq!(over, 0);
    assert!(
        (admitted / ideal - 1.0).abs() <= 0.01,
        "admitted {admitted} vs ideal {ideal:.1}"
    );
}

#[test]
fn limiters_whose_clocks_disagree_still_hold_the_bound() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let end = server_now_micros(&server.url()) + 1_000_000;
    // One on the real clock, one on a mock clock an hour ahead, one on a mock clock at zero:
    // the mock ones do not really sleep, so they try to run ahead. Only the server decides.
    let (ahead, ahead_time) = Clock::mock();
    ahead_time.advance(Duration::from_secs(3_600));
    let (behind, _behind_time) = Clock::mock();
    let clocks = [Clock::new(), ahead, behind];
    let grants: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = clocks
            .into_iter()
            .map(|clock| {
                let url = server.url();
                scope.spawn(move || {
                    let state = RedisState::open(&url, "skew").unwrap();
                    let api = MultiLimiter::new(shared_limits())
                        .unwrap()
                        .with_clock(clock)
                        .shared_on(state)
                        .unwrap();
                    grants_until(&api, end)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    let mut grants = grants;
    grants.sort_unstable();
    let excess = worst_excess(&grants, 1_000_000.0 / RATE as f64, BURST);
    assert!(excess <= 1e-6, "the bound is broken by {excess} grants");
    assert_eq!(windows_over_the_bound(&grants, RATE, BURST), 0);
}

/// The child side of `a_dead_holders_slot_comes_back_after_its_lease`.
#[test]
fn slot_holder_child() {
    let Ok(url) = std::env::var("TOLLGATE_TEST_HOLDER_URL") else {
        return;
    };
    // A child that hangs aborts: the parent waiting for its line fails instead of hanging.
    crate::support::watchdog::watch_this_test();
    let state = RedisState::open(&url, "crash")
        .unwrap()
        .lease(Duration::from_secs(1));
    let api = MultiLimiter::new(Limits::new().rpm(600).max_parallel(1))
        .unwrap()
        .shared_on(state)
        .unwrap();
    let _permit = api.acquire(&[(REQUESTS, 1)]).unwrap();
    println!("HELD");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_dead_holders_slot_comes_back_after_its_lease() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(test_name(module_path!(), "slot_holder_child"))
        .args(["--exact", "--nocapture"])
        .env("TOLLGATE_TEST_HOLDER_URL", server.url())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|line| line.unwrap().contains("HELD")));
    let state = RedisState::open(&server.url(), "crash").unwrap();
    let api = MultiLimiter::new(Limits::new().rpm(600).max_parallel(1))
        .unwrap()
        .shared_on(state)
        .unwrap();
    // Alive, the child renews its lease: the slot stays taken past the lease.
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(api.active(), 1);
    assert_eq!(
        api.try_acquire(&[(REQUESTS, 1)]).unwrap_err(),
        LimitError::NotInTime { wait: None }
    );
    child.kill().unwrap(); // SIGKILL: no destructor runs, the slot is not released
    child.wait().unwrap();
    let killed = Instant::now();
    let permit = api
        .try_acquire_for(&[(REQUESTS, 1)], Duration::from_secs(5))
        .unwrap();
    let waited = killed.elapsed();
    assert!(waited <= Duration::from_millis(2_000), "{waited:?}");
    assert_eq!(api.active(), 1);
    drop(permit);
    assert_eq!(api.active(), 0);
}

#[test]
fn two_processes_with_different_quotas_for_one_name_get_an_error() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let open = || RedisState::open(&server.url(), "parameters").unwrap();
    let first = MultiLimiter::new(Limits::new().rpm(500).tpm(40_000))
        .unwrap()
        .shared_on(open())
        .unwrap();
    let _permit = first.acquire(&[(REQUESTS, 1)]).unwrap();
    let other = MultiLimiter::new(Limits::new().rpm(5_000).tpm(40_000))
        .unwrap()
        .shared_on(open());
    match other {
        Err(LimitError::Redis(RedisError::ParametersDiffer { stored, ours, .. })) => {
            assert!(
                stored.contains("\"requests\"=gcra:120000000ns*500"),
                "{stored}"
            );
            assert!(ours.contains("\"requests\"=gcra:12000000ns*5000"), "{ours}");
        }
        other => panic!("expected ParametersDiffer, got {other:?}"),
    }
    // The same limits join the same quota.
    let same = MultiLimiter::new(Limits::new().rpm(500).tpm(40_000))
        .unwrap()
        .shared_on(open())
        .unwrap();
    assert_eq!(same.usage()[0].1.charged(), 1);
}

#[test]
fn two_processes_on_one_window_never_exceed_its_limit() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    // At most 5 in any 300 ms, exactly, between two "processes".
    let open = || {
        MultiLimiter::new(Limits::new().window(REQUESTS, Rate::new(5, Duration::from_millis(300))))
            .unwrap()
            .shared_on(RedisState::open(&server.url(), "window").unwrap())
            .unwrap()
    };
    let (a, b) = (open(), open());
    let mut grants = Vec::new();
    for round in 0..12 {
        let limiter = if round % 2 == 0 { &a } else { &b };
        let permit = limiter.reserve(&[(REQUESTS, 1)]).unwrap();
        grants.push(micros(permit.server_ready_at().unwrap()));
    }
    grants.sort_unstable();
    for (k, &at) in grants.iter().enumerate() {
        let in_window = grants[k..]
            .iter()
            .take_while(|&&t| t < at + 300_000)
            .count();
        assert!(
            in_window <= 5,
            "{in_window} calls in the window from {at}: {grants:?}"
        );
    }
    // The sixth goes when the first leaves the window, the eleventh when the sixth does.
    assert!(
        grants[5] - grants[0] >= 300_000 && grants[5] - grants[0] < 320_000,
        "{grants:?}"
    );
    assert!(grants[10] - grants[5] >= 300_000, "{grants:?}");
}

#[test]
fn an_unreachable_server_fails_or_falls_back_to_the_stated_share() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let failing = MultiLimiter::new(Limits::new().rpm(10))
        .unwrap()
        .shared_on(RedisState::open(&url, "down").unwrap());
    assert!(
        matches!(
            failing,
            Err(LimitError::Redis(RedisError::Unreachable { .. }))
        ),
        "{failing:?}"
    );
    let state = RedisState::open(&url, "down")
        .unwrap()
        .on_unreachable(Fallback::Local { share: 0.5 });
    let local = MultiLimiter::new(Limits::new().rpm(10))
        .unwrap()
        .shared_on(state)
        .unwrap();
    let permits: Vec<_> = (0..5)
        .map(|_| local.try_acquire(&[(REQUESTS, 1)]).unwrap())
        .collect();
    assert!(local.try_acquire(&[(REQUESTS, 1)]).is_err(), "half of 10");
    drop(permits);
}

/// A runner doubling numbers, 400 requests per second shared on `url` as `name`. (A macro, not
/// a function, so that the Runner's type is never spelled out here.)
macro_rules! runner {
    ($url:expr, $name:expr, $fallback:expr) => {{
        let state = RedisState::open($url, $name)
            .unwrap()
            .timeout(Duration::from_millis(200))
            .on_unreachable($fallback);
        Runner::new(|n: &u64| {
            std::thread::sleep(Duration::from_millis(2));
            Ok::<u64, String>(n * 2)
        })
        // Counted as an exact window of one second: the Runner's default.
        .resource(Resource::new(REQUESTS, Rate::per_second(400)).per_job(|_| 1))
        .max_concurrent(4)
        .retry(tollgate::Retry::exponential(2))
        .shared_on(state)
    }};
}

#[test]
fn a_runner_shares_its_quota_and_loses_no_result_when_redis_goes_away() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let mut server = Some(server);
    let url = server.as_ref().unwrap().url();
    // On Redis, every job done.
    let mut shared = runner!(&url, "runner", Fallback::Fail);
    for n in 0..100 {
        shared.schedule(n).unwrap();
    }
    let (results, _) = shared.run().into_parts();
    assert!(results
        .iter()
        .enumerate()
        .all(|(n, r)| *r == Some(n as u64 * 2)));

    // Redis killed mid-run: with a fallback, every job still finishes.
    let mut fallback = runner!(&url, "runner-fallback", Fallback::Local { share: 0.5 });
    let mut failing = runner!(&url, "runner-failing", Fallback::Fail);
    for n in 0..600 {
        fallback.schedule(n).unwrap();
        failing.schedule(n).unwrap();
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            server.take(); // killed
        });
        let fallback = scope.spawn(|| fallback.run().into_parts());
        let failing = scope.spawn(|| failing.run().into_parts());
        let (results, _) = fallback.join().unwrap();
        assert!(results
            .iter()
            .enumerate()
            .all(|(n, r)| *r == Some(n as u64 * 2)));
        // Without one, every job has its result or says why not: none is dropped.
        let (results, errors) = failing.join().unwrap();
        let done = results.iter().filter(|r| r.is_some()).count();
        assert!(done > 0 && done < 600, "{done}");
        for (result, errors) in results.iter().zip(errors.iter()) {
            match result {
                Some(_) => {}
                None => assert!(
                    errors.iter().any(|e| matches!(
                        &**e,
                        AttemptError::Quota(LimitError::Redis(RedisError::Unreachable { .. }))
                    )),
                    "{errors:?}"
                ),
            }
        }
    });
}

#[test]
fn two_model_limiters_on_one_name_share_each_models_quota() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let models = || {
        tollgate::ModelLimiter::builder()
            .model("gpt-4o", Limits::new().rpm(2).tpm(10_000))
            .default(Limits::new().rpm(1))
            .shared_on(RedisState::open(&server.url(), "key-1").unwrap())
            .build()
            .unwrap()
    };
    let (here, there) = (models(), models());
    let permit = here
        .acquire("gpt-4o", &[(tollgate::TOKENS, 8_000)])
        .unwrap();
    permit.settle(tollgate::TOKENS, 1_000).unwrap();
    // The other "process" sees one request and 1,000 tokens used, and a single request left.
    let _one = there
        .try_acquire("gpt-4o", &[(tollgate::TOKENS, 9_000)])
        .unwrap();
    assert!(there.try_acquire("gpt-4o", &[]).is_err());
    // A model made from the default is shared too.
    let _default = here.try_acquire("mini", &[]).unwrap();
    assert!(there.try_acquire("mini", &[]).is_err());
}

#[test]
fn a_refund_never_pulls_the_state_under_a_reservation_granted_in_another_process() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    // Three "processes" on one quota: one call per 100 ms, burst 1.
    let open = || {
        MultiLimiter::new(Limits::new().rate(REQUESTS, Rate::per_second(10).burst(1)))
            .unwrap()
            .shared_on(RedisState::open(&server.url(), "refund-rule").unwrap())
            .unwrap()
    };
    let (a, b, c) = (open(), open(), open());
    let first = a.acquire(&[(REQUESTS, 1)]).unwrap();
    let second = b.reserve(&[(REQUESTS, 1)]).unwrap(); // granted in 100 ms; b sleeps until then
    let second_at = second.server_ready_at().unwrap();
    // The first gives its unit back while a later reservation waits on the state: had the
    // state moved back, the next caller would be granted the second's instant too (two calls
    // in one interval, burst 1). It stays: the unit counts, and the next goes 100 ms later.
    first.cancel();
    let third = c.reserve(&[(REQUESTS, 1)]).unwrap();
    let gap = third
        .server_ready_at()
        .unwrap()
        .duration_since(second_at)
        .unwrap();
    assert!(gap >= Duration::from_millis(100), "{gap:?}");
    // The newest charge gives back at once: the fourth takes the third's place.
    let third_at = third.server_ready_at().unwrap();
    third.cancel();
    let fourth = a.reserve(&[(REQUESTS, 1)]).unwrap();
    let fourth_gap = fourth
        .server_ready_at()
        .unwrap()
        .duration_since(second_at)
        .unwrap();
    assert!(fourth_gap >= Duration::from_millis(100), "{fourth_gap:?}");
    assert!(fourth.server_ready_at().unwrap() <= third_at);
}

/// The most grants any one-second window holds (grants: microseconds, sorted).
fn busiest_second(grants: &[i64]) -> usize {
    let mut most = 0;
    let mut end = 0;
    for start in 0..grants.len() {
        while end < grants.len() && grants[end] < grants[start] + 1_000_000 {
            end += 1;
        }
        most = most.max(end - start);
    }
    most
}

/// Acquires one request at a time for 3.5 s on `limits` shared with `Fallback::Local` and the
/// whole quota (one process), while Redis is killed after a second and comes back empty
/// (restarted) half a second later; the limiter returns to it a second after it switched away.
/// The instants `acquire` returned at (microseconds from the start).
fn grants_across_a_fallback_and_back(limits: Limits, name: &str) -> Option<Vec<i64>> {
    let mut server = RedisServer::start_or_skip()?;
    let state = RedisState::open(&server.url(), name)
        .unwrap()
        .timeout(Duration::from_millis(200))
        .on_unreachable(Fallback::Local { share: 1.0 });
    let api = MultiLimiter::new(limits).unwrap().shared_on(state).unwrap();
    let start = Instant::now();
    Some(std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1_000));
            server.kill();
            std::thread::sleep(Duration::from_millis(500));
            server.restart_empty();
        });
        let mut grants = Vec::new();
        while start.elapsed() < Duration::from_millis(3_500) {
            let permit = api.acquire(&[(REQUESTS, 1)]).unwrap();
            grants.push(start.elapsed().as_micros() as i64);
            drop(permit);
        }
        grants
    }))
}

/// The fallback starts with what Redis said was used, and Redis is charged with what was used
/// locally: no stretch of time holds more than GCRA's bound, `burst + span / T` (without that,
/// each switch added a full burst: 40 more grants than the quota allows).
#[test]
fn a_gcra_quota_holds_its_bound_across_a_fallback_and_back_to_an_emptied_redis() {
    let Some(grants) = grants_across_a_fallback_and_back(shared_limits(), "fallback-gcra") else {
        return;
    };
    let busiest = busiest_second(&grants);
    let excess = worst_excess(&grants, 1_000_000.0 / RATE as f64, BURST);
    eprintln!(
        "{} grants in 3.5 s, busiest second {busiest} (bound {}), worst excess over GCRA {excess:.2}",
        grants.len(),
        BURST + RATE
    );
    assert!(busiest as u64 <= BURST + RATE, "busiest second {busiest}");
    // Grants are stamped when `acquire` returns (a late wake-up moves one closer to the next):
    // a few intervals of slack.
    assert!(excess <= 3.0, "the bound is broken by {excess:.2} grants");
    let ideal = BURST as f64 + 3.5 * RATE as f64;
    assert!(
        grants.len() as f64 <= ideal + 3.0,
        "{} grants against {ideal}",
        grants.len()
    );
}

/// The same for an exact window of one second: no second holds more than its limit (a
/// fallback that started empty of the window's calls allowed a second full window).
#[test]
fn a_window_quota_holds_its_limit_across_a_fallback_and_back_to_an_emptied_redis() {
    let limits = Limits::new().window(REQUESTS, Rate::per_second(RATE));
    let Some(grants) = grants_across_a_fallback_and_back(limits, "fallback-window") else {
        return;
    };
    let busiest = busiest_second(&grants);
    eprintln!(
        "{} grants in 3.5 s, busiest second {busiest} (limit {RATE})",
        grants.len()
    );
    // Stamped when `acquire` returns: a late wake-up can move a grant into the next second.
    assert!(busiest as u64 <= RATE + 2, "busiest second {busiest}");
}
