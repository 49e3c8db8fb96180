//! Many processes, one quota: this program starts 3 copies of itself that share 20 requests
//! per second (burst 5) through Redis, each calling as fast as it may for 3 seconds; then it
//! compares what they were granted together with what the quota allows over that time.
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &     # or any Redis >= 5
//! cargo run --release --features redis --example shared_quota
//! REDIS_URL=redis://10.0.0.5:6379/ cargo run --release --features redis --example shared_quota
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tollgate::redis::RedisState;
use tollgate::{Limits, MultiLimiter, Rate, REQUESTS};

const WORKERS: usize = 3;
const RUN_FOR: Duration = Duration::from_secs(3);

fn limits() -> Limits {
    Limits::new().rate(REQUESTS, Rate::per_second(20).burst(5))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    if let Some(worker) = std::env::args().nth(1) {
        return work(&url, &worker);
    }
    // A fresh limiter name per run, so that a previous run's usage does not count.
    let name = format!("example-{}", std::process::id());
    // Fail early, with Redis's own advice, if it is not there.
    MultiLimiter::new(limits())?.shared_on(RedisState::open(&url, &name)?)?;
    println!("{WORKERS} processes share {name}: 20 requests/s, burst 5");
    let children = (0..WORKERS)
        .map(|worker| {
            Command::new(std::env::current_exe()?)
                .arg(format!("{worker}"))
                .env("REDIS_URL", &url)
                .env("TOLLGATE_EXAMPLE_NAME", &name)
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Each worker ends with "DONE <calls> <first grant> <last grant>" (server microseconds).
    let (mut total, mut first, mut last) = (0u64, u64::MAX, 0u64);
    for mut child in children {
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let line = line?;
            match line.strip_prefix("DONE ") {
                Some(done) => {
                    let numbers: Vec<u64> =
                        done.split(' ').filter_map(|n| n.parse().ok()).collect();
                    total += numbers[0];
                    first = first.min(numbers[1]);
                    last = last.max(numbers[2]);
                }
                None => println!("{line}"),
            }
        }
        child.wait()?;
    }
    let span = last.saturating_sub(first) as f64 / 1e6;
    println!(
        "together: {total} calls granted over {span:.3} s of server time; the quota allows \
         {:.0} (5 at once, then one every 50 ms)",
        5.0 + (span * 20.0).floor()
    );
    Ok(())
}

/// One worker process: acquire, "call" for 20 ms holding a concurrency slot, repeat.
fn work(url: &str, worker: &str) -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::var("TOLLGATE_EXAMPLE_NAME")?;
    let api = MultiLimiter::new(limits())?.shared_on(RedisState::open(url, &name)?)?;
    let started = Instant::now();
    let (mut calls, mut first, mut last) = (0, u128::MAX, 0);
    while started.elapsed() < RUN_FOR {
        let permit = api.acquire(&[(REQUESTS, 1)])?;
        let at = permit
            .server_ready_at()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        calls += 1;
        first = first.min(at.as_micros());
        last = last.max(at.as_micros());
        if calls % 10 == 1 {
            println!(
                "worker {worker}: call {calls} at server time {}.{:06} s",
                at.as_secs() % 1_000,
                at.subsec_micros()
            );
        }
        std::thread::sleep(Duration::from_millis(20)); // the call
    }
    println!("worker {worker}: {calls} calls in {RUN_FOR:?}");
    println!("DONE {calls} {first} {last}");
    Ok(())
}
