//! Acquires per second from 4 threads and the latency of each decision: a `MultiLimiter`
//! shared on a loopback `redis-server` (started by the bench, no persistence) beside the same
//! limiter in memory, in the same run; then on a loopback Redis Cluster (three primaries, three
//! replicas, started by the bench) beside the one server: one limiter (one slot, one primary),
//! and four limiters, one per thread, spread over the primaries. The limits (requests and
//! tokens) never make a call wait: what is measured is the decision itself.
//!
//! `cargo bench --features redis --bench redis` (needs `redis-server` and `redis-cli` on `PATH`).

#[path = "../tests/support/redis_cluster.rs"]
mod redis_cluster;
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_cluster::RedisCluster;
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

/// Per-decision latencies from 4 threads, `per_thread` each, sorted; thread `i` takes from
/// `limiters[i % limiters.len()]`.
fn latencies(limiters: &[MultiLimiter], per_thread: usize) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let mut all: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS as usize)
            .map(|thread| {
                let limiter = &limiters[thread % limiters.len()];
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

/// Decisions per second of `limiters` (see [`latencies`]), printed with the latencies as
/// `latency/<name>`.
fn measure(name: &str, limiters: &[MultiLimiter]) -> f64 {
    let (sorted, wall) = latencies(limiters, 20_000);
    let per_second = sorted.len() as f64 / wall.as_secs_f64();
    println!(
        "latency/{name}: {} decisions from {THREADS} threads: {per_second:.0}/s, \
         p50 {:?}, p99 {:?}, max {:?}",
        sorted.len(),
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        sorted[sorted.len() - 1],
    );
    per_second
}

/// `count` limiters named `<prefix>-0`, ... on `open(name)`.
fn limiters_on(count: usize, prefix: &str, open: impl Fn(&str) -> RedisState) -> Vec<MultiLimiter> {
    (0..count)
        .map(|i| {
            MultiLimiter::new(limits())
                .unwrap()
                .shared_on(open(&format!("{prefix}-{i}")))
                .unwrap()
        })
        .collect()
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
    let memory_rate = measure("memory", std::slice::from_ref(&memory));
    let server_rate = measure("redis", std::slice::from_ref(&shared));
    measure("redis-window", &[shared_windows]);
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
        server_rate / memory_rate,
        memory_rate / server_rate
    );

    // One server against a cluster, in the same run: one limiter (every decision on one
    // primary), then four limiters, one per thread (spread over the primaries by their names).
    let cluster = RedisCluster::start();
    let on_server = |name: &str| RedisState::open(&server.url(), name).unwrap();
    let on_cluster = |name: &str| RedisState::open_cluster(cluster.urls(), name).unwrap();
    let one_on_cluster = limiters_on(1, "bench-cluster", on_cluster);
    let four_on_server = limiters_on(4, "bench-four", on_server);
    let four_on_cluster = limiters_on(4, "bench-four", on_cluster);
    let primaries: std::collections::BTreeSet<u16> = (0..4)
        .map(|i| cluster.primary_of(&format!("{{bench-four-{i}}}:state")))
        .collect();
    // Measured side by side (the machine's load drifts).
    let server_rate = measure("redis", std::slice::from_ref(&shared));
    let cluster_rate = measure("redis-cluster", &one_on_cluster);
    let four_server_rate = measure("redis-four-limiters", &four_on_server);
    let four_cluster_rate = measure("redis-cluster-four-limiters", &four_on_cluster);
    println!(
        "ratio: cluster / one server throughput = {:.3} (one limiter), {:.3} (four limiters \
         on {} primaries)",
        cluster_rate / server_rate,
        four_cluster_rate / four_server_rate,
        primaries.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
