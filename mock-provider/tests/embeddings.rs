//! `POST /v1/embeddings` over real HTTP: inputs as text or token ids, floats or base64, and only
//! the input tokens counted against the token quota.

mod common;

use common::{agent, post};
use serde_json::json;
use tollgate_mock_provider::{MockConfig, MockProvider, EMBEDDINGS_PATH};

#[test]
fn embeddings_count_their_input_tokens_only() {
    // "one two three" is 4 tokens; a chat request of it would count max_tokens on top.
    let provider = MockProvider::start(
        MockConfig::default()
            .requests_per_window(100)
            .tokens_per_window(10),
    )
    .unwrap();
    let agent = agent();
    let url = format!("{}{EMBEDDINGS_PATH}", provider.url());
    let first = post(
        &agent,
        &url,
        r#"{"model": "text-embedding-mock", "input": "one two three"}"#,
    );
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["object"], "list");
    assert_eq!(first.json["model"], "text-embedding-mock");
    assert_eq!(
        first.json["usage"],
        json!({"prompt_tokens": 4, "total_tokens": 4})
    );
    let data = first.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["object"], "embedding");
    assert_eq!(data[0]["index"], 0);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(first.header("x-ratelimit-remaining-tokens"), Some("6"));

    // Two inputs as token ids, 2 + 3 tokens: 9 of 10 used.
    let second = post(
        &agent,
        &url,
        r#"{"model": "e", "input": [[1, 2], [3, 4, 5]], "encoding_format": "base64", "dimensions": 4}"#,
    );
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json["usage"]["prompt_tokens"], 5);
    let data = second.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    // 4 little-endian f32: 16 bytes, 24 characters of base64.
    assert_eq!(data[1]["embedding"].as_str().unwrap().len(), 24);
    assert_eq!(second.header("x-ratelimit-remaining-tokens"), Some("1"));

    // 2 more tokens do not fit: a 429 on the token quota.
    let refused = post(&agent, &url, r#"{"model": "e", "input": [7, 8]}"#);
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.json["error"]["type"], "tokens");
    // An input without tokens is invalid, not counted.
    let invalid = post(&agent, &url, r#"{"model": "e", "input": []}"#);
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.json["error"]["param"], "input");
    let stats = provider.stats();
    assert_eq!(
        (stats.accepted, stats.rejected_tokens, stats.invalid),
        (2, 1, 1)
    );
}
