//! Calling an OpenAI-compatible chat endpoint over real HTTP (ureq, blocking) through a Runner
//! that learns the server's quota from its headers: shared by `examples/http_quota_table.rs`
//! and `tests/presets/http_path.rs`, against the project's loopback mock provider.

#![allow(dead_code)] // each user of this module uses a part of it

use std::fmt;
use std::time::Duration;

use tollgate::presets::{RateLimitHeaders, Signal};
use tollgate::{Attempt, Rate, Resource, Retry, Runner, Verdict};

/// A response the server did not answer with a success: what the Runner's classifier and
/// response hook need.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    pub signal: Option<Signal>,
    pub headers: Box<RateLimitHeaders>,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} ({:?})", self.status, self.signal)
    }
}

/// A completion: its token usage and the rate-limit headers it came with.
#[derive(Clone, Debug)]
pub struct Completion {
    pub total_tokens: u64,
    pub headers: RateLimitHeaders,
}

/// Posts one chat request; every answer's headers come back, in the reply or in the error.
/// The answer's instant goes to `attempt` ([`Attempt::answered`]: the Runner bills the call
/// from there, not from its completion) once its body is read: a whole answer comes with its
/// headers, and read first, the connection is free before the Runner's bookkeeping.
pub fn chat(
    agent: &ureq::Agent,
    url: &str,
    prompt: &str,
    attempt: &Attempt<'_>,
) -> Result<Completion, HttpError> {
    let body = format!(
        r#"{{"model":"gpt-mock","max_tokens":16,"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    );
    let transport = |status| HttpError {
        status,
        signal: Some(Signal::Transient),
        headers: Box::default(),
    };
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.as_str())
        .map_err(|_| transport(0))?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|_| transport(0))?;
    attempt.answered();
    let (signal, headers) = Signal::classify_http(response.status(), response.headers(), &text);
    if let Some(signal) = signal {
        return Err(HttpError {
            status: response.status().as_u16(),
            signal: Some(signal),
            headers: Box::new(headers),
        });
    }
    let total_tokens = text
        .split("\"total_tokens\":")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0);
    Ok(Completion {
        total_tokens,
        headers,
    })
}

/// A client that does not turn error statuses into transport errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// A Runner calling `url` for each prompt, with a requests quota of `requests` per period
/// (exact window), learning the server's quota from the first response, honouring 429s.
pub fn runner(url: String, requests: Rate) -> Runner<'static, String, Completion, HttpError> {
    learning_runner(
        url,
        Resource::new("requests", requests).per_job(|_| 1),
        None,
    )
}

/// The same, with a tokens quota too: each request reserves its estimate (its prompt tokens, as
/// the server's tokenizer counts them, plus `max_tokens`) and is billed the `usage` the server
/// reports.
pub fn runner_with_tokens(
    url: String,
    requests: Rate,
    tokens: Rate,
) -> Runner<'static, String, Completion, HttpError> {
    let tokens = Resource::new("tokens", tokens)
        .estimate(|prompt: &String| {
            let prompt_tokens = tollgate_mock_provider::prompt_tokens([prompt.as_str()]);
            tollgate_mock_provider::arrival_cost(prompt_tokens, Some(16))
        })
        .actual(|completion: &Completion| completion.total_tokens);
    learning_runner(
        url,
        Resource::new("requests", requests).per_job(|_| 1),
        Some(tokens),
    )
}

fn learning_runner(
    url: String,
    requests: Resource<String, Completion>,
    tokens: Option<Resource<String, Completion>>,
) -> Runner<'static, String, Completion, HttpError> {
    let agent = agent();
    let runner = Runner::new_with_attempt(move |prompt: &String, attempt: &Attempt<'_>| {
        chat(&agent, &url, prompt, attempt)
    })
    .resource(requests);
    let runner = match tokens {
        Some(tokens) => runner.resource(tokens),
        None => runner,
    };
    runner
        .on_response(|outcome, limiter| {
            let headers = match outcome {
                Ok(completion) => &completion.headers,
                Err(err) => &*err.headers,
            };
            // The mock reports requests and tokens; this runner counts requests only.
            headers.apply_as(limiter, &[]).ok();
        })
        .retry(Retry::exponential(8).classify(|err: &HttpError| {
            err.signal.map_or(Verdict::Retry, |signal| signal.verdict())
        }))
        .probe_first()
        .max_concurrent(16)
}
