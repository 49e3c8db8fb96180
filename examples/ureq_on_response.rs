//! A Runner that learns the server's quota from its rate-limit headers, over real HTTP with
//! ureq 3, through [`Runner::on_response`](tollgate::Runner::on_response).
//!
//! The example starts the project's mock provider on loopback with a small quota (5 requests
//! per second) and gives the Runner a quota ten times too high (50 per second). The first
//! answers carry `x-ratelimit-limit-requests: 5` (and the 429s `retry-after` and
//! `x-ratelimit-remaining-requests: 0`): the response hook feeds them to the Runner's limiter,
//! which lowers its rate to the server's and holds calls until the reset. The 429s stop after
//! the first second.
//!
//! **ureq 3 turns every 4xx and 5xx into `Err(ureq::Error::StatusCode(code))` by default, which
//! drops the response, and with it a 429's headers.** Ask for the response itself with
//! `.config().http_status_as_error(false).build()` on the request (or
//! `Agent::config_builder().http_status_as_error(false)` for a whole agent), then classify the
//! status yourself (here with [`Signal::classify_http`]).
//!
//! `cargo run --features http --example ureq_on_response`

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tollgate::presets::{RateLimitHeaders, Signal};
use tollgate::{Attempt, Rate, Resource, Retry, Runner, Verdict};
use tollgate_mock_provider::{MockConfig, MockProvider};

/// A call the server did not answer with a success, with the headers it sent.
#[derive(Debug)]
struct HttpError {
    status: u16,
    signal: Option<Signal>,
    /// Boxed: a `Result`'s error is best kept small.
    headers: Box<RateLimitHeaders>,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} ({:?})", self.status, self.signal)
    }
}

/// Posts one chat request. Every answer, success or refusal, brings its headers back; the
/// Runner is told when they came (usage counts from then, not from the end of the body).
fn chat(
    agent: &ureq::Agent,
    url: &str,
    prompt: &str,
    attempt: &Attempt<'_>,
) -> Result<RateLimitHeaders, HttpError> {
    let body = format!(
        r#"{{"model":"gpt-mock","max_tokens":16,"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    );
    let unreachable = |_| HttpError {
        status: 0,
        signal: Some(Signal::Transient),
        headers: Box::default(),
    };
    let mut response = agent
        .post(url)
        .config()
        .http_status_as_error(false) // keep a 429 as a response: its headers are the point
        .build()
        .header("content-type", "application/json")
        .send(body.as_str())
        .map_err(unreachable)?;
    attempt.answered();
    let text = response.body_mut().read_to_string().map_err(unreachable)?;
    let (signal, headers) = Signal::classify_http(response.status(), response.headers(), &text);
    match signal {
        None => Ok(headers),
        Some(signal) => Err(HttpError {
            status: response.status().as_u16(),
            signal: Some(signal),
            headers: Box::new(headers),
        }),
    }
}

fn main() {
    let mock = MockProvider::start(
        MockConfig::new()
            .requests_per_window(5)
            .window(Duration::from_secs(1))
            .latency(Duration::from_millis(20)),
    )
    .expect("a free loopback port");
    let url = mock.chat_completions_url();
    let agent = ureq::Agent::new_with_defaults();
    // The rate in force after the last response, to show what was learnt.
    let learnt = Mutex::new(None);

    let mut runner =
        Runner::new_with_attempt(move |prompt: &String, attempt| {
            chat(&agent, &url, prompt, attempt)
        })
        // Ten times the server's quota: the headers correct it.
        .resource(Resource::new("requests", Rate::per_second(50)).per_job(|_| 1))
        .on_response(|outcome, limiter| {
            let headers = match outcome {
                Ok(headers) => headers,
                Err(err) => &*err.headers,
            };
            // The server reports requests only; `apply_to` maps each header family to the
            // resource of the same name ("requests"): the limit lowers the rate, the
            // remaining count and reset hold calls until the server's window frees.
            headers.apply_to(limiter).ok();
            *learnt.lock().unwrap() = limiter.rate("requests").ok();
        })
        .retry(Retry::exponential(8).classify(|err: &HttpError| {
            err.signal.map_or(Verdict::Retry, |signal| signal.verdict())
        }))
        .max_concurrent(8);
    runner
        .schedule_all((0..30).map(|n| format!("question {n}")))
        .expect("every job fits the quota");

    let started = Instant::now();
    let report = runner.run();
    let wall = started.elapsed();
    let stats = mock.stats();
    let answered = report.results.iter().filter(|r| r.is_some()).count();
    println!("{answered}/30 answered in {wall:.1?} (the server allows 5 per second: about 5.0 s)");
    println!(
        "the server saw {} requests: {} accepted, {} refused with 429",
        stats.requests, stats.accepted, stats.rejected
    );
    if let Some(rate) = *learnt.lock().unwrap() {
        println!("the Runner's requests quota, learnt from the headers: {rate} (given: 50/s)");
    }
    assert_eq!(answered, 30, "every job is answered");
}
