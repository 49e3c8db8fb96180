//! The Runner against an in-process fake API: order, quotas, retries, validation, panics,
//! interrupt and resume.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fake_api::{ApiError, FakeApi, FakeConfig};
use tollgate::{AttemptError, Rate, Resource, Retry, Runner, RunnerError, Verdict};

fn honour_429(err: &ApiError) -> Verdict {
    match err {
        ApiError::TooManyRequests { retry_after, .. } => Verdict::RetryAfter(*retry_after),
        ApiError::Unavailable => Verdict::Retry,
    }
}

#[test]
fn results_come_back_in_schedule_order_whatever_the_durations() {
    let mut runner = Runner::new(|i: &u64| {
        std::thread::sleep(Duration::from_millis((i * 7) % 5));
        Ok::<u64, String>(i * 10)
    })
    .max_concurrent(8);
    for i in 0..40 {
        runner.schedule(i).unwrap();
    }
    let report = runner.run();
    assert_eq!(report.attempts, 40);
    let (results, errors) = report.into_parts();
    assert_eq!(results, (0..40).map(|i| Some(i * 10)).collect::<Vec<_>>());
    assert!(errors.iter().all(Vec::is_empty));
    assert_eq!(runner.pending(), 0);
}

#[test]
fn increasing_payloads_exhaust_requests_then_points_without_a_single_429() {
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: 8,
        points_per_window: 60,
        window: Duration::from_millis(500),
        latency: Duration::from_millis(5),
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let mut runner = Runner::new(move |points: &u64| server.call(*points, *points))
        // The server counts from arrival, a little after the grant: a 2 % margin.
        .resource(Resource::new("requests", "8/510ms".parse().unwrap()).per_job(|_| 1))
        .resource(Resource::new("points", "60/510ms".parse().unwrap()).per_job(|p: &u64| *p))
        .max_concurrent(8)
        .retry(Retry::never());
    // 16 light jobs (bound by requests), then 8 heavy ones (bound by points).
    let payloads: Vec<u64> = (0..16).map(|_| 1).chain((0..8).map(|i| 20 + i)).collect();
    for &points in &payloads {
        runner.schedule(points).unwrap();
    }
    let started = Instant::now();
    let (results, _) = runner.run().into_parts();
    assert_eq!(
        results,
        payloads.iter().map(|p| Some(*p)).collect::<Vec<_>>()
    );
    assert_eq!(api.stats().rejected, 0);
    // 16 requests at 8 per 500 ms need a second window; 188 heavy points need three more.
    assert!(
        started.elapsed() >= Duration::from_millis(1_400),
        "{:?}",
        started.elapsed()
    );
}

/// A call whose request reaches the server three and a half windows after its grant (a stalled
/// send, a long call): its unit is held in flight until it is billed at its completion, so the
/// calls granted meanwhile leave room for it. (Counted from its grant, its unit came back after
/// one window: the server, counting it at arrival, then saw three requests in one window.)
#[test]
fn a_call_arriving_windows_after_its_grant_never_makes_the_server_refuse_one() {
    let window = Duration::from_millis(300);
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: 2,
        window,
        latency: Duration::from_millis(1),
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let mut runner = Runner::new(move |job: &u64| {
        if *job == 0 {
            std::thread::sleep(window * 7 / 2);
        }
        server.call(*job, 1)
    })
    // No margin: every call is held from its grant and counted from its completion.
    .resource(Resource::new("requests", Rate::new(2, window)).per_job(|_| 1))
    .max_concurrent(4)
    .retry(Retry::exponential(10).classify(honour_429));
    runner.schedule_all(0..10).unwrap();
    let report = runner.run();
    assert!(report.results.iter().all(Option::is_some), "{report:?}");
    let stats = api.stats();
    assert_eq!((stats.rejected, stats.peak_requests), (0, 2), "{stats:?}");
}

#[test]
fn an_unreliable_server_still_gives_every_output() {
    let api = Arc::new(FakeApi::new(FakeConfig {
        failure_rate: 0.5,
        seed: 11,
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let mut runner = Runner::new(move |key: &u64| server.call(*key, 1))
        .retry(
            Retry::exponential(10)
                .base(Duration::from_millis(1))
                .cap(Duration::from_millis(4)),
        )
        .max_concurrent(4);
    for key in 0..30 {
        runner.schedule(key).unwrap();
    }
    let report = runner.run();
    assert!(report.retries > 0);
    assert_eq!(report.retries, api.stats().failed);
    let (results, errors) = report.into_parts();
    assert!(results.iter().all(Option::is_some), "{errors:?}");
    let failures: usize = errors.iter().map(Vec::len).sum();
    assert_eq!(failures as u64, api.stats().failed);
}

#[test]
fn a_job_that_can_never_fit_is_refused_at_schedule() {
    let mut runner = Runner::new(|p: &u64| Ok::<u64, String>(*p))
        .resource(Resource::new("points", Rate::per_minute(100)).per_job(|p: &u64| *p));
    runner.schedule(100).unwrap();
    assert_eq!(
        runner.schedule(101),
        Err(RunnerError::ExceedsQuota {
            resource: "points".into(),
            cost: 101,
            quota: 100
        })
    );
    let mut zero = Runner::new(|p: &u64| Ok::<u64, String>(*p)).max_concurrent(0);
    assert_eq!(zero.schedule(1), Err(RunnerError::ZeroConcurrency));
}

#[test]
fn a_configuration_broken_after_scheduling_fails_each_job_with_a_typed_error() {
    let mut runner = Runner::new(|p: &u64| Ok::<u64, String>(*p));
    runner.schedule(1).unwrap();
    let mut runner = runner.max_concurrent(0);
    let report = runner.run();
    assert_eq!(report.results, vec![None]);
    assert!(matches!(
        *report.errors[0][0],
        AttemptError::Misconfigured(RunnerError::ZeroConcurrency)
    ));
    assert_eq!(runner.pending(), 0);
}

/// Runs 8 jobs of 30 points against a 120-points-per-300-ms server with 8 workers, with or
/// without an estimate of each call's points; returns the server's 429 count.
fn rejections(estimate: bool) -> u64 {
    let api = Arc::new(FakeApi::new(FakeConfig {
        points_per_window: 120,
        window: Duration::from_millis(300),
        latency: Duration::from_millis(20),
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let mut points =
        Resource::new("points", "120/310ms".parse().unwrap()).actual(|used: &u64| *used);
    if estimate {
        points = points.estimate(|_| 30);
    }
    let mut runner = Runner::new(move |key: &u64| server.call(*key, 30))
        .resource(points)
        .retry(Retry::exponential(10).classify(honour_429))
        .max_concurrent(8);
    for key in 0..8 {
        runner.schedule(key).unwrap();
    }
    let (results, _) = runner.run().into_parts();
    assert!(results.iter().all(Option::is_some));
    api.stats().rejected
}

#[test]
fn with_an_estimate_the_server_never_sees_more_than_its_quota_without_one_it_may() {
    assert_eq!(rejections(true), 0);
    assert!(rejections(false) > 0);
}

#[test]
fn two_runs_in_a_row_share_the_quota_history() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x))
        .resource(Resource::new("requests", "5/600ms".parse().unwrap()).per_job(|_| 1));
    for x in 0..5 {
        runner.schedule(x).unwrap();
    }
    let first = runner.run();
    assert_eq!(first.results.len(), 5);
    assert_eq!(runner.pending(), 0);
    for x in 5..8 {
        runner.schedule(x).unwrap();
    }
    let second = runner.run();
    assert_eq!(second.results, vec![Some(5), Some(6), Some(7)]);
    // The first run used the whole window: the second waited for it.
    assert!(
        second.elapsed >= Duration::from_millis(500),
        "{:?}",
        second.elapsed
    );
    assert!(second.waited["requests"] >= Duration::from_millis(500));
}

#[test]
fn a_result_that_fails_validation_is_retried() {
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&attempts);
    let mut runner = Runner::new(move |x: &i64| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Ok::<i64, String>(if n % 2 == 0 { -1 } else { *x })
    })
    .validate(|r: &i64| *r >= 0)
    .retry(Retry::exponential(5).base(Duration::from_millis(1)))
    .max_concurrent(1);
    runner.schedule(42).unwrap();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(42)]);
    assert_eq!(report.errors[0].len(), 1);
    assert!(matches!(
        *report.errors[0][0],
        AttemptError::ValidationFailed
    ));
    assert_eq!(report.errors[0][0].to_string(), "Validation failed");
}

#[test]
fn a_panicking_call_is_caught_recorded_and_retried() {
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&attempts);
    let mut runner = Runner::new(move |x: &u32| {
        if *x == 3 && counter.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("flaky job");
        }
        if *x == 4 {
            panic!("always broken");
        }
        Ok::<u32, String>(*x)
    })
    .retry(Retry::exponential(2).base(Duration::from_millis(1)))
    .max_concurrent(3);
    for x in 0..6 {
        runner.schedule(x).unwrap();
    }
    let (results, errors) = runner.run().into_parts();
    assert_eq!(
        results,
        vec![Some(0), Some(1), Some(2), Some(3), None, Some(5)]
    );
    assert!(matches!(&*errors[3][0], AttemptError::Panicked(message) if message == "flaky job"));
    assert_eq!(errors[4].len(), 3, "1 attempt + 2 retries");
}

#[test]
fn interrupt_then_resume_runs_each_job_once() {
    let executions: Arc<Vec<AtomicU32>> = Arc::new((0..20).map(|_| AtomicU32::new(0)).collect());
    let finished = Arc::new(AtomicU32::new(0));
    let (counts, returned) = (Arc::clone(&executions), Arc::clone(&finished));
    let mut runner = Runner::new(move |i: &usize| {
        counts[*i].fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        returned.fetch_add(1, Ordering::SeqCst);
        Ok::<usize, String>(*i)
    })
    .max_concurrent(2);
    for i in 0..20 {
        runner.schedule(i).unwrap();
    }
    let stop = runner.interrupt_handle();
    // Interrupted once a call has returned (however late a loaded machine starts them).
    let stopper = std::thread::spawn(move || {
        while finished.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.interrupt();
    });
    let first = runner.run();
    stopper.join().unwrap();
    assert!(first.interrupted);
    let done = first.results.iter().filter(|r| r.is_some()).count();
    assert!(
        done > 0 && done < 20,
        "{done} finished before the interrupt"
    );
    assert_eq!(runner.pending(), 20 - done);

    let second = runner.run();
    assert!(!second.interrupted);
    assert_eq!(second.results, (0..20).map(Some).collect::<Vec<_>>());
    assert!(executions.iter().all(|n| n.load(Ordering::SeqCst) == 1));
}

#[test]
fn a_call_may_borrow_the_callers_data_and_an_interrupt_waits_for_calls_in_flight() {
    // Not 'static: the call borrows a local (the workers are scoped threads).
    let calls = AtomicU32::new(0);
    let offset = 100_u32;
    let mut runner = Runner::new(|x: &u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        Ok::<u32, String>(x + offset)
    })
    .max_concurrent(2);
    runner.schedule_all(0..4).unwrap();
    let stop = runner.interrupt_handle();
    let report = std::thread::scope(|s| {
        // Interrupted (twice) once both calls are in flight.
        s.spawn(|| {
            while calls.load(Ordering::SeqCst) < 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.interrupt();
            stop.interrupt();
        });
        runner.run()
    });
    assert!(report.interrupted);
    // The two calls in flight returned and were kept; the other two never started.
    assert_eq!(report.results, vec![Some(100), Some(101), None, None]);
    assert_eq!(runner.pending(), 2);
    let report = runner.run();
    assert_eq!(
        report.results,
        vec![Some(100), Some(101), Some(102), Some(103)]
    );
    drop(runner);
    assert_eq!(calls.into_inner(), 4);
}

#[test]
fn a_server_requested_wait_pauses_every_start_and_a_too_long_one_fails_the_job() {
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: 4,
        window: Duration::from_millis(300),
        latency: Duration::from_millis(5),
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    // No local quota: the runner learns from the 429s.
    let mut runner = Runner::new(move |key: &u64| server.call(*key, 1))
        .retry(Retry::exponential(10).classify(honour_429))
        .max_concurrent(8);
    for key in 0..12 {
        runner.schedule(key).unwrap();
    }
    let (results, _) = runner.run().into_parts();
    assert!(results.iter().all(Option::is_some));
    // Each 429 pauses everyone until room frees: a handful, not one per worker per window.
    assert!(api.stats().rejected <= 12, "{:?}", api.stats());

    let mut impatient = Runner::new(|_: &u32| {
        Err::<u32, ApiError>(ApiError::TooManyRequests {
            retry_after: Duration::from_secs(500),
            exhausted: "requests",
        })
    })
    .retry(Retry::exponential(3).classify(honour_429));
    impatient.schedule(0).unwrap();
    let report = impatient.run();
    assert_eq!(report.results, vec![None]);
    assert!(matches!(
        *report.errors[0][1],
        AttemptError::RetryAfterTooLong { .. }
    ));
}

#[test]
fn run_each_hands_over_every_job_once_as_it_finishes_and_resumes_with_the_rest() {
    let mut runner = Runner::new(|n: &u64| {
        if *n == 3 {
            Err("three".to_owned())
        } else {
            Ok(n * 2)
        }
    })
    .retry(Retry::never())
    .max_concurrent(2);
    runner.schedule_all(0..6).unwrap();
    let mut seen = Vec::new();
    let report = runner.run_each(|done| {
        seen.push((
            done.index,
            done.result.copied(),
            done.errors.len(),
            done.attempts,
        ));
    });
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (0, Some(0), 0, 1),
            (1, Some(2), 0, 1),
            (2, Some(4), 0, 1),
            (3, None, 1, 1),
            (4, Some(8), 0, 1),
            (5, Some(10), 0, 1),
        ]
    );
    assert_eq!(report.results[4], Some(8));

    // Interrupted before it starts: nothing is handed over; the next run hands over the rest.
    let mut runner = Runner::new(|n: &u64| Ok::<u64, String>(*n));
    runner.schedule_all(0..3).unwrap();
    runner.interrupt_handle().interrupt();
    let mut first = 0;
    runner.run_each(|_| first += 1);
    assert_eq!(first, 0);
    let mut second = Vec::new();
    runner.run_each(|done| second.push(done.index));
    second.sort();
    assert_eq!(second, vec![0, 1, 2]);
}

#[test]
fn jobs_sent_from_another_thread_during_a_run_are_run_until_every_sender_closes() {
    let mut runner = Runner::new(|x: &u64| {
        std::thread::sleep(Duration::from_millis(2));
        if *x == 1_000 {
            Err("refused".to_owned())
        } else {
            Ok(x * 2)
        }
    })
    .resource(Resource::new("points", Rate::per_second(1_000_000)).per_job(|x: &u64| *x))
    .retry(Retry::exponential(0))
    .max_concurrent(4);
    runner.schedule_all(0..3).unwrap();
    let first = runner.job_sender();
    let second = first.clone();
    let mut finished_before_the_last_send = 0;
    // The second sender sends once the first has sent its jobs and closed (80 ms after the
    // start was not always after the first's 17 sends on a loaded machine).
    let (first_closed, first_done) = std::sync::mpsc::channel();
    let report = std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut indices = Vec::new();
            for x in 3..20 {
                std::thread::sleep(Duration::from_millis(3));
                indices.push(first.schedule(x));
            }
            first.close();
            first_closed.send(()).unwrap();
            indices
        });
        scope.spawn(move || {
            // Bounded: a first sender that failed leaves this one failing too, not waiting.
            first_done
                .recv_timeout(Duration::from_secs(30))
                .expect("the first sender's jobs");
            // A job over the quota: it finishes at once with the error, in its place.
            assert_eq!(second.schedule(2_000_000), 20);
            second.schedule(1_000);
        });
        let report = runner.run_each(|done| {
            if done.index < 3 {
                finished_before_the_last_send += 1;
            }
        });
        assert_eq!(producer.join().unwrap(), (3..20).collect::<Vec<usize>>());
        report
    });
    assert_eq!(finished_before_the_last_send, 3);
    assert_eq!(report.results.len(), 22);
    assert_eq!(
        report.results[..20],
        (0..20).map(|x| Some(x * 2)).collect::<Vec<_>>()[..]
    );
    assert_eq!(report.results[20..], [None, None]);
    assert!(matches!(
        &*report.errors[20][0],
        AttemptError::Misconfigured(RunnerError::ExceedsQuota { .. })
    ));
    assert!(matches!(&*report.errors[21][0], AttemptError::Call(message) if message == "refused"));
    // The batch was complete: the schedule starts over.
    assert_eq!(runner.schedule(7).unwrap(), 0);
}

#[test]
fn a_run_with_an_open_sender_and_no_jobs_waits_for_them_and_an_interrupt_ends_it() {
    let (called, calls) = std::sync::mpsc::channel();
    let mut runner = Runner::new(move |x: &u32| {
        called.send(*x).ok();
        Ok::<u32, String>(*x)
    });
    let sender = runner.job_sender();
    let stop = runner.interrupt_handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        sender.schedule(5);
        // Interrupted once job 5 has been called (on a loaded machine it may start late).
        assert_eq!(calls.recv(), Ok(5));
        stop.interrupt();
        std::thread::sleep(Duration::from_millis(30));
        sender.schedule(6); // after the interrupt: waits for the next run
    });
    let report = runner.run();
    assert!(report.interrupted);
    assert_eq!(report.results, vec![Some(5)]);
    std::thread::sleep(Duration::from_millis(100));
    // The sender is dropped now: the next run takes job 6 and ends.
    let report = runner.run();
    assert_eq!(report.results, vec![Some(5), Some(6)]);
}

#[test]
fn a_panic_in_the_run_each_callback_reaches_the_caller_without_hanging_and_the_rest_can_run() {
    let mut runner = Runner::new(|x: &u32| {
        std::thread::sleep(Duration::from_millis(5));
        Ok::<u32, String>(*x)
    })
    .max_concurrent(2);
    runner.schedule_all(0..10).unwrap();
    let handed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner.run_each(|done| {
            if done.index >= 3 {
                panic!("the caller's callback failed");
            }
        })
    }));
    assert!(handed.is_err());
    let report = runner.run();
    assert_eq!(report.results, (0..10).map(Some).collect::<Vec<_>>());
}

#[test]
fn a_runner_and_its_job_sender_may_move_to_another_thread() {
    fn send<T: Send>() {}
    send::<Runner<'static, u32, u32, String>>();
    send::<tollgate::JobSender<u32>>();
    fn sync<T: Sync>() {}
    sync::<tollgate::JobSender<u32>>();
}
