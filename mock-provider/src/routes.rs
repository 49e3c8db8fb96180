//! What the provider answers to each request: the OpenAI-compatible routes (chat completions,
//! completions, embeddings) and their 429s, Anthropic's Messages route ([`crate::messages`]), the
//! statistics route, and the errors.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::params::Invalid;
use crate::quota::{ceil_millis, ceil_secs, go_duration, Decision, Gauges, Window};
use crate::server::{Shared, State};
use crate::{chat, completions, embeddings, messages, sse};
use crate::{CHAT_COMPLETIONS_PATH, COMPLETIONS_PATH, EMBEDDINGS_PATH, MESSAGES_PATH, STATS_PATH};

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

/// The paths served with `POST`.
const POST_PATHS: [&str; 4] = [
    CHAT_COMPLETIONS_PATH,
    COMPLETIONS_PATH,
    EMBEDDINGS_PATH,
    MESSAGES_PATH,
];

/// Routes a request.
pub(crate) fn respond(shared: &Shared, request: Request) -> Response {
    let path = request.path.as_str();
    let method = request.method.as_str();
    let body = &request.body;
    match (path, method) {
        (CHAT_COMPLETIONS_PATH, "POST") => openai(shared, chat::parse(body), |chat| Endpoint {
            model: chat.model.clone(),
            cost: chat.arrival_cost(),
            reply: Box::new(move |id, created| match chat.streaming.is_on() {
                false => Reply::Whole(chat::completion_body(id, created, &chat)),
                true => Reply::Streamed(chat::stream_steps(id, created, &chat)),
            }),
        }),
        (COMPLETIONS_PATH, "POST") => {
            openai(shared, completions::parse(body), |request| Endpoint {
                model: request.model.clone(),
                cost: request.arrival_cost(),
                reply: Box::new(move |id, created| match request.streaming.is_on() {
                    false => Reply::Whole(completions::completion_body(id, created, &request)),
                    true => Reply::Streamed(completions::stream_steps(id, created, &request)),
                }),
            })
        }
        (EMBEDDINGS_PATH, "POST") => openai(shared, embeddings::parse(body), |request| Endpoint {
            model: request.model.clone(),
            cost: request.prompt_tokens,
            reply: Box::new(move |_, _| Reply::Whole(embeddings::embeddings_body(&request))),
        }),
        (MESSAGES_PATH, "POST") => messages::respond(shared, body),
        (STATS_PATH, "GET") => Response::json(200, shared.state().stats.to_json()),
        _ if path == STATS_PATH || POST_PATHS.contains(&path) => {
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
                 {CHAT_COMPLETIONS_PATH}, {COMPLETIONS_PATH}, {EMBEDDINGS_PATH} and \
                 {MESSAGES_PATH}, and GET {STATS_PATH}."
            ),
            "invalid_request_error",
            None,
            Some("unknown_url"),
        ),
    }
}

/// What an admitted request answers: one JSON body after the latency, or the steps of a stream
/// spread over it ([`sse::spread`]).
pub(crate) enum Reply {
    Whole(Value),
    Streamed(Vec<Vec<u8>>),
}

/// A valid OpenAI-compatible request: its model, its token cost at arrival, and its answer
/// given its id and creation time.
struct Endpoint {
    model: String,
    cost: u64,
    reply: Box<dyn FnOnce(u64, u64) -> Reply>,
}

/// Seconds since the Unix epoch (a completion's `created`).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// An OpenAI-compatible request: 400 if invalid, else counted at arrival against the requests
/// and tokens quotas and answered (or refused).
fn openai<T>(
    shared: &Shared,
    parsed: Result<T, Invalid>,
    endpoint: impl FnOnce(T) -> Endpoint,
) -> Response {
    let endpoint = match parsed {
        Ok(request) => endpoint(request),
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
    let admission = admit(shared, |state| &mut state.openai, &[1, endpoint.cost]);
    match &admission.decision {
        Decision::Accepted { ref gauges, .. } => answer(
            shared,
            &admission,
            (endpoint.reply)(admission.id, unix_now()),
            |response| with_gauges(response, gauges),
        ),
        Decision::Refused {
            quota,
            wait,
            gauges,
        } => refusal(
            &shared.config.window,
            &endpoint.model,
            endpoint.cost,
            *quota,
            *wait,
            gauges,
        ),
    }
}

/// A request counted (or refused) at its arrival.
pub(crate) struct Admission {
    pub(crate) arrival: Instant,
    pub(crate) decision: Decision,
    /// The id of an accepted request (counting from 1 over every endpoint).
    pub(crate) id: u64,
}

/// Counts a request costing `costs` at its arrival in the window `window` picks, and in the
/// statistics (a refusal under `rejected_requests` if the requests quota bound longest, else
/// under `rejected_tokens`).
pub(crate) fn admit(
    shared: &Shared,
    window: impl FnOnce(&mut State) -> &mut Window,
    costs: &[u64],
) -> Admission {
    let mut state = shared.state();
    let arrival = Instant::now();
    let decision = window(&mut state).admit(arrival, costs);
    let stats = &mut state.stats;
    stats.requests += 1;
    match decision {
        Decision::Accepted { .. } => stats.accepted += 1,
        Decision::Refused { quota: 0, .. } => {
            stats.rejected += 1;
            stats.rejected_requests += 1;
        }
        Decision::Refused { .. } => {
            stats.rejected += 1;
            stats.rejected_tokens += 1;
        }
    }
    let id = state.next_id;
    if matches!(decision, Decision::Accepted { .. }) {
        state.next_id += 1;
    }
    Admission {
        arrival,
        decision,
        id,
    }
}

/// An accepted request's answer: nothing until the provider stops for one of the first
/// `hang_first`; else the reply, whole after the latency, or streamed over it, with the headers
/// `headers` adds.
pub(crate) fn answer(
    shared: &Shared,
    admission: &Admission,
    reply: Reply,
    headers: impl FnOnce(Response) -> Response,
) -> Response {
    if admission.id <= shared.config.hang_first {
        shared.wait_for_stop();
        return shutting_down();
    }
    let latency = shared.config.latency;
    headers(match reply {
        Reply::Whole(body) => {
            shared.sleep_until(admission.arrival + latency);
            Response::json(200, body.to_string())
        }
        Reply::Streamed(steps) => {
            Response::event_stream(sse::spread(admission.arrival, latency, steps))
        }
    })
}

/// Adds the `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers of the quotas that
/// exist.
fn with_gauges(mut response: Response, gauges: &Gauges) -> Response {
    for (name, gauge) in ["requests", "tokens"].into_iter().zip(&gauges.quotas) {
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

/// The 429 answer, `quota` being 0 (requests) or 1 (tokens).
fn refusal(
    window: &Duration,
    model: &str,
    cost: u64,
    quota: usize,
    wait: Option<Duration>,
    gauges: &Gauges,
) -> Response {
    let (name, per, requested) = match quota {
        0 => ("requests", "min (RPM)", 1),
        _ => ("tokens", "min (TPM)", cost),
    };
    let per = if *window == Duration::from_secs(60) {
        per.to_owned()
    } else {
        go_duration(*window)
    };
    let limit = gauges.quotas[quota].map_or(u64::MAX, |gauge| gauge.limit);
    let used = gauges.used[quota];
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
