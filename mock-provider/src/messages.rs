//! Anthropic's Messages API (`POST /v1/messages`): the request, its quotas of requests, input
//! tokens and output tokens apart (with the `anthropic-ratelimit-*` headers, resets as RFC 3339
//! instants), the `message` answer, whole or streamed with Anthropic's server-sent events, and
//! Anthropic's error bodies.
//!
//! Counted as Anthropic counts: at arrival, one request, the input tokens and `max_tokens` output
//! tokens (the estimate); when the answer is complete (after the latency), the output tokens
//! are settled to those written.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::chat::{self, completion_tokens, prompt_tokens, reply_pieces, reply_text};
use crate::http::Response;
use crate::quota::{ceil_millis, ceil_secs, Decision, Gauges};
use crate::routes::{admit, answer, Reply};
use crate::server::Shared;
use crate::sse;

/// The index of the output tokens quota in the Anthropic window (requests, input tokens, output
/// tokens).
const OUTPUT_TOKENS: usize = 2;

/// A valid Messages request, reduced to what the mock uses.
#[derive(Debug)]
struct MessagesRequest {
    model: String,
    input_tokens: u64,
    max_tokens: u64,
    stream: bool,
}

impl MessagesRequest {
    fn output_tokens(&self) -> u64 {
        completion_tokens(self.input_tokens, Some(self.max_tokens))
    }

    /// `max_tokens` when the answer stops there, else `end_turn`.
    fn stop_reason(&self) -> &'static str {
        if self.output_tokens() == self.max_tokens
            && completion_tokens(self.input_tokens, None) > self.max_tokens
        {
            "max_tokens"
        } else {
            "end_turn"
        }
    }
}

/// An Anthropic error answer: `{"type": "error", "error": {"type": kind, "message": message}}`.
fn error(status: u16, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    Response::json(status, body.to_string())
}

/// Parses and validates a request body; the error is the message of a 400.
fn parse(body: &[u8]) -> Result<MessagesRequest, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| format!("Invalid JSON body: {error}"))?;
    let Value::Object(object) = value else {
        return Err("The request body must be a JSON object.".to_owned());
    };
    let model = match object.get("model") {
        Some(Value::String(model)) => model.clone(),
        None | Some(Value::Null) => return Err("model: Field required".to_owned()),
        Some(_) => return Err("model: Input should be a valid string".to_owned()),
    };
    let max_tokens = match object.get("max_tokens") {
        None | Some(Value::Null) => return Err("max_tokens: Field required".to_owned()),
        Some(value) => match value.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(format!(
                    "max_tokens: expected an integer of at least 1, got {value}"
                ))
            }
        },
    };
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err("stream: Input should be a valid boolean".to_owned()),
    };
    let mut texts: Vec<&str> = Vec::new();
    chat::content_texts(object.get("system"), &mut texts)
        .map_err(|()| "system: expected a string or an array of text blocks".to_owned())?;
    let messages = match object.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => {
            return Err("messages: at least one message is required".to_owned())
        }
        None | Some(Value::Null) => return Err("messages: Field required".to_owned()),
        Some(_) => return Err("messages: Input should be a valid list".to_owned()),
    };
    for (index, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(format!(
                "messages.{index}: Input should be a valid dictionary"
            ));
        };
        match message.get("role").and_then(Value::as_str) {
            Some("user" | "assistant") => {}
            _ => {
                return Err(format!(
                    "messages.{index}.role: Input should be 'user' or 'assistant'"
                ))
            }
        }
        chat::content_texts(message.get("content"), &mut texts).map_err(|()| {
            format!("messages.{index}.content: expected a string or an array of content blocks")
        })?;
    }
    Ok(MessagesRequest {
        model,
        input_tokens: prompt_tokens(texts),
        max_tokens,
        stream,
    })
}

/// `POST /v1/messages`: 400 if invalid, else counted at arrival against the requests, input
/// tokens and output tokens quotas (`max_tokens` for the output, settled to the tokens written
/// once answered), and answered or refused.
pub(crate) fn respond(shared: &Shared, body: &[u8]) -> Response {
    let request = match parse(body) {
        Ok(request) => request,
        Err(message) => {
            shared.state().stats.invalid += 1;
            return error(400, "invalid_request_error", &message);
        }
    };
    let costs = [1, request.input_tokens, request.max_tokens];
    let admission = admit(shared, |state| &mut state.anthropic, &costs);
    match &admission.decision {
        Decision::Accepted { ticket, gauges } => {
            shared.state().anthropic.settle(
                *ticket,
                OUTPUT_TOKENS,
                request.output_tokens(),
                admission.arrival + shared.config.latency,
            );
            let id = admission.id;
            let reply = if request.stream {
                Reply::Streamed(stream_steps(id, &request))
            } else {
                Reply::Whole(message_body(id, &request))
            };
            answer(shared, &admission, reply, |response| {
                with_gauges(response, gauges)
            })
        }
        Decision::Refused {
            quota,
            wait,
            gauges,
        } => refusal(&request, &costs, *quota, *wait, gauges),
    }
}

/// The quotas' names in Anthropic's headers, in the window's order.
const HEADER_NAMES: [&str; 3] = ["requests", "input-tokens", "output-tokens"];

/// Adds the `anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}`
/// headers of the quotas that exist; a reset is the instant (RFC 3339, UTC, to the millisecond,
/// rounded up) when the quota is back to its initial state.
fn with_gauges(mut response: Response, gauges: &Gauges) -> Response {
    let now = SystemTime::now();
    for (name, gauge) in HEADER_NAMES.into_iter().zip(&gauges.quotas) {
        if let Some(gauge) = gauge {
            response = response
                .header(
                    &format!("anthropic-ratelimit-{name}-limit"),
                    gauge.limit.to_string(),
                )
                .header(
                    &format!("anthropic-ratelimit-{name}-remaining"),
                    gauge.remaining.to_string(),
                )
                .header(
                    &format!("anthropic-ratelimit-{name}-reset"),
                    rfc3339(now + gauge.reset),
                );
        }
    }
    response
}

/// The 429 answer: Anthropic's `rate_limit_error`, with `retry-after` (whole seconds, rounded
/// up) unless waiting cannot help (the request alone is over a quota).
fn refusal(
    request: &MessagesRequest,
    costs: &[u64],
    quota: usize,
    wait: Option<Duration>,
    gauges: &Gauges,
) -> Response {
    let what = ["requests", "input tokens", "output tokens"][quota];
    let limit = gauges.quotas[quota].map_or(u64::MAX, |gauge| gauge.limit);
    let message = match wait {
        Some(wait) => format!(
            "This request would exceed the rate limit for your organization (org-mock) of \
             {limit} {what} per window (model {}: {} in use, {} requested). Please try again in \
             {} ms.",
            request.model,
            gauges.used[quota],
            costs[quota],
            ceil_millis(wait)
        ),
        None => format!(
            "This request alone ({} {what}) is over the rate limit for your organization \
             (org-mock) of {limit} {what} per window: reduce it.",
            costs[quota]
        ),
    };
    let response = with_gauges(error(429, "rate_limit_error", &message), gauges);
    match wait {
        Some(wait) => response
            .header("retry-after", ceil_secs(wait).to_string())
            .header("x-should-retry", "true"),
        None => response.header("x-should-retry", "false"),
    }
}

/// The 200 body: a `message` with one text block and the usage.
fn message_body(id: u64, request: &MessagesRequest) -> Value {
    json!({
        "id": format!("msg_mock{id}"),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [{"type": "text", "text": reply_text(request.output_tokens())}],
        "stop_reason": request.stop_reason(),
        "stop_sequence": null,
        "usage": {"input_tokens": request.input_tokens, "output_tokens": request.output_tokens()},
    })
}

/// The streamed answer's steps, with Anthropic's events: `message_start` (the usage so far: the
/// input tokens, 1 output token), `content_block_start` and `ping` as the first step; a
/// `content_block_delta` per word; with the last word `content_block_stop`, `message_delta`
/// (the stop reason and the output tokens) and `message_stop`.
fn stream_steps(id: u64, request: &MessagesRequest) -> Vec<Vec<u8>> {
    let mut first = sse::named(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": format!("msg_mock{id}"),
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": request.input_tokens, "output_tokens": 1},
        }}),
    );
    first.extend(sse::named(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
    ));
    first.extend(sse::named("ping", &json!({"type": "ping"})));
    let mut steps = vec![first];
    for piece in reply_pieces(request.output_tokens()) {
        steps.push(sse::named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    let last = steps.last_mut().expect("a first step");
    last.extend(sse::named(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    last.extend(sse::named(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": request.stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": request.output_tokens()}}),
    ));
    last.extend(sse::named("message_stop", &json!({"type": "message_stop"})));
    steps
}

/// An instant as RFC 3339 in UTC, to the millisecond (rounded up; the fraction left out when
/// zero): `2026-12-07T05:31:17Z`, `2026-12-07T05:31:17.25Z`.
fn rfc3339(instant: SystemTime) -> String {
    let since = instant
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let millis = ceil_millis(since);
    let (secs, fraction) = (millis / 1_000, millis % 1_000);
    let days = (secs / 86_400) as i64;
    let (hour, minute, second) = (secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if fraction > 0 {
        text.push_str(format!(".{fraction:03}").trim_end_matches('0'));
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_instants() {
        let at = |secs: u64, millis: u64| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
        };
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_445_412_480, 0)), "2015-10-21T07:28:00Z");
        assert_eq!(rfc3339(at(951_782_400, 250)), "2000-02-29T00:00:00.25Z");
        assert_eq!(rfc3339(at(4_107_542_399, 999)), "2100-02-28T23:59:59.999Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_nanos(1)),
            "1970-01-01T00:00:00.001Z"
        );
    }

    #[test]
    fn requests_and_their_stop_reasons() {
        let request = parse(
            br#"{"model": "claude-mock", "max_tokens": 5, "system": [{"type": "text", "text": "be brief"}],
                 "messages": [{"role": "user", "content": "say three words"}]}"#,
        )
        .unwrap();
        assert_eq!(request.input_tokens, 7); // 5 words
        assert_eq!(
            (request.output_tokens(), request.stop_reason()),
            (5, "max_tokens")
        );
        let request = parse(
            br#"{"model": "m", "max_tokens": 100, "stream": true,
                 "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            (request.output_tokens(), request.stop_reason()),
            (18, "end_turn")
        );
        assert!(request.stream);
        for bad in [
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}]}"#,
            r#"{"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}"#,
            r#"{"model": "m", "max_tokens": 5, "messages": []}"#,
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}"#,
            r#"{"model": "m", "max_tokens": 5, "system": 3, "messages": [{"role": "user", "content": "x"}]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
