//! Arrival-aware billing against a loopback quota server counting at arrival: the same
//! workloads with each call billed from its completion (the call says nothing: "completion")
//! and from the instant its answer's headers arrived ([`Attempt::answered`]: "answered"), in
//! the same run, as wall time against the server's ideal, with the server's 429 count.
//!
//! The server (`examples/quota_server/mod.rs`) answers as a streamed LLM answer does: status and
//! headers at arrival, the body after the call's duration (the last workload: everything at the
//! end, as a non-streamed answer, where the answer's instant is the completion's and nothing can
//! be gained safely). Workloads:
//! - **variable**: 300 jobs of 50–250 ms and 2–14 points at 50 requests + 500 points per 1 s;
//! - **LLM-like**, time scaled down 50×: calls of 2–10 s (40–200 ms) against windows of 10 s
//!   (200 ms: 20 requests + 12,000 tokens, 200 jobs of 300–900 tokens) and of 60 s (1.2 s:
//!   100 jobs).
//!
//! The ideal is the server's: each call arriving, in schedule order, as early as the server's
//! windows allow it (no network time, no scheduling), then lasting its duration; the last end.
//!
//! `cargo run --release --example arrival_billing [-- --runs 5]`

mod quota_server;

use std::time::{Duration, Instant};

use quota_server::{QuotaConfig, QuotaServer};
use tollgate::{Attempt, Rate, Resource, Retry, Runner, Verdict};

/// One call: its points and how long the server takes to finish answering it.
#[derive(Clone, Copy, Debug)]
struct Job {
    points: u64,
    ms: u64,
}

/// A workload: its jobs and the server's quotas.
struct Workload {
    name: &'static str,
    jobs: Vec<Job>,
    requests: u64,
    points: u64,
    window: Duration,
    /// The server sends the headers at arrival (a streamed answer), else with the body.
    headers_early: bool,
}

impl Workload {
    /// `count` jobs of `points` and `ms` drawn evenly (deterministically) from the ranges.
    fn new(
        name: &'static str,
        count: u64,
        (requests, points, window): (u64, u64, Duration),
        job_points: (u64, u64),
        job_ms: (u64, u64),
    ) -> Workload {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut draw = |(low, high): (u64, u64)| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            low + (seed >> 33) % (high - low + 1)
        };
        let jobs = (0..count)
            .map(|_| Job {
                points: draw(job_points),
                ms: draw(job_ms),
            })
            .collect();
        Workload {
            name,
            jobs,
            requests,
            points,
            window,
            headers_early: true,
        }
    }

    /// The same, answered by a server that sends its headers with the body (not streamed).
    fn not_streamed(self, name: &'static str) -> Workload {
        Workload {
            name,
            headers_early: false,
            ..self
        }
    }

    /// The server's ideal wall time: each call arriving, in schedule order, as early as the
    /// server's windows allow it (no network time), then lasting its duration; the last end.
    fn ideal(&self) -> Duration {
        let mut log: Vec<(Duration, u64)> = Vec::new(); // (arrival, points)
        let (mut arrival, mut end) = (Duration::ZERO, Duration::ZERO);
        for job in &self.jobs {
            loop {
                let counted = log.iter().filter(|(at, _)| *at + self.window > arrival);
                let (requests, points) = counted
                    .clone()
                    .fold((1, job.points), |(r, p), (_, points)| (r + 1, p + points));
                if requests <= self.requests && points <= self.points {
                    break;
                }
                // The next arrival that can make room is when the oldest counted one expires.
                arrival = counted
                    .map(|(at, _)| *at + self.window)
                    .min()
                    .unwrap_or(arrival);
            }
            log.push((arrival, job.points));
            end = end.max(arrival + Duration::from_millis(job.ms));
        }
        end
    }
}

/// A call that did not succeed.
#[derive(Debug)]
enum CallError {
    /// 429, with the server's wait.
    Refused(Duration),
    Transport,
}

/// Runs `workload` against a fresh server; `answered`: the call tells the Runner when its
/// answer began. Returns the wall time and the server's 429s.
fn run(workload: &Workload, answered: bool) -> (Duration, u64) {
    let server = QuotaServer::start(QuotaConfig {
        requests_per_window: workload.requests,
        points_per_window: workload.points,
        window: workload.window,
        headers_early: workload.headers_early,
    })
    .expect("a loopback port");
    let workers = 64;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(workers)
        .max_idle_connections_per_host(workers)
        .build()
        .into();
    let call = |job: &Job, attempt: &Attempt<'_>| -> Result<(), CallError> {
        let transport = |_: ureq::Error| CallError::Transport;
        let mut response = agent
            .get(&server.call_url(job.points, job.ms))
            .call()
            .map_err(transport)?;
        if answered {
            attempt.answered(); // the headers are in; the body is still to come
        }
        if response.status() == 429 {
            let ms = response
                .headers()
                .get("retry-after-ms")
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            return Err(CallError::Refused(Duration::from_millis(ms)));
        }
        response.body_mut().read_to_string().map_err(transport)?;
        Ok(())
    };
    let mut runner = Runner::new_with_attempt(call)
        .resource(
            Resource::new("requests", Rate::new(workload.requests, workload.window)).per_job(|_| 1),
        )
        .resource(
            Resource::new("points", Rate::new(workload.points, workload.window))
                .per_job(|job: &Job| job.points),
        )
        .max_concurrent(workers)
        .retry(Retry::exponential(5).classify(|err: &CallError| match err {
            CallError::Refused(wait) => Verdict::RetryAfter(*wait),
            CallError::Transport => Verdict::Retry,
        }));
    runner
        .schedule_all(workload.jobs.iter().copied())
        .expect("every job fits the quotas");
    let started = Instant::now();
    let report = runner.run();
    let elapsed = started.elapsed();
    assert!(
        report.results.iter().all(Option::is_some),
        "every job succeeds: {:?}",
        report.errors.iter().flatten().next()
    );
    (elapsed, server.stats().rejected)
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|arg| arg != "--runs")
        .nth(1)
        .map_or(1, |runs| runs.parse().expect("--runs N"));
    let ms = Duration::from_millis;
    let workloads = [
        Workload::new(
            "variable: 300 jobs of 50-250 ms, 50 req + 500 points / 1 s",
            300,
            (50, 500, ms(1_000)),
            (2, 14),
            (50, 250),
        ),
        Workload::new(
            "LLM-like, 50x faster: calls 2-10 s, window 10 s, 20 req + 12k tokens",
            200,
            (20, 12_000, ms(200)),
            (300, 900),
            (40, 200),
        ),
        Workload::new(
            "LLM-like, 50x faster: calls 2-10 s, window 60 s, 20 req + 12k tokens",
            100,
            (20, 12_000, ms(1_200)),
            (300, 900),
            (40, 200),
        ),
        Workload::new("", 300, (50, 500, ms(1_000)), (2, 14), (50, 250))
            .not_streamed("variable, not streamed: the headers come with the body, at the end"),
    ];
    for workload in &workloads {
        let ideal = workload.ideal();
        println!("{} (ideal {ideal:.2?})", workload.name);
        for answered in [false, true] {
            let mut ratios = Vec::new();
            let mut refused = Vec::new();
            for _ in 0..runs {
                let (elapsed, rejected) = run(workload, answered);
                ratios.push(elapsed.as_secs_f64() / ideal.as_secs_f64());
                refused.push(rejected);
            }
            let worst = ratios.iter().copied().fold(0.0, f64::max);
            let ratios: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.3}")).collect();
            println!(
                "  billed from {:<10} wall/ideal {} (worst {worst:.3}), 429s {refused:?}",
                if answered { "answer" } else { "completion" },
                ratios.join(" ")
            );
        }
    }
}
