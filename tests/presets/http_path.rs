//! The HTTP path end to end: a Runner calling the loopback mock provider over real HTTP (ureq),
//! learning the server's quota from its headers. Real time, generous tolerances: the strict
//! figures come from `cargo run --release --features http --example http_quota_table`.
#![cfg(feature = "http")]

use std::time::{Duration, Instant};

use tollgate::Rate;
use tollgate_mock_provider::{MockConfig, MockProvider};

use crate::support::http_api;

/// Runs `jobs` jobs against a server allowing 10 requests per second, the runner believing
/// `believed` per second; returns (429s, wall time).
fn run(jobs: usize, believed: u64) -> (u64, Duration) {
    let mock = MockProvider::start(
        MockConfig::new()
            .requests_per_window(10)
            .window(Duration::from_secs(1))
            .latency(Duration::from_millis(5)),
    )
    .unwrap();
    let mut runner = http_api::runner(mock.chat_completions_url(), Rate::per_second(believed));
    runner
        .schedule_all((0..jobs).map(|n| format!("question {n}")))
        .unwrap();
    let started = Instant::now();
    let report = runner.run();
    let wall = started.elapsed();
    assert!(
        report.results.iter().all(Option::is_some),
        "{:?}",
        report.errors
    );
    (mock.stats().rejected, wall)
}

#[test]
fn the_real_quota_as_given_draws_no_429() {
    let (rejected, wall) = run(30, 10);
    assert_eq!(rejected, 0);
    // Ideal: 30 requests at 10 per second from the first arrival, the last at 2 s.
    assert!(wall < Duration::from_millis(2_600), "{wall:?}");
}

#[test]
fn a_quota_believed_four_times_too_high_is_learnt_from_the_first_response() {
    let (rejected, wall) = run(30, 40);
    assert!(rejected <= 3, "{rejected} 429s");
    assert!(wall < Duration::from_millis(2_800), "{wall:?}");
}
