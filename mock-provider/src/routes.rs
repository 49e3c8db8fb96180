//! What the provider answers to each request: the chat completions route and its 429s, the
//! statistics route, and the errors.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::chat;
use crate::http::{Request, Response};
use crate::quota::{ceil_millis, ceil_secs, go_duration, Decision, Gauges, Kind};
use crate::server::Shared;
use crate::{MockConfig, CHAT_COMPLETIONS_PATH, STATS_PATH};

pub(crate) fn error_response(
    status: u16,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    Response::json(status, body.to_string())
}

/// The answer to any request while the provider stops.
pub(crate) fn shutting_down() -> Response {
    error_response(
        503,
        "The mock provider is shutting down.",
        "server_error",
        None,
        None,
    )
}

/// Routes a request.
pub(crate) fn respond(shared: &Shared, request: Request) -> Response {
    let path = request.path.as_str();
    let method = request.method.as_str();
    match (path, method) {
        (CHAT_COMPLETIONS_PATH, "POST") => chat_completion(shared, &request.body),
        (STATS_PATH, "GET") => Response::json(200, shared.state().stats.to_json()),
        (CHAT_COMPLETIONS_PATH | STATS_PATH, _) => {
            let allow = if path == STATS_PATH { "GET" } else { "POST" };
            error_response(
                405,
                &format!("Method {method} is not allowed on {path}: use {allow}."),
                "invalid_request_error",
                None,
                Some("method_not_allowed"),
            )
            .header("allow", allow)
        }
        _ => error_response(
            404,
            &format!(
                "Unknown request URL: {method} {path}. This mock serves POST \
                 {CHAT_COMPLETIONS_PATH} and GET {STATS_PATH}."
            ),
            "invalid_request_error",
            None,
            Some("unknown_url"),
        ),
    }
}

/// `POST /v1/chat/completions`.
fn chat_completion(shared: &Shared, body: &[u8]) -> Response {
    let chat = match chat::parse(body) {
        Ok(chat) => chat,
        Err(invalid) => {
            shared.state().stats.invalid += 1;
            return error_response(
                400,
                &invalid.message,
                "invalid_request_error",
                invalid.param,
                None,
            );
        }
    };

    let cost = chat.arrival_cost();
    let (arrival, decision, id) = {
        let mut state = shared.state();
        let arrival = Instant::now();
        let decision = state.window.admit(arrival, cost);
        let stats = &mut state.stats;
        stats.requests += 1;
        match decision {
            Decision::Accepted(_) => stats.accepted += 1,
            Decision::Refused { kind, .. } => {
                stats.rejected += 1;
                match kind {
                    Kind::Requests => stats.rejected_requests += 1,
                    Kind::Tokens => stats.rejected_tokens += 1,
                }
            }
        }
        let id = state.next_id;
        if matches!(decision, Decision::Accepted(_)) {
            state.next_id += 1;
        }
        (arrival, decision, id)
    };

    match decision {
        Decision::Accepted(_) if id <= shared.config.hang_first => {
            shared.wait_for_stop();
            shutting_down()
        }
        Decision::Accepted(gauges) => {
            shared.sleep_until(arrival + shared.config.latency);
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let body = chat::completion_body(id, created, &chat);
            with_gauges(Response::json(200, body.to_string()), &gauges)
        }
        Decision::Refused { kind, wait, gauges } => {
            refusal(&shared.config, &chat.model, cost, kind, wait, &gauges)
        }
    }
}

/// Adds the `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers of the quotas that
/// exist.
fn with_gauges(mut response: Response, gauges: &Gauges) -> Response {
    for (name, gauge) in [("requests", gauges.requests), ("tokens", gauges.tokens)] {
        if let Some(gauge) = gauge {
            response = response
                .header(
                    &format!("x-ratelimit-limit-{name}"),
                    gauge.limit.to_string(),
                )
                .header(
                    &format!("x-ratelimit-remaining-{name}"),
                    gauge.remaining.to_string(),
                )
                .header(
                    &format!("x-ratelimit-reset-{name}"),
                    go_duration(gauge.reset),
                );
        }
    }
    response
}

/// The 429 answer.
fn refusal(
    config: &MockConfig,
    model: &str,
    cost: u64,
    kind: Kind,
    wait: Option<Duration>,
    gauges: &Gauges,
) -> Response {
    let name = kind.name();
    let per = if config.window == Duration::from_secs(60) {
        match kind {
            Kind::Requests => "min (RPM)".to_owned(),
            Kind::Tokens => "min (TPM)".to_owned(),
        }
    } else {
        go_duration(config.window)
    };
    let (limit, used, requested) = match kind {
        Kind::Requests => (config.requests_per_window, gauges.used_requests, 1),
        Kind::Tokens => (config.tokens_per_window, gauges.used_tokens, cost),
    };
    let limit = limit.unwrap_or(u64::MAX);
    let message = match wait {
        Some(wait) => format!(
            "Rate limit reached for {name} in organization org-mock (model {model}) on {name} \
             per {per}: Limit {limit}, Used {used}, Requested {requested}. Please try again in \
             {}.",
            go_duration(wait)
        ),
        None => format!(
            "Request too large for {model} in organization org-mock on {name} per {per}: Limit \
             {limit}, Requested {requested}. The input or output tokens must be reduced in order \
             to run successfully."
        ),
    };
    let response = error_response(429, &message, name, None, Some("rate_limit_exceeded"));
    let response = with_gauges(response, gauges);
    match wait {
        Some(wait) => response
            .header("retry-after", ceil_secs(wait).to_string())
            .header("retry-after-ms", ceil_millis(wait).to_string())
            .header("x-should-retry", "true"),
        None => response.header("x-should-retry", "false"),
    }
}
