//! A hostile review of the knobs of issue 22 and the Runner changes of issue 21: the edges a
//! new user or an acceptance suite reaches first. Mock clocks throughout; no sleeping.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use tollgate::{
    AcquireError, Clock, Limits, ModelLimiter, Nanos, Rate, RateLimiter, Resource, Retry, Runner,
    RunnerError, Verdict, TOKENS,
};

// ---------------------------------------------------------------------------------------------
// Deadlines and "not in time"
// ---------------------------------------------------------------------------------------------

#[test]
fn nanos_plus_duration_max_saturates_and_instants_far_away_convert() {
    assert_eq!(Nanos::from_secs(1) + Duration::MAX, Nanos::MAX);
    let (clock, time) = Clock::mock();
    time.advance(Duration::from_secs(5));
    // ~300 years ahead: saturates or lands far ahead, never wraps below now.
    if let Some(far) = Instant::now().checked_add(Duration::from_secs(300 * 365 * 86_400)) {
        assert!(clock.instant_to_nanos(far) > Nanos::from_secs(5));
    }
    // Before the clock's origin: Nanos::ZERO, no panic.
    if let Some(past) = Instant::now().checked_sub(Duration::from_secs(3_600)) {
        assert_eq!(clock.instant_to_nanos(past), Nanos::ZERO);
    }
}

#[test]
fn a_deadline_far_in_the_past_or_future_neither_panics_nor_waits_wrongly() {
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock.clone());
    limiter.acquire().unwrap();
    // A deadline long past: refused at once with the exact wait (1 s), nothing written.
    if let Some(past) = Instant::now().checked_sub(Duration::from_secs(3_600)) {
        match limiter.try_acquire_until(1, past) {
            Err(AcquireError::NotInTime { wait }) => assert_eq!(wait, Duration::from_secs(1)),
            other => panic!("expected NotInTime, got {other:?}"),
        }
    }
    // A deadline far ahead: waits the second (on the mock clock) and goes.
    let far = Instant::now() + Duration::from_secs(100 * 365 * 86_400);
    limiter.try_acquire_until(1, far).unwrap();
    assert_eq!(clock.now(), Nanos::from_secs(1));
    limiter.try_acquire_until(1, Nanos::MAX).unwrap();
    assert_eq!(clock.now(), Nanos::from_secs(2));
}

#[test]
fn not_in_time_wait_is_exactly_the_wait() {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock.clone());
    limiter.acquire().unwrap();
    time.advance(Duration::from_millis(300));
    match limiter.try_acquire_for(1, Duration::from_millis(100)) {
        Err(AcquireError::NotInTime { wait }) => assert_eq!(wait, Duration::from_millis(700)),
        other => panic!("expected NotInTime, got {other:?}"),
    }
    // Nothing written: the same wait again.
    match limiter.try_acquire_for(1, Duration::ZERO) {
        Err(err) => assert_eq!(err.wait(), Some(Duration::from_millis(700))),
        other => panic!("expected NotInTime, got {other:?}"),
    }

    let models = ModelLimiter::builder()
        .model("m", Limits::new().rate("requests", Rate::per_second(1)))
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let _first = models.acquire("m", &[]).unwrap();
    time.advance(Duration::from_millis(250));
    let err = models
        .try_acquire_for("m", &[], Duration::from_millis(10))
        .unwrap_err();
    assert_eq!(err.wait(), Some(Duration::from_millis(750)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// ModelStats.active
// ---------------------------------------------------------------------------------------------

#[test]
fn active_counts_no_permit_dropped_during_a_panic() {
    for parallel in [None, Some(2)] {
        let (clock, _time) = Clock::mock();
        let limits = match parallel {
            Some(p) => Limits::new().tpm(1_000).max_parallel(p),
            None => Limits::new().tpm(1_000),
        };
        let models = ModelLimiter::builder()
            .model("m", limits)
            .with_clock(clock)
            .build()
            .unwrap();
        let held = models.acquire("m", &[(TOKENS, 10)]).unwrap();
        assert_eq!(models.stats()["m"].active.used, 1);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _permit = models.acquire("m", &[(TOKENS, 10)]).unwrap();
            assert_eq!(models.stats()["m"].active.used, 2);
            panic!("user code panics while holding a permit");
        }));
        assert!(outcome.is_err());
        assert_eq!(models.stats()["m"].active.used, 1, "parallel {parallel:?}");
        drop(held);
        assert_eq!(models.stats()["m"].active.used, 0, "parallel {parallel:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Runner: retry caps and jitter
// ---------------------------------------------------------------------------------------------

/// A runner on a mock clock whose every call is refused with `retry_after`, with `retry`.
fn refused_runner(retry: Retry<Duration>) -> RunReport {
    let (clock, _time) = Clock::mock();
    let mut runner = Runner::new(|_: &u32| Err::<u32, Duration>(Duration::from_millis(1)))
        .with_clock(clock)
        .retry(retry.classify(|wait| Verdict::RetryAfter(*wait)));
    runner.schedule(1).unwrap();
    let report = runner.run();
    RunReport {
        ok: report.results[0].is_some(),
        attempts: report.attempts,
        elapsed: report.elapsed,
    }
}

struct RunReport {
    ok: bool,
    attempts: u64,
    elapsed: Duration,
}

#[test]
fn a_jitter_of_duration_max_is_capped_by_max_retry_after() {
    let report = refused_runner(
        Retry::exponential(2)
            .max_retry_after(Duration::from_secs(1))
            .retry_after_jitter(Duration::MAX),
    );
    assert!(!report.ok);
    assert!(
        report.elapsed <= Duration::from_secs(3),
        "{:?}",
        report.elapsed
    );
}

#[test]
fn max_retry_after_zero_refuses_any_server_wait_at_once() {
    let report = refused_runner(Retry::exponential(5).max_retry_after(Duration::ZERO));
    assert!(!report.ok);
    assert!(report.attempts >= 1);
    assert!(
        report.elapsed < Duration::from_secs(1),
        "{:?}",
        report.elapsed
    );
}

// ---------------------------------------------------------------------------------------------
// Runner: UnusedResource
// ---------------------------------------------------------------------------------------------

#[test]
fn unused_resource_has_no_false_positive_for_estimate_or_actual_alone() {
    let mut only_estimate = Runner::new(|_: &u32| Ok::<u32, String>(1))
        .resource(Resource::new("tokens", Rate::per_second(100)).estimate(|_| 3));
    only_estimate.check().unwrap();
    let mut only_actual = Runner::new(|_: &u32| Ok::<u32, String>(1))
        .resource(Resource::new("tokens", Rate::per_second(100)).actual(|t: &u32| u64::from(*t)));
    only_actual.check().unwrap();
}

/// A resource counted at the start bills only what was reserved at the start (its `actual` is
/// not applied): with only an `actual`, it counts nothing and limits nothing, silently.
#[test]
fn counted_at_start_with_only_an_actual_is_an_unused_resource() {
    let mut runner = Runner::new(|_: &u32| Ok::<u32, String>(1)).resource(
        Resource::new("starts", Rate::per_second(1))
            .actual(|t: &u32| u64::from(*t))
            .counted_at_start(),
    );
    match runner.check() {
        Err(RunnerError::UnusedResource(name)) => assert_eq!(name, "starts"),
        other => panic!("expected UnusedResource, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Runner: streaming
// ---------------------------------------------------------------------------------------------

/// Runs `f` on a thread and fails if it has not returned within `secs` (a hang, not a slow run).
fn within<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(f()).ok());
    finished
        .recv_timeout(Duration::from_secs(secs))
        .expect("hung: did not return in time")
}

#[test]
fn streaming_with_a_panic_in_every_call_hands_every_job_over() {
    let (failed, indices) = within(20, || {
        let mut runner = Runner::new(|x: &u32| -> Result<u32, String> { panic!("job {x}") })
            .retry(Retry::never())
            .streaming(2);
        let sender = runner.job_sender();
        let producer = std::thread::spawn(move || {
            for x in 0..50 {
                sender.schedule(x);
            }
        });
        let (mut failed, mut indices) = (0, Vec::new());
        runner.run_each(|done| {
            failed += usize::from(done.result.is_none() && !done.errors.is_empty());
            indices.push(done.index);
        });
        producer.join().unwrap();
        (failed, indices)
    });
    assert_eq!(failed, 50);
    let mut indices = indices; // handed over as they finish
    indices.sort_unstable();
    assert_eq!(indices, (0..50).collect::<Vec<_>>());
}

/// An interrupt while the producer blocks on a full window: the run still returns.
#[test]
fn streaming_interrupted_while_a_sender_blocks_on_a_full_window_returns() {
    let handed = within(20, || {
        let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x)).streaming(2);
        let stop = runner.interrupt_handle();
        let sender = runner.job_sender();
        std::thread::spawn(move || {
            for x in 0..1_000 {
                sender.schedule(x);
            }
        });
        let mut handed = 0;
        runner.run_each(|_| {
            handed += 1;
            if handed == 3 {
                stop.interrupt();
            }
        });
        handed
    });
    assert!(handed < 1_000, "{handed}");
}

/// `schedule` on the runner's own thread after a streaming run: the job runs in the next run
/// under its next index.
#[test]
fn streaming_schedule_after_run_runs_in_the_next_run() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x * 10)).streaming(1);
    let sender = runner.job_sender();
    sender.schedule(1);
    drop(sender);
    let mut first = Vec::new();
    runner.run_each(|done| first.push((done.index, done.result.copied())));
    assert_eq!(first, vec![(0, Some(10))]);
    let index = runner.schedule(2).unwrap();
    let mut second = Vec::new();
    runner.run_each(|done| second.push((done.index, done.result.copied())));
    assert_eq!(second, vec![(index, Some(20))]);
}

// ---------------------------------------------------------------------------------------------
// Runner: a burst below the quantity on a window resource
// ---------------------------------------------------------------------------------------------

/// `Rate::new(10, 1 s).burst(3)` on a Runner resource (an exact window, paced): never more than
/// 3 at once (3 + floor(L / 100 ms) over any interval of length L) and never more than 10 in any
/// one-second window, with calls counted at their start and at their end.
#[test]
fn a_runner_window_with_a_burst_below_the_quantity_keeps_both_bounds() {
    for at_start in [false, true] {
        let (clock, time) = Clock::mock();
        let starts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&starts);
        let resource =
            Resource::new("starts", Rate::new(10, Duration::from_secs(1)).burst(3)).per_job(|_| 1);
        let resource = if at_start {
            resource.counted_at_start()
        } else {
            resource
        };
        let mut runner = Runner::new(move |_: &u32| {
            seen.lock().unwrap().push(time.now().as_u64());
            Ok::<(), String>(())
        })
        .with_clock(clock)
        .max_concurrent(1)
        .resource(resource);
        runner.schedule_all(0..60).unwrap();
        assert_eq!(runner.run().results.len(), 60);
        let starts = starts.lock().unwrap().clone();
        for (i, &from) in starts.iter().enumerate() {
            for (j, &to) in starts.iter().enumerate().skip(i) {
                let used = (j - i + 1) as u64;
                assert!(
                    used <= 3 + (to - from) / 100_000_000,
                    "at_start {at_start}: {used} starts in [{from}, {to}] ns: {starts:?}"
                );
                if to - from < 1_000_000_000 {
                    assert!(
                        used <= 10,
                        "at_start {at_start}: {used} in one second: {starts:?}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Journal: a file of the previous format
// ---------------------------------------------------------------------------------------------

/// A journal written by the previous version (format 2, same tables) is refused at `journal()`
/// with a message naming both formats, and stays refused (nothing rewrote its format).
#[cfg(feature = "journal")]
#[test]
fn a_journal_of_format_2_is_refused_naming_the_formats() {
    let dir = std::env::temp_dir().join(format!("adversarial-knobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("format-2.journal");
    let _ = std::fs::remove_file(&path);
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
    runner.schedule(7).unwrap();
    assert_eq!(runner.run().results, vec![Some(7)]);
    drop(runner);
    {
        let about: redb::TableDefinition<&str, &str> =
            redb::TableDefinition::new("tollgate_journal");
        let db = redb::Database::open(&path).unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(about)
            .unwrap()
            .insert("format", "2")
            .unwrap();
        write.commit().unwrap();
    }
    for _ in 0..2 {
        match Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path) {
            Err(err) => {
                let message = err.to_string();
                assert!(
                    message.contains("format 2") && message.contains('3'),
                    "{message}"
                );
            }
            Ok(_) => panic!("a format-2 journal was opened"),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Usage: used, reserved and debt kept apart
// ---------------------------------------------------------------------------------------------

/// The usage of `name` in `limiter`.
fn usage_of(limiter: &tollgate::MultiLimiter, name: &str) -> tollgate::Usage {
    limiter
        .usage()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, usage)| usage)
        .unwrap()
}

#[test]
fn usage_keeps_used_reserved_and_debt_apart_through_settles_cancels_and_set_rate() {
    for window in [false, true] {
        let (clock, time) = Clock::mock();
        let rate = Rate::new(100, Duration::from_secs(60));
        let limits = if window {
            Limits::new().window(TOKENS, rate)
        } else {
            Limits::new().rate(TOKENS, rate)
        };
        let limiter = tollgate::MultiLimiter::new(limits)
            .unwrap()
            .with_clock(clock);
        let went = limiter.acquire(&[(TOKENS, 60)]).unwrap();
        let waiter = limiter.reserve(&[(TOKENS, 70)]).unwrap();
        assert!(waiter.ready_at().unwrap() > time.now());
        let usage = usage_of(&limiter, TOKENS);
        assert_eq!(
            (usage.used, usage.reserved, usage.debt()),
            (60, 70, 0),
            "window {window}"
        );

        // A settle far above the estimate: debt, and the waiter still reserved (not used).
        went.settle(TOKENS, 250).unwrap();
        let usage = usage_of(&limiter, TOKENS);
        assert_eq!(
            (usage.used, usage.reserved, usage.debt()),
            (250, 70, 150),
            "window {window}"
        );

        // The waiter cancelled: nothing reserved, the debt as it was.
        waiter.cancel();
        let usage = usage_of(&limiter, TOKENS);
        assert_eq!(
            (usage.used, usage.reserved, usage.debt()),
            (250, 0, 150),
            "window {window}"
        );

        // A rate change: the limit is the new quantity, what was used is still used.
        limiter
            .set_rate(TOKENS, Rate::new(1_000, Duration::from_secs(60)))
            .unwrap();
        let usage = usage_of(&limiter, TOKENS);
        assert_eq!(usage.limit, Some(1_000), "window {window}");
        assert_eq!((usage.reserved, usage.debt()), (0, 0), "window {window}");
        assert!(usage.used <= 250, "window {window}: {usage:?}");
    }
}

/// A window's burst switched on and off by `set_rate`; above the quantity, a typed error that
/// leaves the rate in force.
#[test]
fn set_rate_switches_a_windows_burst_and_refuses_one_above_the_quantity() {
    let (clock, _time) = Clock::mock();
    let limiter = tollgate::MultiLimiter::new(
        Limits::new().window("x", Rate::new(10, Duration::from_secs(1))),
    )
    .unwrap()
    .with_clock(clock.clone());
    let paced = Rate::new(10, Duration::from_secs(1)).burst(2);
    limiter.set_rate("x", paced).unwrap();
    for _ in 0..2 {
        let _permit = limiter.try_acquire(&[("x", 1)]).unwrap();
    }
    assert!(
        limiter.try_acquire(&[("x", 1)]).is_err(),
        "a third at once past a burst of 2"
    );
    assert!(limiter
        .set_rate("x", Rate::new(10, Duration::from_secs(1)).burst(11))
        .is_err());
    assert_eq!(limiter.rate("x").unwrap(), paced);
    limiter
        .set_rate("x", Rate::new(10, Duration::from_secs(1)))
        .unwrap();
    // Unpaced again: the rest of the window's 10 at once.
    for _ in 0..8 {
        let _permit = limiter.try_acquire(&[("x", 1)]).unwrap();
    }
    assert!(limiter.try_acquire(&[("x", 1)]).is_err());
}

// ---------------------------------------------------------------------------------------------
// Runner: counted_at_start and Attempt::sent
// ---------------------------------------------------------------------------------------------

/// Starts counted from `Attempt::sent`, called after a slow spawn (900 ms every other job), from
/// another thread, and again later: no window of one second holds two real starts (the
/// instants `sent` was first called). Without `sent` the starts are 100 ms apart. One call at
/// a time: an auto-advancing mock clock moved by a second worker's wait would misdate a start
/// recorded inside a call.
#[test]
fn sent_twice_or_from_another_thread_never_lets_two_starts_share_a_window() {
    let (clock, time) = Clock::mock();
    let starts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&starts);
    let mut runner = Runner::new_with_attempt(move |job: &u32, attempt| {
        if job % 2 == 0 {
            time.advance(Duration::from_millis(900));
        }
        std::thread::scope(|s| {
            s.spawn(|| attempt.sent());
        });
        seen.lock().unwrap().push(time.now().as_u64());
        if job % 2 == 0 {
            time.advance(Duration::from_millis(100));
            attempt.sent();
        }
        Ok::<(), String>(())
    })
    .with_clock(clock)
    .max_concurrent(1)
    .resource(
        Resource::new("starts", Rate::per_second(1))
            .per_job(|_| 1)
            .counted_at_start(),
    );
    runner.schedule_all(0..6).unwrap();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(()); 6]);
    let mut starts = starts.lock().unwrap().clone();
    starts.sort_unstable();
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= 1_000_000_000, "{starts:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Presets: quotas at the edges of u64
// ---------------------------------------------------------------------------------------------

/// `OpenAiChat::azure` derives 6 requests per 1,000 tokens: a huge token quota must not
/// overflow (a panic in a debug build, a wrapped, tiny request quota in a release build).
#[cfg(feature = "http")]
#[test]
fn azure_with_a_huge_token_quota_neither_panics_nor_wraps() {
    let chat = tollgate::presets::OpenAiChat::azure(u64::MAX, 4_096);
    // floor((2^64 - 1) × 6 / 1,000)
    assert_eq!(chat.requests_per_minute, 110_680_464_442_257_309);
    assert_eq!(
        tollgate::presets::OpenAiChat::azure(999, 4_096).requests_per_minute,
        5
    );
}

/// The default share is the whole quota, exactly, whatever its size (an `f64` product rounds
/// quotas above 2^53).
#[cfg(feature = "http")]
#[test]
fn the_whole_token_quota_is_exact_above_2_pow_53() {
    let tpm = (1u64 << 53) + 1;
    let chat = tollgate::presets::OpenAiChat::new(100, tpm, 4_096);
    assert_eq!(chat.token_quota(), tpm);
    assert_eq!(chat.limits().get("tokens").unwrap().quantity(), tpm);
}

// ---------------------------------------------------------------------------------------------
// Near the end of time, and messages at a cap of zero
// ---------------------------------------------------------------------------------------------

/// At the clock's last instant a deadline of `Nanos::MAX` cannot be met by a call that must
/// wait: refused at once with a wait, never admitted early, never a hang or a panic.
#[test]
fn a_deadline_at_the_end_of_time_is_refused_when_the_wait_passes_it() {
    let (clock, time) = Clock::mock();
    time.advance_to(Nanos::MAX.saturating_sub(Nanos::from_millis(500)));
    let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock.clone());
    limiter.acquire().unwrap();
    let err = within(10, move || {
        limiter.try_acquire_until(1, Nanos::MAX).unwrap_err()
    });
    assert!(err.wait().is_some(), "{err:?}");
}

/// `max_retry_after(0)`: the job fails with a message that names the setting and does not
/// claim the wait is "longer than" something it is not.
#[test]
fn a_retry_after_refused_by_a_cap_of_zero_names_the_setting() {
    let (clock, _time) = Clock::mock();
    let mut runner = Runner::new(|_: &u32| Err::<u32, &str>("429"))
        .with_clock(clock)
        .retry(
            Retry::exponential(3)
                .max_retry_after(Duration::ZERO)
                .classify(|_| Verdict::RetryAfter(Duration::from_millis(1))),
        );
    runner.schedule(0).unwrap();
    let report = runner.run();
    assert_eq!(report.attempts, 1);
    let message = report.errors[0].last().unwrap().to_string();
    assert!(message.contains("max_retry_after"), "{message}");
}
