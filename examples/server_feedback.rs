//! Listening to the server: a Runner that believes quotas twice the real ones still finishes
//! every job, because it reads the server's 429s (status, headers, body) with
//! `tollgate::presets`: it honours the requested wait (pausing every new start), lowers its
//! local budget to what the server says is left, and backs its adaptive concurrency off.
//!
//! Run with `cargo run --release --example server_feedback`.

mod fake_api;

use std::sync::Arc;
use std::time::Duration;

use fake_api::{ApiError, FakeApi, FakeConfig};
use tollgate::{AdaptiveSemaphore, Rate, Resource, Retry, Runner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let window = Duration::from_secs(1);
    let (requests, tokens) = (30u64, 6_000u64);
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: requests,
        points_per_window: tokens,
        window,
        latency: Duration::from_millis(40),
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let adaptive = Arc::new(
        AdaptiveSemaphore::builder(8)
            .step_time(Duration::from_millis(500))
            .max_limit(32)
            .build()?,
    );
    // The runner's belief: twice what the server allows.
    let mut runner = Runner::new(move |key: &u64| server.call(*key, 150 + key % 100))
        .resource(Resource::new("requests", Rate::new(2 * requests, window)).per_job(|_| 1))
        .resource(
            Resource::new("tokens", Rate::new(2 * tokens, window))
                .per_job(|key: &u64| 150 + key % 100),
        )
        .on_response(|outcome, limiter| {
            if let Err(err) = outcome {
                err.headers().apply_to(limiter).ok();
            }
        })
        .adaptive(Arc::clone(&adaptive))
        .retry(Retry::exponential(10).classify(ApiError::verdict))
        .max_concurrent(32);
    let jobs = 120u64;
    for key in 0..jobs {
        runner.schedule(key)?;
    }
    let report = runner.run();
    let failed = report.results.iter().filter(|r| r.is_none()).count();
    println!("jobs               {jobs}");
    println!("failed jobs        {failed}");
    println!(
        "attempts           {} ({} retries)",
        report.attempts, report.retries
    );
    println!("server 429s        {}", api.stats().rejected);
    println!("wall time          {:.2?}", report.elapsed);
    println!("adaptive limit now {}", adaptive.limit());
    Ok(())
}
