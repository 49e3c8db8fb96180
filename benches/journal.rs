//! What the Runner's journal costs: 10,000 trivial jobs with the journal on and off, side by
//! side in one run (overhead per job = the difference divided by the jobs).
//!
//! Run with `cargo bench --features journal --bench journal`. The commit policy measured is the
//! journal's only one: the outcomes that reach the coordinator together are committed in one
//! durable (fsync'd) transaction before any of them is handed over.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate::Runner;

const JOBS: u64 = 10_000;

fn journal_cost(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tollgate-journal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut group = c.benchmark_group("runner_journal");
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);
    for journal in [false, true] {
        let name = if journal { "on" } else { "off" };
        let mut run = 0;
        group.bench_function(BenchmarkId::new("jobs_10000", name), |b| {
            b.iter(|| {
                let runner =
                    Runner::new(|x: &u64| Ok::<u64, String>(black_box(*x) + 1)).max_concurrent(4);
                let mut runner = if journal {
                    run += 1;
                    runner
                        .journal(dir.join(format!("run-{run}.journal")))
                        .unwrap()
                } else {
                    runner
                };
                runner.schedule_all(0..JOBS).unwrap();
                black_box(runner.run().results.len())
            })
        });
    }
    group.finish();
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(benches, journal_cost);
criterion_main!(benches);
