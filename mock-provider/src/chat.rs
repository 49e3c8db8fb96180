//! The chat completions request: validation, the deterministic token estimates, and the
//! deterministic reply, whole or streamed as OpenAI streams it.

use serde_json::{json, Value};

use crate::params::{self, invalid, Invalid, Streaming};
use crate::sse;

/// The completion length cap when a request gives no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u64 = 64;

/// A reply's natural length is the prompt's estimate plus this many tokens (before `max_tokens`
/// or [`DEFAULT_MAX_TOKENS`] caps it).
pub const COMPLETION_EXTRA_TOKENS: u64 = 16;

/// The deterministic prompt estimate: the whitespace-separated words of all the given message
/// contents, times 4/3, rounded up, and at least 1.
///
/// ```
/// use tollgate_mock_provider::prompt_tokens;
///
/// assert_eq!(prompt_tokens(["Say hello"]), 3); // 2 words × 4/3 = 2.67 → 3
/// assert_eq!(prompt_tokens(["You are terse.", "Count to three"]), 8); // 6 words → 8
/// assert_eq!(prompt_tokens([""]), 1);
/// ```
pub fn prompt_tokens<'a>(contents: impl IntoIterator<Item = &'a str>) -> u64 {
    let words: u64 = contents
        .into_iter()
        .map(|text| text.split_whitespace().count() as u64)
        .sum();
    words.saturating_mul(4).div_ceil(3).max(1)
}

/// The completion length the mock reports (and writes, as that many words):
/// `min(max_tokens or DEFAULT_MAX_TOKENS, prompt_tokens + COMPLETION_EXTRA_TOKENS)`.
///
/// ```
/// use tollgate_mock_provider::completion_tokens;
///
/// assert_eq!(completion_tokens(3, None), 19); // 3 + 16, under the default cap of 64
/// assert_eq!(completion_tokens(100, None), 64); // capped at the default
/// assert_eq!(completion_tokens(3, Some(5)), 5); // capped by max_tokens
/// ```
pub fn completion_tokens(prompt_tokens: u64, max_tokens: Option<u64>) -> u64 {
    max_tokens
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .min(prompt_tokens.saturating_add(COMPLETION_EXTRA_TOKENS))
}

/// The tokens a request counts against the token quota when it arrives, as OpenAI counts them:
/// the prompt estimate plus `max_tokens`, or plus the completion length when `max_tokens` is
/// absent.
///
/// ```
/// use tollgate_mock_provider::arrival_cost;
///
/// assert_eq!(arrival_cost(3, Some(100)), 103); // max_tokens is reserved whole
/// assert_eq!(arrival_cost(3, None), 22); // 3 + completion_tokens(3, None)
/// ```
pub fn arrival_cost(prompt_tokens: u64, max_tokens: Option<u64>) -> u64 {
    prompt_tokens
        .saturating_add(max_tokens.unwrap_or_else(|| completion_tokens(prompt_tokens, None)))
}

/// A valid chat completions or (legacy) completions request, reduced to what the mock uses.
#[derive(Debug)]
pub(crate) struct TextRequest {
    pub(crate) model: String,
    pub(crate) prompt_tokens: u64,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) streaming: Streaming,
}

impl TextRequest {
    pub(crate) fn completion_tokens(&self) -> u64 {
        completion_tokens(self.prompt_tokens, self.max_tokens)
    }

    pub(crate) fn arrival_cost(&self) -> u64 {
        arrival_cost(self.prompt_tokens, self.max_tokens)
    }
}

/// Parses and validates a request body.
pub(crate) fn parse(body: &[u8]) -> Result<TextRequest, Invalid> {
    let object = params::object(body)?;
    let model = params::model(&object)?;
    let streaming = params::streaming(&object)?;
    let messages = match object.get("messages") {
        Some(Value::Array(messages)) => messages,
        None | Some(Value::Null) => {
            return Err(invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
            ))
        }
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'messages': expected an array of objects.",
                Some("messages"),
            ))
        }
    };
    if messages.is_empty() {
        return Err(invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            Some("messages"),
        ));
    }
    let mut contents: Vec<&str> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(invalid(
                format!("Invalid type for 'messages[{index}]': expected an object."),
                Some("messages"),
            ));
        };
        if !matches!(message.get("role"), Some(Value::String(_))) {
            return Err(invalid(
                format!("Missing required parameter: 'messages[{index}].role'."),
                Some("messages"),
            ));
        }
        content_texts(message.get("content"), &mut contents).map_err(|()| {
            invalid(
                format!(
                    "Invalid type for 'messages[{index}].content': expected a string or an \
                     array of content parts."
                ),
                Some("messages"),
            )
        })?;
    }
    let max_tokens = params::max_tokens(&object)?;
    Ok(TextRequest {
        model,
        prompt_tokens: prompt_tokens(contents),
        max_tokens,
        streaming,
    })
}

/// The texts of a message's `content` (or of Anthropic's `system`): a string, an array of parts
/// (the `text` of each text part; other parts, such as images, count no tokens), or absent or
/// null. `Err` for anything else.
pub(crate) fn content_texts<'a>(
    content: Option<&'a Value>,
    texts: &mut Vec<&'a str>,
) -> Result<(), ()> {
    match content {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(text)) => {
            texts.push(text);
            Ok(())
        }
        Some(Value::Array(parts)) => {
            for part in parts {
                match part.get("text") {
                    Some(Value::String(text)) => texts.push(text),
                    _ if part.is_object() => {}
                    _ => return Err(()),
                }
            }
            Ok(())
        }
        Some(_) => Err(()),
    }
}

/// The words the reply cycles through.
const REPLY_WORDS: [&str; 10] = [
    "This",
    "is",
    "a",
    "deterministic",
    "reply",
    "from",
    "the",
    "tollgate",
    "mock",
    "provider.",
];

/// The reply text: `words` words, the same for the same count.
pub(crate) fn reply_text(words: u64) -> String {
    let mut text = String::new();
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(REPLY_WORDS[(i % REPLY_WORDS.len() as u64) as usize]);
    }
    text
}

/// The reply as it streams: its words, the first alone and each next one after a space, so
/// that the pieces joined are [`reply_text`].
pub(crate) fn reply_pieces(words: u64) -> Vec<String> {
    let text = reply_text(words);
    let mut pieces = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        pieces.push(if i == 0 {
            word.to_owned()
        } else {
            format!(" {word}")
        });
    }
    pieces
}

/// The `usage` object of a completion.
pub(crate) fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// The 200 body.
pub(crate) fn completion_body(id: u64, created: u64, request: &TextRequest) -> Value {
    let completion = request.completion_tokens();
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply_text(completion)},
            "finish_reason": "stop",
        }],
        "usage": usage(request.prompt_tokens, completion),
    })
}

/// The streamed answer's steps, as OpenAI sends them (`data: {chunk}` events): a first chunk with
/// the role and empty content, a chunk per word, with the last word a chunk with the
/// `finish_reason`; then the usage chunk if asked and `data: [DONE]` ([`sse::openai_chunks`]).
/// The first chunk is a step of its own, each word too.
pub(crate) fn stream_steps(id: u64, created: u64, request: &TextRequest) -> Vec<Vec<u8>> {
    let base = json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion.chunk",
        "created": created,
        "model": request.model,
        "system_fingerprint": null,
    });
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let completion = request.completion_tokens();
    let mut steps = vec![vec![delta(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )]];
    for piece in reply_pieces(completion) {
        steps.push(vec![delta(json!({ "content": piece }), Value::Null)]);
    }
    steps
        .last_mut()
        .expect("a first step")
        .push(delta(json!({}), json!("stop")));
    let usage = request
        .streaming
        .include_usage()
        .then(|| usage(request.prompt_tokens, completion));
    sse::openai_chunks(&base, steps, usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(body: &str) -> Result<TextRequest, Invalid> {
        parse(body.as_bytes())
    }

    #[test]
    fn estimates() {
        assert_eq!(prompt_tokens(["one two three"]), 4);
        assert_eq!(prompt_tokens(["  spaced\n\tout  "]), 3);
        assert_eq!(prompt_tokens(std::iter::empty()), 1);
        assert_eq!(completion_tokens(1, Some(1_000)), 17);
        assert_eq!(arrival_cost(50, None), 50 + 64);
    }

    #[test]
    fn parses_strings_parts_and_null_contents() {
        let request = parse_str(
            r#"{"model": "m", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "two words"},
                                             {"type": "image_url", "image_url": {"url": "x"}}]},
                {"role": "assistant", "content": null}
            ], "max_tokens": 7}"#,
        )
        .unwrap();
        assert_eq!(request.model, "m");
        assert_eq!(request.prompt_tokens, 6); // 4 words
        assert_eq!(request.max_tokens, Some(7));
        assert_eq!(request.completion_tokens(), 7);
        assert_eq!(request.arrival_cost(), 13);
    }

    #[test]
    fn max_completion_tokens_comes_first() {
        let request = parse_str(
            r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 9, "max_completion_tokens": 3}"#,
        )
        .unwrap();
        assert_eq!(request.max_tokens, Some(3));
    }

    #[test]
    fn rejects_invalid_requests() {
        let cases = [
            ("not json", None),
            ("[1, 2]", None),
            (
                r#"{"messages": [{"role": "user", "content": "x"}]}"#,
                Some("model"),
            ),
            (r#"{"model": "m"}"#, Some("messages")),
            (r#"{"model": "m", "messages": []}"#, Some("messages")),
            (r#"{"model": "m", "messages": "hi"}"#, Some("messages")),
            (
                r#"{"model": "m", "messages": [{"content": "x"}]}"#,
                Some("messages"),
            ),
            (
                r#"{"model": "m", "messages": [{"role": "user", "content": 3}]}"#,
                Some("messages"),
            ),
            (
                r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": 1}"#,
                Some("stream"),
            ),
        ];
        for (body, param) in cases {
            let error = parse_str(body).expect_err(body);
            assert_eq!(error.param, param, "{body}: {}", error.message);
        }
    }

    #[test]
    fn reply_has_as_many_words_as_completion_tokens() {
        assert_eq!(reply_text(0), "");
        assert_eq!(reply_text(3), "This is a");
        assert_eq!(reply_text(23).split_whitespace().count(), 23);
    }
}
