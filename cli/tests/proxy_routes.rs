//! What each endpoint costs through `tollgate proxy`: embeddings their input only, Anthropic's
//! messages input and output apart (settled to the usage), any other path one request; and
//! `--concurrency` bounds the requests forwarded at once.

mod proxy_support;

use std::time::{Duration, Instant};

use proxy_support::{agent, post, start_proxy, RunningProxy};
use serde_json::{json, Value};
use tollgate_mock_provider::{prompt_tokens, MockConfig, MockProvider};

fn used(proxy: &RunningProxy, resource: &str) -> u64 {
    let stats = proxy.stats();
    stats["resources"][resource]["used"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {resource} in {stats}"))
}

#[test]
fn embeddings_cost_their_input_only_and_other_paths_one_request() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            "100/min",
            "--tokens",
            "100000/min",
        ],
        &[],
    );
    let inputs = ["the quick brown fox", "jumps"];
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/embeddings", proxy.url),
        &json!({"model": "e", "input": inputs}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let reported = answer["usage"]["total_tokens"].as_u64().unwrap();
    proxy.wait_for_answers(1);
    assert_eq!(reported, prompt_tokens(inputs));
    assert_eq!(
        used(&proxy, "tokens"),
        reported,
        "settled to the input, no completion"
    );
    assert_eq!(used(&proxy, "requests"), 1);
    // Another path: forwarded as it is (the mock's 404 comes back), one request, no token.
    let (status, body) = proxy_support::get(&format!("{}/v1/models", proxy.url));
    assert_eq!(status, 404, "{body}");
    proxy.wait_for_answers(2);
    assert!(
        body.contains("Unknown request URL: GET /v1/models"),
        "{body}"
    );
    assert_eq!(used(&proxy, "requests"), 2);
    assert_eq!(used(&proxy, "tokens"), reported);
}

#[test]
fn messages_are_billed_input_and_output_apart() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--rpm",
            "100",
            "--input-tpm",
            "40000",
            "--output-tpm",
            "8000",
        ],
        &[],
    );
    let content = "write two lines";
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/messages", proxy.url),
        &json!({"model": "claude", "max_tokens": 300, "system": "be brief",
                "messages": [{"role": "user", "content": content}]})
        .to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let (input, output) = (
        answer["usage"]["input_tokens"].as_u64().unwrap(),
        answer["usage"]["output_tokens"].as_u64().unwrap(),
    );
    assert!(output < 300, "{answer}");
    proxy.wait_for_answers(1);
    assert_eq!(used(&proxy, "input_tokens"), input);
    assert_eq!(
        used(&proxy, "output_tokens"),
        output,
        "max_tokens was only the estimate"
    );
}

#[test]
fn concurrency_bounds_the_requests_forwarded_at_once() {
    let provider =
        MockProvider::start(MockConfig::new().latency(Duration::from_millis(300))).unwrap();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            "1000/s",
            "--concurrency",
            "2",
        ],
        &[],
    );
    let url = format!("{}/v1/chat/completions", proxy.url);
    let begun = Instant::now();
    let clients: Vec<_> = (0..6)
        .map(|index| {
            let url = url.clone();
            std::thread::spawn(move || {
                post(
                    &agent(),
                    &url,
                    &proxy_support::chat_body(&format!("q {index}"), 4),
                )
                .0
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    // The first alone (it teaches the quota), then five more, two at a time: 4 x 300 ms.
    let elapsed = begun.elapsed();
    assert!(elapsed >= Duration::from_millis(1_150), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2_500), "{elapsed:?}");
}
