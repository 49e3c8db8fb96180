//! Every server-given or jittered wait is capped by the one setting the user sees, and errors
//! name the setting to change in the context they are raised in, and what exists.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use tollgate::{
    AttemptError, Clock, LimitError, Limits, ModelLimiter, MultiLimiter, Nanos, Rate, Resource,
    Retry, Runner, Verdict, REQUESTS,
};

use crate::support;

/// The issue's case: a jitter of 1 h with `RetryAfter(1 ms)` had not returned after 150 s. The
/// retry now comes within `max_retry_after` (2 s here).
#[test]
fn a_jittered_retry_after_is_capped_by_max_retry_after() {
    let (clock, time) = Clock::mock();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let mut runner = Runner::new(move |_: &u32| {
        let mut calls = seen.lock().unwrap();
        calls.push(time.now());
        match calls.len() {
            1 => Err("429"),
            _ => Ok(()),
        }
    })
    .retry(
        Retry::exponential(1)
            .retry_after_jitter(Duration::from_secs(3_600))
            .max_retry_after(Duration::from_secs(2))
            .classify(|_: &&str| Verdict::RetryAfter(Duration::from_millis(1))),
    )
    .with_clock(clock);
    runner.schedule(0).unwrap();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(())]);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert!(calls[1] >= Nanos::from_millis(1), "{calls:?}");
    assert!(calls[1] <= Nanos::from_secs(2), "{calls:?}");
}

/// A new user's case: 8 calls refused together with "retry after 1 s" and a jitter of 500 ms
/// were all retried at one instant (the jitter lengthened the one shared pause). Each is now
/// retried after its own jitter past the pause: 1 s after the refusal at the earliest, the
/// retries spread out. On the real clock: on a stepped mock clock the test could move time
/// before the Runner's coordinator (a thread that waits on no clock) had queued the retries, and
/// under load it did (every retry at one late instant). The eight calls meet before any is
/// refused: a worker that started late would otherwise find new calls paused by the first
/// refusal and never be refused with the others.
#[test]
fn calls_refused_together_are_retried_at_their_own_instants() {
    // Nothing frees the eight calls meeting at the barrier if fewer ever run at once.
    support::watchdog::watch_this_test();
    let retries = Arc::new(Mutex::new(Vec::new()));
    let refused_at = Arc::new(Mutex::new(None));
    let first_calls = Arc::new(Mutex::new(HashSet::new()));
    let together = Arc::new(Barrier::new(8));
    let (seen, refusal) = (Arc::clone(&retries), Arc::clone(&refused_at));
    let mut runner = Runner::new(move |job: &u32| {
        if first_calls.lock().unwrap().insert(*job) {
            together.wait();
            refusal.lock().unwrap().get_or_insert_with(Instant::now);
            return Err("429");
        }
        seen.lock().unwrap().push(Instant::now());
        Ok(())
    })
    .retry(
        Retry::exponential(1)
            .retry_after_jitter(Duration::from_millis(500))
            .classify(|_: &&str| Verdict::RetryAfter(Duration::from_secs(1))),
    )
    .max_concurrent(8);
    runner.schedule_all(0..8).unwrap();
    let report = runner.run();
    assert!(report.results.iter().all(Option::is_some));
    let refused_at = refused_at.lock().unwrap().expect("the calls were refused");
    let mut retries: Vec<Duration> = retries
        .lock()
        .unwrap()
        .iter()
        .map(|at| at.duration_since(refused_at))
        .collect();
    retries.sort();
    assert_eq!(retries.len(), 8);
    // Not before the server's second; within the jitter of 500 ms after the pause, with a
    // generous allowance for a loaded machine (the bound that matters is the lower one).
    assert!(retries[0] >= Duration::from_secs(1), "{retries:?}");
    assert!(retries[7] <= Duration::from_secs(5), "{retries:?}");
    // Eight jitters drawn in [0, 500 ms) all within 20 ms of one another: about 1 in 10⁸.
    assert!(
        retries[7] - retries[0] >= Duration::from_millis(20),
        "every retry at one instant: {retries:?}"
    );
}

/// Inside a Runner the longest hold is `Retry::max_retry_after`: the error says so.
#[test]
fn a_hold_too_long_inside_a_runner_names_retry_max_retry_after() {
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&attempts);
    let mut runner = Runner::new(move |_: &u32| {
        counted.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>("503".to_owned())
    })
    .resource(Resource::new(REQUESTS, Rate::per_second(100)))
    .on_response(|_, limiter| {
        limiter
            .observe(REQUESTS, 0, Some(Duration::from_secs(3_600)))
            .unwrap();
    })
    .retry(Retry::exponential(3).max_retry_after(Duration::from_secs(30)));
    runner.schedule(0).unwrap();
    let report = runner.run();
    let held = report.errors[0]
        .iter()
        .find_map(|err| match &**err {
            AttemptError::Quota(err @ LimitError::HeldTooLong { .. }) => Some(err.clone()),
            _ => None,
        })
        .expect("a HeldTooLong");
    let message = held.to_string();
    assert!(message.contains("Retry::max_retry_after"), "{message}");
    assert!(!message.contains("Limits::max_hold"), "{message}");
    assert!(matches!(held, LimitError::HeldTooLong { max, .. } if max == Duration::from_secs(30)));
    // Outside a Runner, the setting is Limits::max_hold.
    let api = MultiLimiter::new(Limits::new().rpm(10)).unwrap();
    api.observe(REQUESTS, 0, Some(Duration::from_secs(3_600)))
        .unwrap();
    let message = api.acquire(&[(REQUESTS, 1)]).unwrap_err().to_string();
    assert!(message.contains("Limits::max_hold"), "{message}");
}

/// "longer than" only when it is longer: 1000 years against `Duration::MAX` fails for the
/// clock's end, and says that.
#[test]
fn retry_after_too_long_says_what_is_true() {
    let thousand_years = Duration::from_secs(1_000 * 365 * 86_400);
    let past_the_end: AttemptError<String> = AttemptError::RetryAfterTooLong {
        requested: thousand_years,
        cap: Duration::MAX,
    };
    let message = past_the_end.to_string();
    assert!(!message.contains("longer than"), "{message}");
    assert!(message.contains("clock"), "{message}");
    let above: AttemptError<String> = AttemptError::RetryAfterTooLong {
        requested: Duration::from_secs(300),
        cap: Duration::from_secs(120),
    };
    let message = above.to_string();
    assert!(
        message.contains("longer than Retry::max_retry_after"),
        "{message}"
    );
}

#[test]
fn an_unknown_resource_lists_the_resources_that_exist() {
    let api = MultiLimiter::new(Limits::new().rpm(10).input_tpm(100).output_tpm(50)).unwrap();
    let err = api.acquire(&[("tokens", 1)]).unwrap_err();
    assert_eq!(
        err,
        LimitError::UnknownResource {
            name: "tokens".into(),
            known: vec![
                "requests".into(),
                "input_tokens".into(),
                "output_tokens".into()
            ],
        }
    );
    let message = err.to_string();
    assert!(
        message.contains(r#""requests", "input_tokens", "output_tokens""#),
        "{message}"
    );
}

#[test]
fn a_model_limiter_without_models_or_default_is_an_error_at_build() {
    let err = ModelLimiter::builder().build().unwrap_err();
    assert_eq!(err, LimitError::NoModels);
    assert!(err.to_string().contains(".default("), "{err}");
    assert!(ModelLimiter::builder()
        .default(Limits::new().rpm(1))
        .build()
        .is_ok());
}

/// A new user's case: `Resource::new("calls", rate)` with no cost ran 30 jobs in 3 ms. A
/// resource that no job can use is an error naming it and what to add; "requests" counts one
/// per job by itself.
#[test]
fn a_resource_that_counts_nothing_is_an_error_naming_it() {
    let mut runner = Runner::new(|_: &u32| Ok::<(), String>(()))
        .resource(Resource::new("calls", Rate::per_second(20).burst(1)));
    let err = runner.schedule(0).unwrap_err();
    assert!(
        matches!(&err, tollgate::RunnerError::UnusedResource(name) if name == "calls"),
        "{err:?}"
    );
    assert!(err.to_string().contains(".per_job(|_| 1)"), "{err}");
    let mut requests = Runner::new(|_: &u32| Ok::<(), String>(()))
        .resource(Resource::new(REQUESTS, Rate::per_second(20)));
    requests.schedule(0).unwrap();
}
