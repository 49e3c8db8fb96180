//! Runner overhead and utilisation.
//!
//! Run with `cargo bench --bench runner`. Prints:
//! - overhead per job: batches of 10⁴ and 10⁶ trivial jobs with no quotas (schedule, run and
//!   report), wall time divided by the jobs (criterion, per worker count);
//! - utilisation: N jobs against a quota-bound fake API, wall time against the ideal the quotas
//!   allow, and the server's 429 count.

#[path = "../examples/fake_api/mod.rs"]
mod fake_api;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fake_api::{FakeApi, FakeConfig};
use tollgate::{Rate, Resource, Retry, Runner};

/// Batch sizes for the overhead: a typical batch and the 10⁶.
const BATCHES: [u64; 2] = [10_000, 1_000_000];

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("runner_overhead");
    for jobs in BATCHES {
        group.throughput(Throughput::Elements(jobs));
        for workers in [1usize, 4] {
            group.bench_function(BenchmarkId::new(format!("jobs_{jobs}"), workers), |b| {
                b.iter(|| {
                    let mut runner = Runner::new(|x: &u64| Ok::<u64, ()>(black_box(*x) + 1))
                        .max_concurrent(workers);
                    for x in 0..jobs {
                        runner.schedule(x).unwrap();
                    }
                    black_box(runner.run().results.len())
                })
            });
        }
    }
    group.finish();
}

/// N jobs against a fake API allowing `quota` requests per `window`, the runner given exactly
/// that quota (usage counts from each call's completion, so the server's arrival stamps never
/// see more than the quota).
fn utilisation(_: &mut Criterion) {
    let (jobs, quota, window, latency) = (
        120u64,
        40u64,
        Duration::from_millis(500),
        Duration::from_millis(10),
    );
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: quota,
        window,
        latency,
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let mut runner = Runner::new(move |key: &u64| server.call(*key, 1))
        .resource(Resource::new("requests", Rate::new(quota, window)).per_job(|_| 1))
        .retry(Retry::never())
        .max_concurrent(16);
    for key in 0..jobs {
        runner.schedule(key).unwrap();
    }
    let started = Instant::now();
    let report = runner.run();
    let elapsed = started.elapsed();
    // What the server allows: `quota` per window from the first arrival (counting usage from
    // completions costs the latency once per window, about 2 % here).
    let ideal = window * ((jobs - 1) / quota) as u32 + latency;
    println!(
        "runner_utilisation: {jobs} jobs at {quota}/{window:?}: wall {elapsed:.3?}, ideal {ideal:.3?}, ratio {:.3}, 429s {}, failed jobs {}",
        elapsed.as_secs_f64() / ideal.as_secs_f64(),
        api.stats().rejected,
        report.results.iter().filter(|r| r.is_none()).count()
    );
}

criterion_group! {
    name = runner;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = overhead, utilisation
}
criterion_main!(runner);
