//! The legacy completions request (`POST /v1/completions`): a `prompt` instead of messages, a
//! `text_completion` answer, whole or streamed as OpenAI streams it.

use serde_json::{json, Value};

use crate::chat::{reply_pieces, reply_text, usage, TextRequest};
use crate::params::{self, Invalid};
use crate::sse;

/// Parses and validates a request body. A prompt of several inputs is answered as one: one
/// choice, its tokens the sum of theirs.
pub(crate) fn parse(body: &[u8]) -> Result<TextRequest, Invalid> {
    let object = params::object(body)?;
    let model = params::model(&object)?;
    let streaming = params::streaming(&object)?;
    let (prompt_tokens, _) = params::input_tokens(object.get("prompt"), "prompt")?;
    let max_tokens = params::max_tokens(&object)?;
    Ok(TextRequest {
        model,
        prompt_tokens,
        max_tokens,
        streaming,
    })
}

/// The 200 body.
pub(crate) fn completion_body(id: u64, created: u64, request: &TextRequest) -> Value {
    let completion = request.completion_tokens();
    json!({
        "id": format!("cmpl-{id}"),
        "object": "text_completion",
        "created": created,
        "model": request.model,
        "system_fingerprint": null,
        "choices": [{
            "text": reply_text(completion),
            "index": 0,
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(request.prompt_tokens, completion),
    })
}

/// The streamed answer's steps, as OpenAI sends them: a `text_completion` chunk per word (each a
/// step), with the last word a chunk with empty text and the `finish_reason`; then the usage
/// chunk if asked and `data: [DONE]` ([`sse::openai_chunks`]).
pub(crate) fn stream_steps(id: u64, created: u64, request: &TextRequest) -> Vec<Vec<u8>> {
    let base = json!({
        "id": format!("cmpl-{id}"),
        "object": "text_completion",
        "created": created,
        "model": request.model,
        "system_fingerprint": null,
    });
    let text = |text: &str, finish: Value| json!([{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]);
    let completion = request.completion_tokens();
    let mut steps: Vec<Vec<Value>> = reply_pieces(completion)
        .iter()
        .map(|piece| vec![text(piece, Value::Null)])
        .collect();
    steps
        .last_mut()
        .expect("at least one word")
        .push(text("", json!("stop")));
    let usage = request
        .streaming
        .include_usage()
        .then(|| usage(request.prompt_tokens, completion));
    sse::openai_chunks(&base, steps, usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Streaming;

    #[test]
    fn prompts_as_text_or_token_ids() {
        let request =
            parse(br#"{"model": "m", "prompt": "one two three", "max_tokens": 5}"#).unwrap();
        assert_eq!((request.prompt_tokens, request.max_tokens), (4, Some(5)));
        assert_eq!(request.arrival_cost(), 9);
        assert_eq!(request.streaming, Streaming::Off);
        let request = parse(br#"{"model": "m", "prompt": [[1, 2], [3]], "stream": true}"#).unwrap();
        assert_eq!(request.prompt_tokens, 3);
        assert_eq!(
            request.streaming,
            Streaming::On {
                include_usage: false
            }
        );
        for body in [
            r#"{"model": "m"}"#,
            r#"{"prompt": "x"}"#,
            r#"{"model": "m", "prompt": 3}"#,
            r#"{"model": "m", "prompt": "x", "max_tokens": 0}"#,
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
    }
}
