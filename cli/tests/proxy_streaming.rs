//! Streamed answers (`"stream": true`) pass through `tollgate proxy` as they arrive, event by
//! event; the proxy asks for the usage chunk, bills it, and hides it from a client that did not
//! ask; Anthropic's streams are billed their input and output apart. With `curl -N` too.

mod proxy_support;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use proxy_support::{start_proxy, RunningProxy};
use serde_json::{json, Value};
use tollgate_mock_provider::{prompt_tokens, MockConfig, MockProvider};

const LATENCY: Duration = Duration::from_millis(800);

fn provider() -> MockProvider {
    MockProvider::start(MockConfig::new().latency(LATENCY)).unwrap()
}

/// Streams `body` to `path` through the proxy: each event's data with the time it came.
fn stream(proxy: &RunningProxy, path: &str, body: &Value) -> Vec<(Duration, String)> {
    let begun = Instant::now();
    let answer = proxy_support::agent()
        .post(&format!("{}{path}", proxy.url))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let lines = BufReader::new(answer.into_body().into_reader());
    lines
        .lines()
        .map(Result::unwrap)
        .filter_map(|line| Some((begun.elapsed(), line.strip_prefix("data: ")?.to_owned())))
        .collect()
}

/// The usage reported by the events of `events`, if any.
fn usages(events: &[(Duration, String)]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|(_, data)| serde_json::from_str::<Value>(data).ok())
        .filter_map(|event| Some(event.get("usage")?.clone()).filter(|usage| !usage.is_null()))
        .collect()
}

/// Waits for the proxy's log line of a request to `path`, and returns it.
fn log_line(proxy: &RunningProxy, path: &str) -> String {
    let begun = Instant::now();
    loop {
        let output = proxy.output();
        if let Some(line) = output
            .lines()
            .find(|line| line.contains(&format!("POST {path} ")))
        {
            return line.to_owned();
        }
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "no log line: {output}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn events_pass_as_they_come_and_the_usage_asked_by_the_proxy_is_billed_and_hidden() {
    let provider = provider();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            "100/s",
            "--tokens",
            "100000/s",
        ],
        &[],
    );
    let content = "count to eight slowly please";
    let body = json!({"model": "m", "stream": true, "max_tokens": 8,
                      "messages": [{"role": "user", "content": content}]});
    let events = stream(&proxy, "/v1/chat/completions", &body);
    let (first, _) = events.first().expect("events");
    let (last, done) = events.last().unwrap();
    assert_eq!(done, "[DONE]");
    // Spread over the latency upstream, and not held back by the proxy.
    assert!(*first < LATENCY / 2, "the first event after {first:?}");
    assert!(*last >= LATENCY * 9 / 10, "the last event after {last:?}");
    assert!(
        usages(&events).is_empty(),
        "a usage the client did not ask for: {events:?}"
    );
    // Billed the prompt plus max_tokens, as OpenAI counts them at arrival.
    let prompt = prompt_tokens([content]);
    let reserved = 2 * 5 + 8;
    let line = log_line(&proxy, "/v1/chat/completions");
    assert!(
        line.contains(&format!(
            "tokens {reserved} reserved, {} billed",
            prompt + 8
        )),
        "{line}"
    );
}

#[test]
fn a_client_that_asked_for_the_usage_gets_it() {
    let provider = provider();
    let proxy = start_proxy(
        &["--upstream", &provider.url(), "--tokens", "100000/s"],
        &[],
    );
    let body = json!({"model": "m", "stream": true, "max_tokens": 4,
                      "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hi"}]});
    let events = stream(&proxy, "/v1/chat/completions", &body);
    let reported = usages(&events);
    assert_eq!(reported.len(), 1, "{events:?}");
    assert_eq!(reported[0]["completion_tokens"], 4);
    let completions =
        json!({"model": "m", "stream": true, "max_tokens": 3, "prompt": "say three words"});
    let events = stream(&proxy, "/v1/completions", &completions);
    assert!(usages(&events).is_empty(), "{events:?}");
    assert_eq!(events.last().unwrap().1, "[DONE]");
}

#[test]
fn anthropic_streams_are_billed_input_and_output_apart() {
    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(100)
            .input_tokens_per_window(10_000)
            .output_tokens_per_window(2_000)
            .window(Duration::from_secs(1))
            .latency(Duration::from_millis(100)),
    )
    .unwrap();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            "100/s",
            "--input-tokens",
            "10000/s",
            "--output-tokens",
            "2000/s",
        ],
        &[],
    );
    let content = "one two three";
    let body = json!({"model": "claude", "stream": true, "max_tokens": 50,
                      "messages": [{"role": "user", "content": content}]});
    let events = stream(&proxy, "/v1/messages", &body);
    let usages = usages(&events);
    assert!(
        !usages.is_empty(),
        "Anthropic's own usage events pass: {events:?}"
    );
    let output: u64 = usages.last().unwrap()["output_tokens"].as_u64().unwrap();
    assert!(
        output < 50,
        "the answer stopped before max_tokens: {output}"
    );
    log_line(&proxy, "/v1/messages");
    let stats = proxy.stats();
    let used = |resource: &str| stats["resources"][resource]["used"].as_u64().unwrap();
    // Settled to what was written (the reservation was the max_tokens), the input to the count.
    assert_eq!(used("output_tokens"), output, "{stats}");
    assert_eq!(used("input_tokens"), prompt_tokens([content]), "{stats}");
}

#[test]
fn curl_streams_through_the_proxy() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIPPED curl_streams_through_the_proxy: curl is not installed");
        return;
    }
    let provider = provider();
    let proxy = start_proxy(&["--upstream", &provider.url(), "--requests", "100/s"], &[]);
    let body = json!({"model": "m", "stream": true, "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hello"}]});
    let output = Command::new("curl")
        .args([
            "-sSN",
            "--fail",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(body.to_string())
        .arg(format!("{}/v1/chat/completions", proxy.url))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("data: "))
        .collect();
    // A role chunk, a chunk per word, the finish, [DONE].
    assert_eq!(events.len(), 1 + 5 + 1 + 1, "{text}");
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    assert!(!text.contains("\"prompt_tokens\""), "{text}");
}

#[test]
fn a_stream_is_counted_from_its_first_byte_not_its_end() {
    // Two requests per second upstream, each stream lasting a second (its head comes with its
    // first event, after a quarter of it): counted from their end, the third and fourth would
    // start after 2.2 s; counted from their answer's head (the latest instant the server can
    // have stamped them), a second after the first two started, and the server refuses none.
    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(2)
            .window(Duration::from_secs(1))
            .latency(Duration::from_secs(1)),
    )
    .unwrap();
    let proxy = start_proxy(&["--upstream", &provider.url(), "--requests", "2/s"], &[]);
    let begun = Instant::now();
    let streams: Vec<_> = (0..4)
        .map(|index| {
            let url = proxy.url.clone();
            std::thread::spawn(move || {
                let body = json!({"model": "m", "stream": true, "max_tokens": 4,
                                  "messages": [{"role": "user", "content": format!("q {index}")}]});
                let answer = proxy_support::agent()
                    .post(&format!("{url}/v1/chat/completions"))
                    .header("content-type", "application/json")
                    .send(body.to_string())
                    .unwrap();
                let started = begun.elapsed();
                std::io::read_to_string(answer.into_body().into_reader()).unwrap();
                started
            })
        })
        .collect();
    let mut started: Vec<Duration> = streams.into_iter().map(|s| s.join().unwrap()).collect();
    started.sort();
    assert!(
        started[3] < started[1] + Duration::from_millis(1_500),
        "{started:?}"
    );
    assert!(
        started[2] >= started[0] + Duration::from_millis(950),
        "{started:?}"
    );
    assert!(started[3] < Duration::from_millis(2_000), "{started:?}");
    assert_eq!(provider.stats().rejected, 0, "{}", proxy.output());
}
