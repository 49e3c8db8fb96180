//! Server-sent events, timed: a streamed answer's steps spread evenly over the provider's
//! latency, so that a stream ends when the same request unstreamed would be answered.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::Timed;

/// An OpenAI event: `data: {json}` and a blank line.
pub(crate) fn data(json: &Value) -> Vec<u8> {
    format!("data: {json}\n\n").into_bytes()
}

/// OpenAI's end of stream: `data: [DONE]` and a blank line.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// OpenAI's stream of chunks, in steps: each step is the `choices` arrays of one or more
/// chunks, each chunk `base` with those `choices`. With `usage` (`stream_options.include_usage`),
/// every chunk carries `"usage": null` and the last step ends with a chunk of no choices and
/// that usage; the last step ends with `data: [DONE]`.
pub(crate) fn openai_chunks(
    base: &Value,
    steps: Vec<Vec<Value>>,
    usage: Option<Value>,
) -> Vec<Vec<u8>> {
    let chunk = |choices: Value| {
        let mut chunk = base.clone();
        chunk["choices"] = choices;
        if usage.is_some() {
            chunk["usage"] = Value::Null;
        }
        data(&chunk)
    };
    let mut steps: Vec<Vec<u8>> = steps
        .into_iter()
        .map(|step| step.into_iter().flat_map(chunk).collect())
        .collect();
    if steps.is_empty() {
        steps.push(Vec::new());
    }
    let last = steps.last_mut().expect("a step");
    if let Some(usage) = &usage {
        let mut end = base.clone();
        end["choices"] = Value::Array(Vec::new());
        end["usage"] = usage.clone();
        last.extend(data(&end));
    }
    last.extend_from_slice(DONE);
    steps
}

/// An Anthropic event: `event: {name}`, `data: {json}` and a blank line.
pub(crate) fn named(name: &str, json: &Value) -> Vec<u8> {
    format!("event: {name}\ndata: {json}\n\n").into_bytes()
}

/// Spreads `steps` (each the bytes of one or more events) over `latency` from `arrival`: of `n`
/// steps, step `j` (from 0) is sent at `arrival + latency × (j + 1) / n`, so the first comes
/// after `latency / n` (the time to the first token) and the last exactly at `latency`.
pub(crate) fn spread(arrival: Instant, latency: Duration, steps: Vec<Vec<u8>>) -> Vec<Timed> {
    let n = steps.len().max(1) as u128;
    let latency = latency.as_nanos();
    steps
        .into_iter()
        .enumerate()
        .map(|(j, bytes)| {
            let offset = latency * (j as u128 + 1) / n;
            Timed {
                at: arrival + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX)),
                bytes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_are_spread_evenly_and_end_at_the_latency() {
        let t0 = Instant::now();
        let steps = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()];
        let timed = spread(t0, Duration::from_millis(100), steps);
        let offsets: Vec<Duration> = timed.iter().map(|piece| piece.at - t0).collect();
        assert_eq!(
            offsets,
            [25, 50, 75, 100].map(Duration::from_millis).to_vec()
        );
        assert_eq!(timed[3].bytes, b"d");
        let instant = spread(t0, Duration::ZERO, vec![b"x".to_vec()]);
        assert_eq!(instant[0].at, t0);
    }

    /// The events of a step: each `data:` line's JSON (`[DONE]` as the string "[DONE]").
    fn events(step: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(step).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split_terminator("\n\n")
            .map(|event| {
                let data = event.strip_prefix("data: ").expect("a data line");
                serde_json::from_str(data).unwrap_or_else(|_| Value::from(data))
            })
            .collect()
    }

    #[test]
    fn openai_chunks_end_with_the_usage_only_when_asked() {
        let base = json!({"id": "x"});
        let steps = || vec![vec![json!([1])], vec![json!([2]), json!([3])]];
        let without = openai_chunks(&base, steps(), None);
        assert_eq!(without.len(), 2);
        assert_eq!(events(&without[0]), [json!({"id": "x", "choices": [1]})]);
        assert_eq!(
            events(&without[1]),
            [
                json!({"id": "x", "choices": [2]}),
                json!({"id": "x", "choices": [3]}),
                json!("[DONE]"),
            ]
        );
        let with = openai_chunks(&base, steps(), Some(json!({"total_tokens": 3})));
        assert_eq!(
            events(&with[1]),
            [
                json!({"id": "x", "choices": [2], "usage": null}),
                json!({"id": "x", "choices": [3], "usage": null}),
                json!({"id": "x", "choices": [], "usage": {"total_tokens": 3}}),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn event_formats() {
        assert_eq!(data(&json!({"a": 1})), b"data: {\"a\":1}\n\n");
        assert_eq!(DONE, b"data: [DONE]\n\n");
        assert_eq!(
            named("ping", &json!({"type": "ping"})),
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
    }
}
