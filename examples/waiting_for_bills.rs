//! Many workers waiting for the units of calls in flight: 3,000 calls (5 ms to their answer,
//! 20 ms more to their end) at 500 requests per second, with 1,000 workers (as `tollgate chat`
//! runs at high quotas) and with 64. The calls in flight hold the whole quota, so most workers
//! wait without an instant until a bill gives them one; a bill wakes only the threads it gives
//! an instant to. Prints the wall time (the quota allows about 5.03 s) per worker count; run it
//! under `/usr/bin/time` for the CPU time.
//!
//! `cargo run --release --example waiting_for_bills [-- WORKERS]`

use std::time::{Duration, Instant};

use tollgate::{Rate, Resource, Runner};

fn main() {
    let workers: Vec<usize> = match std::env::args().nth(1) {
        Some(workers) => vec![workers.parse().expect("a number of workers")],
        None => vec![1_000, 64],
    };
    let jobs = 3_000u64;
    for workers in workers {
        let mut runner = Runner::new_with_attempt(|_: &u64, attempt| {
            std::thread::sleep(Duration::from_millis(5));
            attempt.answered();
            std::thread::sleep(Duration::from_millis(20));
            Ok::<(), ()>(())
        })
        .resource(Resource::new("requests", Rate::per_second(500)).per_job(|_| 1))
        .max_concurrent(workers);
        runner
            .schedule_all(0..jobs)
            .expect("every job fits the quota");
        let started = Instant::now();
        runner.run();
        println!(
            "{workers} workers: {jobs} calls in {:.3?}",
            started.elapsed()
        );
    }
}
