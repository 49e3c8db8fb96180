//! The Runner's main job: 200 simulated LLM calls against a fake API with a requests-per-window
//! and a tokens-per-window quota, with a progress bar, then a summary: wall time against the
//! ideal time the quotas allow, and how many 429s the server answered (target: 0).
//!
//! Run with `cargo run --release --features progress --example batch`. With
//! `--features progress,ctrlc`, Ctrl-C interrupts the run: the example prints what finished and
//! resumes the rest (a second Ctrl-C during a run abandons the calls in flight).
//! The fake's "minute" is 2 seconds so the example finishes in about 10 s.

mod fake_api;

use std::sync::Arc;
use std::time::Duration;

use fake_api::{ApiError, FakeApi, FakeConfig};
use tollgate::{Rate, Resource, Retry, Runner, Verdict};

/// A fake completion: the prompt's tokens plus up to `max_tokens` of output.
#[derive(Clone)]
struct Completion {
    prompt: u64,
    total_tokens: u64,
}

fn main() {
    let window = Duration::from_secs(2);
    let (rpm, tpm) = (60u64, 30_000u64);
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: rpm,
        points_per_window: tpm,
        window,
        latency: Duration::from_millis(150),
        failure_rate: 0.05,
        seed: 3,
    }));

    let server = Arc::clone(&api);
    // Prompts of 100..=499 tokens; each asks for at most 256 output tokens, and uses fewer.
    let call = move |prompt: &u64| -> Result<Completion, ApiError> {
        let used = prompt + 256 - prompt % 200;
        server.call(*prompt, used)?;
        Ok(Completion {
            prompt: *prompt,
            total_tokens: used,
        })
    };
    // The server's own quotas, no margin: usage counts from each call's completion, never before
    // the server's arrival stamp.
    let mut runner = Runner::new(call)
        .resource(Resource::new("requests", Rate::new(rpm, window)).per_job(|_| 1))
        .resource(
            Resource::new("tokens", Rate::new(tpm, window))
                .estimate(|prompt: &u64| prompt + 256)
                .actual(|reply: &Completion| reply.total_tokens),
        )
        .max_concurrent(32)
        .retry(Retry::exponential(5).classify(|err: &ApiError| match err {
            ApiError::TooManyRequests { retry_after, .. } => Verdict::RetryAfter(*retry_after),
            ApiError::Unavailable => Verdict::Retry,
        }))
        .progress(true); // drawn with the `progress` feature; without it, nothing is drawn
    let prompts: Vec<u64> = (0..200).map(|i| 100 + (i * 37) % 400).collect();
    for &prompt in &prompts {
        runner
            .schedule(prompt)
            .expect("every prompt fits the quotas");
    }

    #[cfg(feature = "ctrlc")]
    runner
        .interrupt_handle()
        .on_ctrl_c()
        .expect("no other Ctrl-C handler is installed");
    let started = std::time::Instant::now();
    let mut report = runner.run();
    let (mut attempts, mut retries) = (report.attempts, report.retries);
    while report.interrupted {
        let done = report.results.iter().flatten().count();
        println!(
            "interrupted: {done} of {} finished; resuming the rest",
            prompts.len()
        );
        report = runner.run();
        attempts += report.attempts;
        retries += report.retries;
    }
    let elapsed = started.elapsed();
    let tokens: u64 = report
        .results
        .iter()
        .flatten()
        .map(|c| c.total_tokens)
        .sum();
    let ok = report
        .results
        .iter()
        .flatten()
        .filter(|c| c.prompt > 0)
        .count();
    // Ideal: with exact windows, a quota Q per window W serves usage U in whole windows, so the
    // last call starts no earlier than W × ⌊(U − 1) / Q⌋, and ends one latency later.
    let windows_needed = |used: u64, quota: u64| used.saturating_sub(1) / quota;
    let windows = windows_needed(prompts.len() as u64, rpm).max(windows_needed(tokens, tpm));
    let ideal = window * windows as u32 + Duration::from_millis(150);
    let stats = api.stats();
    println!("jobs succeeded     {ok} / {}", prompts.len());
    println!("attempts           {attempts} ({retries} retries)");
    println!("tokens used        {tokens}");
    println!("wall time          {elapsed:.2?}");
    let ratio = elapsed.as_secs_f64() / ideal.as_secs_f64();
    println!("ideal time         {ideal:.2?} (ratio {ratio:.3})");
    println!("server 429s        {}", stats.rejected);
    println!("server failures    {} (random 5 %, retried)", stats.failed);
    println!(
        "peak in a window   {} requests, {} tokens",
        stats.peak_requests, stats.peak_points
    );
    for (resource, waited) in &report.waited {
        println!("waited for {resource:<8} {waited:.2?} (summed over the last run's calls)");
    }
}
