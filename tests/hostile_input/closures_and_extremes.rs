//! Nothing a caller passes may hang, panic, overflow or silently go wrong: panics in every user
//! closure of a Runner, extreme durations and costs, duplicate names, interrupts before a run,
//! the end of the clock's time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tollgate::{
    AttemptError, Clock, LimitError, Limits, MultiLimiter, Nanos, Rate, RateLimiter, Resource,
    Retry, Runner, RunnerError, Verdict, TOKENS,
};

/// Runs a one-job runner built by `configure` on a watchdog thread: it must return within 10 s.
fn run_one<T: Clone + Send + 'static>(
    configure: impl FnOnce(Runner<'static, u64, T, String>) -> Runner<'static, u64, T, String>
        + Send
        + 'static,
    call: impl Fn(&u64) -> Result<T, String> + Send + Sync + 'static,
) -> tollgate::RunReport<T, String> {
    let (done, report) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut runner =
            configure(Runner::new(call).retry(Retry::exponential(1).base(Duration::ZERO)));
        runner.schedule(1).unwrap();
        done.send(runner.run()).ok();
    });
    report
        .recv_timeout(Duration::from_secs(10))
        .expect("run() must return")
}

fn panicked<T, E>(report: &tollgate::RunReport<T, E>, message: &str) -> bool {
    report.errors[0]
        .iter()
        .any(|err| matches!(&**err, AttemptError::Panicked(m) if m.contains(message)))
}

#[test]
fn a_panic_in_any_user_closure_fails_the_attempt_and_run_returns() {
    let points = || Resource::new("points", Rate::per_second(1_000));

    let report = run_one(
        move |r| r.resource(points().estimate(|_| panic!("estimate boom"))),
        |n| Ok(*n),
    );
    assert!(panicked(&report, "estimate boom"), "{:?}", report.errors);

    let report = run_one(
        move |r| r.resource(points().per_job(|_| panic!("per_job boom"))),
        |n| Ok(*n),
    );
    assert!(panicked(&report, "per_job boom"));

    let report = run_one(
        move |r| {
            r.resource(
                points()
                    .estimate(|_| 1)
                    .actual(|_: &u64| panic!("actual boom")),
            )
        },
        |n| Ok(*n),
    );
    assert!(panicked(&report, "actual boom"));

    let report = run_one(|r| r.on_response(|_, _| panic!("observe boom")), |n| Ok(*n));
    assert!(panicked(&report, "observe boom"));

    let report = run_one(|r| r.validate(|_| panic!("validate boom")), |n| Ok(*n));
    assert!(panicked(&report, "validate boom"));

    let report = run_one(
        |r| r.retry(Retry::exponential(1).classify(|_: &String| panic!("classifier boom"))),
        |_| Err::<u64, _>("no".to_owned()),
    );
    assert!(panicked(&report, "classifier boom"));
    assert_eq!(
        report.attempts, 2,
        "a panicking classifier retries like a panicking call"
    );
}

#[test]
fn a_retry_after_of_duration_max_fails_the_job_instead_of_overflowing() {
    let report = run_one(
        |r| {
            r.retry(
                Retry::exponential(2)
                    .max_retry_after(Duration::MAX)
                    .classify(|_: &String| Verdict::RetryAfter(Duration::MAX)),
            )
        },
        |_| Err::<u64, _>("429".to_owned()),
    );
    assert_eq!(report.results, vec![None]);
    assert!(report.errors[0]
        .iter()
        .any(|err| matches!(**err, AttemptError::RetryAfterTooLong { .. })));
}

#[test]
fn costs_that_overflow_are_refused_at_schedule() {
    let mut runner = Runner::new(|n: &u64| Ok::<u64, String>(*n)).resource(
        Resource::new("points", Rate::per_minute(1_000))
            .per_job(|_| u64::MAX)
            .estimate(|_| 1),
    );
    assert!(matches!(
        runner.schedule(1),
        Err(RunnerError::ExceedsQuota { cost: u64::MAX, .. })
    ));
}

#[test]
fn two_resources_of_one_name_are_refused_at_configuration() {
    let mut runner = Runner::new(|n: &u64| Ok::<u64, String>(*n))
        .resource(Resource::new("requests", Rate::per_minute(2)).per_job(|_| 1))
        .resource(Resource::new("requests", Rate::per_minute(1_000)).per_job(|_| 1));
    assert_eq!(
        runner.schedule(1),
        Err(RunnerError::DuplicateResource("requests".to_owned()))
    );
}

#[test]
fn a_resource_named_twice_in_one_acquire_costs_the_sum() {
    let api = MultiLimiter::new(Limits::new().tpm(1_000)).unwrap();
    assert!(matches!(
        api.try_acquire(&[(TOKENS, 600), (TOKENS, 600)]),
        Err(LimitError::ExceedsCapacity { cost: 1_200, .. })
    ));
    assert!(matches!(
        api.try_acquire(&[(TOKENS, u64::MAX), (TOKENS, u64::MAX)]),
        Err(LimitError::ExceedsCapacity { .. })
    ));
}

#[test]
fn an_interrupt_before_the_run_interrupts_it() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let mut runner = Runner::new(move |n: &u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(*n)
    })
    .max_concurrent(1);
    for n in 0..5 {
        runner.schedule(n).unwrap();
    }
    runner.interrupt_handle().interrupt();
    let report = runner.run();
    assert!(report.interrupted);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no call started");
    let report = runner.run();
    assert!(!report.interrupted, "the interrupt was for one run");
    assert!(report.results.iter().all(Option::is_some));
}

#[test]
fn a_server_reset_of_duration_max_does_not_overflow() {
    let (clock, _time) = Clock::mock();
    let limiter =
        RateLimiter::token_bucket(Rate::new(3, Duration::from_nanos(6))).with_clock(clock);
    limiter.observe(0, Some(Duration::MAX)).unwrap();
    limiter.observe(1, Some(Duration::MAX)).unwrap();
    assert!(limiter.try_acquire().is_err());
    assert!(
        limiter.try_acquire_for(1, Duration::MAX).is_err(),
        "held to the end of time"
    );
}

#[test]
fn at_the_end_of_the_clocks_time_nothing_more_than_the_burst_is_admitted() {
    for limiter in [
        RateLimiter::new(Rate::per_second(1)),
        RateLimiter::new(Rate::per_second(1)),
    ] {
        let (clock, time) = Clock::mock();
        let limiter = limiter.with_clock(clock);
        time.advance(Duration::from_nanos(u64::MAX));
        assert_eq!(time.now(), Nanos::MAX);
        let admitted = (0..1_000).filter(|_| limiter.try_acquire().is_ok()).count();
        assert!(admitted <= 1, "{admitted} admitted");
        assert!(limiter.try_acquire_for(1, Duration::MAX).is_err());
    }
    let (clock, time) = Clock::mock();
    let window = RateLimiter::token_bucket(Rate::per_second(1)).with_clock(clock);
    time.advance(Duration::from_nanos(u64::MAX));
    let admitted = (0..1_000).filter(|_| window.try_acquire().is_ok()).count();
    assert!(admitted <= 1, "{admitted} admitted");
}

#[test]
fn a_server_hold_years_ahead_fails_the_jobs_with_a_typed_error_instead_of_freezing_the_run() {
    use tollgate::presets::RateLimitHeaders;
    let report = run_one(
        |r| {
            r.resource(Resource::new("requests", Rate::per_second(100)).per_job(|_| 1))
                .on_response(|_, limiter| {
                    let headers = RateLimitHeaders::parse([
                        ("x-ratelimit-remaining-requests", "0"),
                        ("x-ratelimit-reset-requests", "1000000h"),
                    ]);
                    headers.apply_to(limiter).ok();
                })
                .retry(Retry::exponential(3))
        },
        |_| Err::<u64, _>("503".to_owned()),
    );
    assert_eq!(report.results, vec![None]);
    assert!(
        report.errors[0].iter().any(|err| matches!(
            &**err,
            AttemptError::Quota(LimitError::HeldTooLong { resource, wait, .. })
                if resource == "requests" && *wait > Duration::from_secs(3_600)
        )),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_limiter_refuses_to_wait_years_for_a_servers_hold() {
    let limiter = RateLimiter::new(Rate::per_second(10));
    limiter
        .observe(0, Some(Duration::from_secs(1_000_000 * 3_600)))
        .unwrap();
    assert!(matches!(
        limiter.acquire(),
        Err(tollgate::AcquireError::HeldTooLong { .. })
    ));
    let api = MultiLimiter::new(Limits::new().rpm(10)).unwrap();
    api.observe("requests", 0, Some(Duration::MAX)).unwrap();
    assert!(matches!(
        api.acquire(&[("requests", 1)]),
        Err(LimitError::HeldTooLong { .. })
    ));
}

#[test]
fn a_waiting_permit_dropped_unwaited_frees_its_slot_when_its_turn_comes() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(1).max_parallel(1))
        .unwrap()
        .with_clock(clock);
    drop(api.acquire(&[("requests", 1)]).unwrap());
    let dropped = api.reserve(&[("requests", 1)]).unwrap(); // planned at 60 s, holds the slot
    assert_eq!(dropped.ready_at(), Some(Nanos::from_secs(60)));
    drop(dropped);
    let (done, finished) = std::sync::mpsc::channel();
    let api2 = api.clone();
    std::thread::spawn(move || {
        done.send(api2.acquire(&[("requests", 1)]).map(|_| ())).ok();
    });
    let outcome = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the acquire must not hang");
    assert!(outcome.is_ok());
    assert_eq!(
        time.now(),
        Nanos::from_secs(120),
        "behind the dropped one's request"
    );
}

#[test]
fn a_refused_waiter_dropped_leaves_the_line() {
    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
    limiter.acquire_n(10).unwrap();
    let waiting = limiter.reserve(10).unwrap();
    limiter.set_rate(Rate::per_second(5)).unwrap(); // 10 no longer fits the burst: refused
    drop(waiting);
    assert_eq!(limiter.stats().waiting, 0);
}

#[test]
fn saturated_debt_neither_panics_nor_gives_back_other_calls_units() {
    let (clock, _time) = Clock::mock();
    let bucket = RateLimiter::token_bucket(Rate::per_second(3)).with_clock(clock);
    let reservation = bucket.reserve(1).unwrap();
    reservation.settle(u64::MAX).unwrap();
    bucket.set_rate(Rate::per_second(2)).unwrap(); // re-scales a saturated backlog
    assert!(bucket.try_acquire().is_err());

    let (clock, _time) = Clock::mock();
    let limiter = RateLimiter::new(Rate::per_second(10)).with_clock(clock);
    let _first = limiter.reserve(5).unwrap();
    let second = limiter.reserve(5).unwrap();
    second.settle(u64::MAX).unwrap();
    second.settle(0).unwrap();
    assert!(
        limiter.try_acquire_n(10).is_err(),
        "the first call's 5 units still count"
    );
}
