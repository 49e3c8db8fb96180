//! The Runner's accounting on the reservation core, against the in-process fake API in real time
//! with generous tolerances: refunds let calls already planned start earlier, a server's pause
//! leaves no quota idle after it, and a failed attempt is billed its per-job usage only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fake_api::{FakeApi, FakeConfig};
use tollgate::{Rate, Resource, Retry, Runner, Verdict};

/// When each call started, in seconds from `origin`, sorted.
fn sorted_starts(starts: &Mutex<Vec<f64>>) -> Vec<f64> {
    let mut starts = starts.lock().unwrap().clone();
    starts.sort_by(f64::total_cmp);
    starts
}

#[test]
fn refunds_let_calls_already_planned_start_earlier() {
    // 20 points per 1.5 s (exact window), estimate 10, actual 3, calls of 0.25 s, 6 workers.
    let api = Arc::new(FakeApi::new(FakeConfig {
        points_per_window: 20,
        window: Duration::from_millis(1_500),
        latency: Duration::from_millis(250),
        ..FakeConfig::default()
    }));
    let origin = Instant::now();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (recorded, server) = (Arc::clone(&starts), Arc::clone(&api));
    let mut runner = Runner::new(move |job: &u64| {
        recorded
            .lock()
            .unwrap()
            .push(origin.elapsed().as_secs_f64());
        server.call(*job, 3).map(|_| 3u64)
    })
    .resource(
        Resource::new("points", Rate::new(20, Duration::from_millis(1_500)))
            .estimate(|_| 10)
            .actual(|used: &u64| *used),
    )
    .max_concurrent(6);
    for job in 0..6 {
        runner.schedule(job).unwrap();
    }
    let report = runner.run();
    assert!(report.errors.iter().all(Vec::is_empty));
    assert_eq!(api.stats().rejected, 0);
    let expected = [0.0, 0.0, 0.25, 0.5, 1.75, 2.0];
    let starts = sorted_starts(&starts);
    for (start, expected) in starts.iter().zip(expected) {
        assert!(
            (start - expected).abs() <= 0.1,
            "started at {starts:?}, expected {expected:?}"
        );
    }
}

#[test]
fn after_a_servers_pause_no_quota_is_left_idle() {
    // 2 calls per 500 ms, 8 workers, 9 jobs; the first call is answered "retry after 50 ms" once:
    // 10 attempts, 2 per 500 ms: the last starts at 2.0 s.
    let first = Arc::new(Mutex::new(true));
    let mut runner = Runner::new(move |_: &u32| {
        let mut first = first.lock().unwrap();
        if std::mem::take(&mut *first) {
            Err("429")
        } else {
            Ok(())
        }
    })
    .resource(Resource::new("requests", Rate::new(2, Duration::from_millis(500))).per_job(|_| 1))
    .retry(
        Retry::exponential(3)
            .classify(|_: &&str| Verdict::RetryAfter(Duration::from_millis(50)))
            .retry_after_jitter(Duration::ZERO),
    )
    .max_concurrent(8);
    for job in 0..9 {
        runner.schedule(job).unwrap();
    }
    let started = Instant::now();
    let report = runner.run();
    let elapsed = started.elapsed();
    assert!(report.results.iter().all(Option::is_some));
    assert!(elapsed <= Duration::from_millis(2_100), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(1_950), "took {elapsed:?}");
}

#[test]
fn a_failed_attempt_is_billed_its_per_job_usage_only() {
    // 2 points per 10 s, estimate 2: the failed attempt gives its estimate back, so the retry
    // does not wait 10 s.
    let failed = Arc::new(Mutex::new(false));
    let mut runner = Runner::new(move |_: &u32| {
        let mut failed = failed.lock().unwrap();
        if std::mem::replace(&mut *failed, true) {
            Ok(2u64)
        } else {
            Err("503")
        }
    })
    .resource(
        Resource::new("points", Rate::new(2, Duration::from_secs(10)))
            .estimate(|_| 2)
            .actual(|used: &u64| *used),
    )
    .retry(Retry::exponential(2).base(Duration::from_millis(10)));
    runner.schedule(0).unwrap();
    let started = Instant::now();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(2)]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_call_the_server_refused_is_refunded_and_the_report_counts_the_pause() {
    // 1 request per 10 s: the refused call gives its request back, so the retry goes at once.
    let refused = Arc::new(Mutex::new(false));
    let mut runner = Runner::new(move |_: &u32| {
        let mut refused = refused.lock().unwrap();
        if std::mem::replace(&mut *refused, true) {
            Ok(())
        } else {
            Err("429")
        }
    })
    .resource(Resource::new("requests", Rate::new(1, Duration::from_secs(10))).per_job(|_| 1))
    .retry(
        Retry::exponential(2)
            .classify(|_: &&str| Verdict::RetryAfter(Duration::from_millis(50)))
            .retry_after_jitter(Duration::ZERO),
    );
    runner.schedule(0).unwrap();
    let started = Instant::now();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(())]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.rate_limited, 1);
    assert!(report.paused >= Duration::from_millis(50));
    assert!(report.paused < Duration::from_millis(200));
}
