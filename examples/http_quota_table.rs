//! Prints, in one command, how a Runner does over real HTTP against the loopback mock provider
//! (60 jobs; the server allows 5 requests per sliding second, counted at arrival) when it is
//! given the real quota, twice it, four times it, and requests + tokens with the server 10 %
//! below what the client believes: 429s, wall time, and the ideal the server allows.
//!
//! `cargo run --release --features http --example http_quota_table`

#[path = "http_api/mod.rs"]
mod http_api;

use std::time::{Duration, Instant};

use tollgate::Rate;
use tollgate_mock_provider::{MockConfig, MockProvider};

const JOBS: usize = 60;
const RUNS: usize = 5;
/// What the mock counts per request at arrival: "question number N" is 3 words, ⌈3 × 4/3⌉ = 4
/// prompt tokens, plus `max_tokens` 16.
const ARRIVAL_TOKENS: u64 = 20;

fn main() {
    println!("| quota given to the Runner | 429s per run | wall (s) | ideal (s) | wall ÷ ideal |");
    println!("|---|---|---|---|---|");
    let requests_only = MockConfig::new()
        .requests_per_window(5)
        .window(Duration::from_secs(1))
        .latency(Duration::from_millis(10));
    for (label, believed) in [
        ("5 per second (the real quota)", 5),
        ("10 per second (2×)", 10),
        ("20 per second (4×)", 20),
    ] {
        row(label, &requests_only, |url| {
            http_api::runner(url, Rate::per_second(believed))
        });
    }
    // Tokens bind: each request costs 20 tokens at arrival; the server allows 60 per second
    // (3 requests), the client believes 66 (10 % more).
    let with_tokens = requests_only.clone().tokens_per_window(60);
    row(
        "5 requests + 66 tokens per second (server: 60 tokens)",
        &with_tokens,
        |url| http_api::runner_with_tokens(url, Rate::per_second(5), Rate::per_second(66)),
    );
}

/// Runs the batch `RUNS` times against a fresh mock configured by `config`.
fn row(
    label: &str,
    config: &MockConfig,
    make: impl Fn(
        String,
    ) -> tollgate::Runner<'static, String, http_api::Completion, http_api::HttpError>,
) {
    let mut rejected = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..RUNS {
        let mock = MockProvider::start(config.clone()).expect("a loopback port");
        let mut runner = make(mock.chat_completions_url());
        runner
            .schedule_all((0..JOBS).map(|n| format!("question number {n}")))
            .expect("every job fits");
        let started = Instant::now();
        let report = runner.run();
        walls.push(started.elapsed().as_secs_f64());
        assert!(report.results.iter().all(Option::is_some), "a job failed");
        rejected.push(mock.stats().rejected);
    }
    // What the server allows: a full window of requests every second from the first arrival,
    // the last answered after the latency.
    let per_window = match config.tokens_per_window {
        // Each request costs its prompt tokens plus max_tokens (16) at arrival: tokens bind.
        Some(tokens) => tokens / ARRIVAL_TOKENS,
        None => config.requests_per_window.unwrap_or(5),
    };
    let ideal = ((JOBS as u64 - 1) / per_window) as f64 * config.window.as_secs_f64()
        + config.latency.as_secs_f64();
    let worst = walls.iter().cloned().fold(0.0, f64::max);
    println!(
        "| {label} | {rejected:?} | {} | {ideal:.1} | ≤ {:.2} |",
        walls
            .iter()
            .map(|w| format!("{w:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        worst / ideal
    );
}
