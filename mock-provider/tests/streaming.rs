//! Streamed chat completions and completions (`"stream": true`) over real HTTP: OpenAI's wire
//! format, the usage chunk only when asked, the events spread over the latency, the quotas
//! counted at arrival as for unstreamed requests.

mod common;

use std::time::{Duration, Instant};

use common::{agent, chat_body, post, post_streamed, Streamed};
use serde_json::{json, Value};
use tollgate_mock_provider::{MockConfig, MockProvider, COMPLETIONS_PATH};

fn streamed_chat(prompt: &str, max_tokens: u64, stream_options: Option<Value>) -> String {
    let mut body: Value = serde_json::from_str(&chat_body(prompt, Some(max_tokens))).unwrap();
    body["stream"] = json!(true);
    if let Some(options) = stream_options {
        body["stream_options"] = options;
    }
    body.to_string()
}

/// The JSON chunks before `[DONE]`, checking that `[DONE]` is the last event.
fn json_chunks(answer: &Streamed) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (done, chunks) = answer.events.split_last().expect("events");
    assert_eq!(done.data, "[DONE]", "{}", answer.text);
    assert!(answer.text.ends_with("data: [DONE]\n\n"), "{}", answer.text);
    chunks.iter().map(|event| event.json()).collect()
}

#[test]
fn a_streamed_chat_completion_in_openai_s_format_with_the_usage_chunk_when_asked() {
    let provider = MockProvider::start(MockConfig::default().tokens_per_window(1_000)).unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    let whole = post(&agent, &url, &chat_body("Say hello to the mock", Some(100)));
    assert_eq!(whole.status, 200);

    let include = Some(json!({"include_usage": true}));
    let answer = post_streamed(
        &agent,
        &url,
        &[],
        &streamed_chat("Say hello to the mock", 100, include),
    );
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(answer.header("transfer-encoding"), Some("chunked"));
    assert!(answer.header("content-length").is_none());
    assert_eq!(answer.header("x-ratelimit-limit-tokens"), Some("1000"));
    // 107 tokens counted at arrival for each (7 of prompt, max_tokens 100), streamed or not.
    assert_eq!(answer.header("x-ratelimit-remaining-tokens"), Some("786"));
    let chunks = json_chunks(&answer);
    for chunk in &chunks {
        assert_eq!(chunk["id"], "chatcmpl-2");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-mock");
        assert!(chunk["created"].is_u64());
        // With include_usage, every chunk has a usage key: null but on the last one.
        assert!(chunk.get("usage").is_some(), "{chunk}");
    }
    let (usage_chunk, choice_chunks) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], whole.json["usage"]);
    assert_eq!(
        choice_chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let (finish, words) = choice_chunks[1..].split_last().unwrap();
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let mut content = String::new();
    for chunk in words {
        assert_eq!(chunk["usage"], Value::Null);
        let choice = &chunk["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["finish_reason"], Value::Null);
        content.push_str(choice["delta"]["content"].as_str().unwrap());
    }
    // One chunk per completion token, the same text as unstreamed.
    assert_eq!(words.len(), 23);
    assert_eq!(content, whole.json["choices"][0]["message"]["content"]);

    // Without include_usage (absent, or false): no usage chunk, no usage key.
    for options in [None, Some(json!({"include_usage": false}))] {
        let answer = post_streamed(
            &agent,
            &url,
            &[],
            &streamed_chat("Say hello to the mock", 100, options),
        );
        let chunks = json_chunks(&answer);
        assert_eq!(chunks.len(), 1 + 23 + 1, "{}", answer.text);
        for chunk in &chunks {
            assert!(chunk.get("usage").is_none(), "{chunk}");
            assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
        }
    }
    assert_eq!(provider.stats().accepted, 4);
}

#[test]
fn the_events_are_spread_over_the_latency_and_the_connection_is_kept() {
    let latency = Duration::from_millis(600);
    let provider = MockProvider::start(MockConfig::default().latency(latency)).unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    // 5 tokens: the role chunk, then 5 words, each a step of 600 / 6 = 100 ms.
    let answer = post_streamed(&agent, &url, &[], &streamed_chat("hi", 5, None));
    let chunks = json_chunks(&answer);
    assert_eq!(chunks.len(), 1 + 5 + 1);
    let first = answer.events[0].at;
    let last = answer.events.last().unwrap().at;
    assert!(
        first >= Duration::from_millis(90),
        "first event at {first:?}"
    );
    assert!(
        first < Duration::from_millis(400),
        "first event at {first:?}: not sent as it came"
    );
    assert!(last >= latency, "last event at {last:?}");
    assert!(last < latency * 3, "last event at {last:?}");
    // Each word came in its own step, after the one before.
    let word_times: Vec<Duration> = answer.events[1..6].iter().map(|e| e.at).collect();
    for pair in word_times.windows(2) {
        assert!(
            pair[1] > pair[0] + Duration::from_millis(50),
            "{word_times:?}"
        );
    }
    // The same connection serves the next request (the chunked body was ended properly).
    let again = post(&agent, &url, &chat_body("hi", Some(5)));
    assert_eq!(again.status, 200, "{}", again.text);
}

#[test]
fn streamed_legacy_completions_and_prompts_as_token_ids() {
    let provider = MockProvider::start(MockConfig::default()).unwrap();
    let agent = agent();
    let url = format!("{}{COMPLETIONS_PATH}", provider.url());
    let whole = post(
        &agent,
        &url,
        r#"{"model": "m", "prompt": "one two three", "max_tokens": 6}"#,
    );
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert_eq!(whole.json["object"], "text_completion");
    assert_eq!(whole.json["id"], "cmpl-1");
    let text = whole.json["choices"][0]["text"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 6);
    assert_eq!(
        whole.json["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10})
    );
    let ids = post(&agent, &url, r#"{"model": "m", "prompt": [1, 2, 3, 4, 5]}"#);
    assert_eq!(ids.json["usage"]["prompt_tokens"], 5);

    let answer = post_streamed(
        &agent,
        &url,
        &[],
        r#"{"model": "m", "prompt": "one two three", "max_tokens": 6, "stream": true,
            "stream_options": {"include_usage": true}}"#,
    );
    let chunks = json_chunks(&answer);
    let (usage_chunk, choice_chunks) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], whole.json["usage"]);
    let (finish, words) = choice_chunks.split_last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["text"], "");
    let streamed: String = words
        .iter()
        .map(|chunk| {
            assert_eq!(chunk["object"], "text_completion");
            chunk["choices"][0]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(streamed, text);
}

#[test]
fn a_stream_counts_at_arrival_and_its_refusal_is_a_plain_429() {
    // Each request: 2 tokens of prompt + 9 of max_tokens = 11; room for two.
    let provider = MockProvider::start(MockConfig::default().tokens_per_window(22)).unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    for _ in 0..2 {
        let answer = post_streamed(&agent, &url, &[], &streamed_chat("hi", 9, None));
        json_chunks(&answer);
    }
    let refused = post_streamed(&agent, &url, &[], &streamed_chat("hi", 9, None));
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert!(refused.header("retry-after-ms").is_some());
    assert!(
        refused.text.contains("rate_limit_exceeded"),
        "{}",
        refused.text
    );
    let stats = provider.stats();
    assert_eq!((stats.accepted, stats.rejected_tokens), (2, 1));
    // stream_options without stream is refused, as OpenAI does, and not counted.
    let invalid = post(
        &agent,
        &url,
        r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": true}}"#,
    );
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.json["error"]["param"], "stream_options");
}

#[test]
fn stopping_ends_a_stream_at_once_with_its_remaining_events() {
    let mut provider =
        MockProvider::start(MockConfig::default().latency(Duration::from_secs(30))).unwrap();
    let url = provider.chat_completions_url();
    let client = std::thread::spawn(move || {
        post_streamed(&agent(), &url, &[], &streamed_chat("hi", 5, None))
    });
    std::thread::sleep(Duration::from_millis(200));
    let stopping = Instant::now();
    provider.stop();
    assert!(stopping.elapsed() < Duration::from_secs(3));
    let answer = client.join().unwrap();
    assert_eq!(json_chunks(&answer).len(), 1 + 5 + 1);
}
