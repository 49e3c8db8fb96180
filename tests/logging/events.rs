//! With the `log` feature, what the limiter does is visible: a quota learnt from headers, a
//! pause the server asked for, a retry, a wait for quota.
#![cfg(feature = "log")]

use std::sync::Mutex;
use std::time::Duration;

use tollgate::presets::RateLimitHeaders;
use tollgate::{Limits, MultiLimiter, Rate, Resource, Retry, Runner, Verdict};

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "tollgate"
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            EVENTS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

fn logged(fragment: &str) -> bool {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .any(|event| event.contains(fragment))
}

#[test]
fn waits_pauses_retries_and_learnt_quotas_are_logged() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Debug);

    let api = MultiLimiter::new(Limits::new().rpm(600)).unwrap();
    RateLimitHeaders::parse([("x-ratelimit-limit-requests", "60")])
        .apply_to(&api)
        .unwrap();
    assert!(
        logged("requests: learnt the server's quota"),
        "{:?}",
        EVENTS.lock()
    );

    let failures = Mutex::new(2);
    let mut runner = Runner::new(move |_: &u32| {
        let mut failures = failures.lock().unwrap();
        match *failures {
            0 => Ok(()),
            n => {
                *failures = n - 1;
                Err(n)
            }
        }
    })
    .resource(Resource::new("requests", Rate::new(2, Duration::from_millis(200))).per_job(|_| 1))
    .retry(
        Retry::exponential(3)
            .base(Duration::from_millis(1))
            .retry_after_jitter(Duration::ZERO)
            .classify(|failure: &u32| match failure {
                2 => Verdict::RetryAfter(Duration::from_millis(10)),
                _ => Verdict::Retry,
            }),
    )
    .max_concurrent(1);
    runner.schedule_all(0..4).unwrap();
    assert!(runner.run().results.iter().all(Option::is_some));
    assert!(logged("pausing new calls"), "{:?}", EVENTS.lock());
    assert!(logged("retrying in"), "{:?}", EVENTS.lock());
    assert!(logged("waiting"), "{:?}", EVENTS.lock());
}
