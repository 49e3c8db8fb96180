//! One rule for counting requests in every limiter and the Runner: a call counts one request
//! unless its costs name `"requests"` (a Runner resource named `"requests"` without `per_job`).

use tollgate::{
    Clock, Limits, ModelLimiter, MultiLimiter, Nanos, Rate, Resource, Retry, Runner, REQUESTS,
    TOKENS,
};

fn requests_used(api: &MultiLimiter) -> u64 {
    let usage = api.usage();
    let (_, requests) = usage.iter().find(|(name, _)| name == REQUESTS).unwrap();
    requests.used
}

#[test]
fn a_multi_limiter_call_counts_one_request_unless_named() {
    let api = MultiLimiter::new(Limits::new().rpm(60).tpm(1_000)).unwrap();
    drop(api.acquire(&[(TOKENS, 10)]).unwrap());
    assert_eq!(requests_used(&api), 1, "the issue's case: 0 before");
    drop(api.acquire(&[(REQUESTS, 3), (TOKENS, 10)]).unwrap());
    assert_eq!(requests_used(&api), 4);
    drop(api.acquire(&[(REQUESTS, 0), (TOKENS, 10)]).unwrap());
    assert_eq!(requests_used(&api), 4);
    drop(api.try_acquire(&[]).unwrap());
    assert_eq!(requests_used(&api), 5);
}

#[test]
fn a_model_limiter_counts_by_the_same_rule() {
    let models = ModelLimiter::builder()
        .model("m", Limits::new().rpm(60).tpm(1_000))
        .build()
        .unwrap();
    drop(models.acquire("m", &[(TOKENS, 10)]).unwrap());
    drop(models.acquire("m", &[(REQUESTS, 2), (TOKENS, 10)]).unwrap());
    assert_eq!(requests_used(&models.limiter("m").unwrap()), 3);
}

/// Three jobs on two requests per minute: the third waits for the window (it did not, when
/// the Runner counted no request without `per_job`).
#[test]
fn a_runner_resource_named_requests_counts_one_per_job_unless_per_job_says_otherwise() {
    for (per_job, waits) in [(None, true), (Some(0), false), (Some(1), true)] {
        let (clock, time) = Clock::mock();
        let requests = Resource::new(REQUESTS, Rate::per_minute(2));
        let requests = match per_job {
            Some(cost) => requests.per_job(move |_| cost),
            None => requests,
        };
        let mut runner = Runner::new(|_: &u32| Ok::<(), String>(()))
            .resource(requests)
            .max_concurrent(1)
            .retry(Retry::never())
            .with_clock(clock);
        for job in 0..3 {
            runner.schedule(job).unwrap();
        }
        assert_eq!(runner.run().attempts, 3);
        assert_eq!(
            time.now() >= Nanos::from_secs(60),
            waits,
            "per_job {per_job:?}"
        );
    }
}
