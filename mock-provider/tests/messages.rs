//! Anthropic's `POST /v1/messages` over real HTTP: the answer, the quotas of requests, input
//! tokens and output tokens apart with the `anthropic-ratelimit-*` headers, the output settled to
//! what was written once answered, and streaming with Anthropic's events.

mod common;

use std::time::{Duration, SystemTime};

use common::{agent, post_streamed, Answer};
use serde_json::json;
use tollgate_mock_provider::{MockConfig, MockProvider, MESSAGES_PATH};

const HEADERS: [(&str, &str); 2] = [
    ("x-api-key", "sk-ant-mock"),
    ("anthropic-version", "2023-06-01"),
];

fn messages_body(text: &str, max_tokens: u64) -> String {
    json!({
        "model": "claude-mock",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    })
    .to_string()
}

fn post_message(agent: &ureq::Agent, url: &str, body: &str) -> Answer {
    let mut request = agent.post(url).header("content-type", "application/json");
    for (name, value) in HEADERS {
        request = request.header(name, value);
    }
    common::answer(request.send(body).expect("the request goes through"))
}

/// Parses the RFC 3339 instants the mock writes: `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn parse_rfc3339(text: &str) -> SystemTime {
    let bad = format!("{text:?} is not an RFC 3339 instant in UTC");
    let text = text.strip_suffix('Z').expect(&bad);
    let (date, time) = text.split_once('T').expect(&bad);
    let date: Vec<i64> = date.split('-').map(|n| n.parse().unwrap()).collect();
    let (time, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let time: Vec<u64> = time.split(':').map(|n| n.parse().unwrap()).collect();
    let (year, month, day) = (date[0], date[1], date[2]);
    // Howard Hinnant's days_from_civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe - 719_468) as u64;
    let millis: u64 = format!("{fraction:0<3}").parse().unwrap();
    SystemTime::UNIX_EPOCH
        + Duration::from_secs(days * 86_400 + time[0] * 3_600 + time[1] * 60 + time[2])
        + Duration::from_millis(millis)
}

#[test]
fn the_test_parses_rfc3339() {
    assert_eq!(
        parse_rfc3339("2015-10-21T07:28:00Z"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    );
    assert_eq!(
        parse_rfc3339("2000-02-29T00:00:00.25Z"),
        SystemTime::UNIX_EPOCH + Duration::from_millis(951_782_400_250)
    );
}

#[test]
fn a_message_with_anthropic_s_shape_and_rate_limit_headers() {
    let provider = MockProvider::start(
        MockConfig::default()
            .requests_per_window(5)
            .input_tokens_per_window(1_000)
            .output_tokens_per_window(500)
            // The OpenAI token quota does not apply here.
            .tokens_per_window(1),
    )
    .unwrap();
    let agent = agent();
    let url = format!("{}{MESSAGES_PATH}", provider.url());
    let before = SystemTime::now();
    let answer = post_message(&agent, &url, &messages_body("Say hello to the mock", 100));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.json;
    assert_eq!(body["id"], "msg_mock1");
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-mock");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], serde_json::Value::Null);
    assert_eq!(body["content"][0]["type"], "text");
    let text = body["content"][0]["text"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 23);
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 7, "output_tokens": 23})
    );
    // At arrival: 1 request, 7 input tokens, max_tokens (100) output tokens.
    for (name, limit, remaining) in [
        ("requests", "5", "4"),
        ("input-tokens", "1000", "993"),
        ("output-tokens", "500", "400"),
    ] {
        let header = |what: &str| {
            answer
                .header(&format!("anthropic-ratelimit-{name}-{what}"))
                .unwrap_or_else(|| panic!("no {name}-{what} in {answer:?}"))
                .to_owned()
        };
        assert_eq!(header("limit"), limit);
        assert_eq!(header("remaining"), remaining);
        // Back to the initial state one window (60 s) after this arrival.
        let reset = parse_rfc3339(&header("reset"));
        let after = reset.duration_since(before).unwrap();
        assert!(
            after > Duration::from_secs(59) && after <= Duration::from_secs(61),
            "{name} resets in {after:?}"
        );
    }
    assert!(answer.header("x-ratelimit-limit-tokens").is_none());
    assert_eq!(provider.stats().accepted, 1);
}

#[test]
fn output_tokens_count_max_tokens_at_arrival_then_what_was_written() {
    let latency = Duration::from_millis(300);
    let provider = MockProvider::start(
        MockConfig::default()
            .output_tokens_per_window(150)
            .latency(latency),
    )
    .unwrap();
    let agent = agent();
    let url = format!("{}{MESSAGES_PATH}", provider.url());
    // 100 reserved at arrival, 18 written ("hi": 2 + 16).
    let first = post_message(&agent, &url, &messages_body("hi", 100));
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["usage"]["output_tokens"], 18);
    // Answered, so settled: 18 + 100 fit in 150.
    let second = post_message(&agent, &url, &messages_body("hi", 100));
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(
        second.header("anthropic-ratelimit-output-tokens-remaining"),
        Some("32")
    );
    assert!(second
        .header("anthropic-ratelimit-requests-limit")
        .is_none());
    // Both settled to 18: 36 used. While a third is in flight (40 reserved, 76 used), a fourth
    // of 100 does not fit: 429.
    let third = {
        let (agent, url) = (agent.clone(), url.clone());
        std::thread::spawn(move || post_message(&agent, &url, &messages_body("hi", 40)))
    };
    std::thread::sleep(Duration::from_millis(100));
    let refused = post_message(&agent, &url, &messages_body("hi", 100));
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.json["type"], "error");
    assert_eq!(refused.json["error"]["type"], "rate_limit_error");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "retry-after {retry_after}");
    assert_eq!(
        refused.header("anthropic-ratelimit-output-tokens-remaining"),
        Some("74")
    );
    assert_eq!(third.join().unwrap().status, 200);
    // Larger than the quota itself: a 429 that waiting cannot help.
    let too_large = post_message(&agent, &url, &messages_body("hi", 151));
    assert_eq!(too_large.status, 429);
    assert!(too_large.header("retry-after").is_none());
    assert_eq!(too_large.header("x-should-retry"), Some("false"));
    let stats = provider.stats();
    assert_eq!((stats.accepted, stats.rejected_tokens), (3, 2));
}

#[test]
fn invalid_messages_get_anthropic_s_400() {
    let provider = MockProvider::start(MockConfig::default()).unwrap();
    let agent = agent();
    let url = format!("{}{MESSAGES_PATH}", provider.url());
    for body in [
        r#"{"model": "m", "messages": [{"role": "user", "content": "x"}]}"#,
        r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}"#,
        "not json",
    ] {
        let answer = post_message(&agent, &url, body);
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json["type"], "error");
        assert_eq!(answer.json["error"]["type"], "invalid_request_error");
    }
    assert_eq!(provider.stats().invalid, 3);
}

#[test]
fn a_streamed_message_with_anthropic_s_events() {
    let latency = Duration::from_millis(400);
    let provider = MockProvider::start(MockConfig::default().latency(latency)).unwrap();
    let url = format!("{}{MESSAGES_PATH}", provider.url());
    let mut body: serde_json::Value = serde_json::from_str(&messages_body("hi", 5)).unwrap();
    body["stream"] = json!(true);
    let answer = post_streamed(&agent(), &url, &HEADERS, &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let names: Vec<&str> = answer
        .events
        .iter()
        .map(|event| event.name.as_deref().expect("every event is named"))
        .collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    for event in &answer.events {
        assert_eq!(event.json()["type"], event.name.as_deref().unwrap());
    }
    let start = answer.events[0].json();
    assert_eq!(start["message"]["usage"]["input_tokens"], 2);
    assert_eq!(start["message"]["content"], json!([]));
    let text: String = answer.events[3..8]
        .iter()
        .map(|event| {
            let delta = &event.json()["delta"];
            assert_eq!(delta["type"], "text_delta");
            delta["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "This is a deterministic reply");
    let delta = answer.events[9].json();
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"]["output_tokens"], 5);
    // Spread over the latency: the start before its half, the end at it.
    assert!(
        answer.events[0].at < latency / 2,
        "{:?}",
        answer.events[0].at
    );
    assert!(answer.events.last().unwrap().at >= latency);
}
