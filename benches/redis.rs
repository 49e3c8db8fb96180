//! Acquires per second from 4 threads and the latency of each decision: a `MultiLimiter`
//! shared on a loopback `redis-server` (started by the bench, no persistence) beside the same
//! limiter in memory, in the same run. The limits (requests and tokens) never make a call wait:
//! what is measured is the decision itself.
//!
//! `cargo bench --features redis --bench redis` (needs `redis-server` on `PATH`).

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_server::RedisServer;
use tollgate::redis::RedisState;
use tollgate::{Limits, MultiLimiter, Rate, REQUESTS, TOKENS};

const THREADS: u64 = 4;

fn limits() -> Limits {
    Limits::new()
        .rate(REQUESTS, Rate::per_second(10_000_000))
        .rate(TOKENS, Rate::per_second(1_000_000_000))
}

fn acquire(limiter: &MultiLimiter) {
    let permit = limiter.acquire(&[(REQUESTS, 1), (TOKENS, 100)]).unwrap();
    drop(permit);
}

/// `iters` acquires spread over 4 threads; the wall time.
fn run_threads(limiter: &MultiLimiter, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let share = iters / THREADS + u64::from(thread < iters % THREADS);
            scope.spawn(move || {
                for _ in 0..share {
                    acquire(limiter);
                }
            });
        }
    });
    start.elapsed()
}

/// Per-decision latencies from 4 threads, `per_thread` each, sorted.
fn latencies(limiter: &MultiLimiter, per_thread: usize) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let mut all: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|_| {
                            let asked = Instant::now();
                            acquire(limiter);
                            asked.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    let wall = start.elapsed();
    all.sort_unstable();
    (all, wall)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn bench(c: &mut Criterion) {
    let server = RedisServer::start();
    let memory = MultiLimiter::new(limits()).unwrap();
    let state = RedisState::open(&server.url(), "bench").unwrap();
    let shared = MultiLimiter::new(limits())
        .unwrap()
        .shared_on(state)
        .unwrap();

    let mut group = c.benchmark_group("acquire_4_threads");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| run_threads(&memory, iters))
    });
    group.bench_function("redis", |b| {
        b.iter_custom(|iters| run_threads(&shared, iters))
    });
    group.finish();

    // Latency per decision, and the throughput of that same run, for both states (and Redis
    // counting exact one-second windows: a sorted set of every call in the last second).
    let windows = Limits::new()
        .window(REQUESTS, Rate::per_second(10_000_000))
        .window(TOKENS, Rate::per_second(1_000_000_000));
    let state = RedisState::open(&server.url(), "bench-window").unwrap();
    let shared_windows = MultiLimiter::new(windows)
        .unwrap()
        .shared_on(state)
        .unwrap();
    let mut rates = Vec::new();
    for (name, limiter) in [
        ("memory", &memory),
        ("redis", &shared),
        ("redis-window", &shared_windows),
    ] {
        let (sorted, wall) = latencies(limiter, 20_000);
        let per_second = sorted.len() as f64 / wall.as_secs_f64();
        rates.push(per_second);
        println!(
            "latency/{name}: {} decisions from {THREADS} threads: {per_second:.0}/s, \
             p50 {:?}, p99 {:?}, max {:?}",
            sorted.len(),
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.99),
            sorted[sorted.len() - 1],
        );
    }
    // The server's own time per decision (the script), from its statistics.
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut connection)
        .unwrap();
    if let Some(line) = stats
        .lines()
        .find(|line| line.starts_with("cmdstat_evalsha:"))
    {
        println!("server: {line}");
    }
    println!(
        "ratio: redis / memory throughput = {:.4} (memory {:.1}x faster)",
        rates[1] / rates[0],
        rates[0] / rates[1]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
