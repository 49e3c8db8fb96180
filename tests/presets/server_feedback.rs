//! End to end: a Runner that believes the quotas are twice the server's finishes every job by
//! reading the server's 429s with `tollgate::presets`.

use std::sync::Arc;
use std::time::Duration;

use crate::support::fake_api::{ApiError, FakeApi, FakeConfig};
use tollgate::{AdaptiveSemaphore, Rate, Resource, Retry, Runner};

#[test]
fn an_optimistic_runner_listens_to_the_server_and_finishes_every_job() {
    let window = Duration::from_millis(300);
    let api = Arc::new(FakeApi::new(FakeConfig {
        requests_per_window: 6,
        window,
        latency: Duration::from_millis(5),
        ..FakeConfig::default()
    }));
    let server = Arc::clone(&api);
    let adaptive = Arc::new(
        AdaptiveSemaphore::builder(6)
            .step_time(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let mut runner = Runner::new(move |key: &u64| server.call(*key, 1))
        .resource(Resource::new("requests", Rate::new(12, window)).per_job(|_| 1))
        .on_response(|outcome, limiter| {
            if let Err(err) = outcome {
                err.headers().apply_to(limiter).ok();
            }
        })
        .adaptive(Arc::clone(&adaptive))
        .retry(Retry::exponential(10).classify(ApiError::verdict))
        .max_concurrent(8);
    for key in 0..24 {
        runner.schedule(key).unwrap();
    }
    let (results, errors) = runner.run().into_parts();
    assert!(results.iter().all(Option::is_some), "{errors:?}");
    let rejected = api.stats().rejected;
    assert!(
        rejected > 0,
        "the runner's belief was optimistic: the server pushed back"
    );
    assert!(
        rejected <= 12,
        "each 429 pauses every start: {rejected} is too many"
    );
    // Backpressure lowered the concurrency limit from 6 (it grows back only every minute).
    assert!(adaptive.limit() < 6);
}
