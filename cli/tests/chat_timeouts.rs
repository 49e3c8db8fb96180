//! `tollgate chat` against a server that accepts requests and never answers: each attempt is
//! given up after `--timeout`, retried within `--retries`, and reported; the first Ctrl-C says
//! what it waits for.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{scratch_dir, stderr_of, stdout_of, tollgate};
use serde_json::{json, Value};
use tollgate_mock_provider::{MockConfig, MockProvider};

fn request(index: usize) -> String {
    json!({
        "model": "gpt-mock",
        "messages": [{"role": "user", "content": format!("question {index}")}],
        "max_tokens": 8,
    })
    .to_string()
}

fn chat(provider: &MockProvider, requests: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = tollgate();
    command
        .args([
            "chat",
            "--requests",
            "100/s",
            "--tokens",
            "100000/s",
            "--no-journal",
        ])
        .args(extra)
        .arg("--endpoint")
        .arg(provider.chat_completions_url())
        .arg(requests);
    command
}

#[test]
fn a_server_that_never_answers_is_given_up_per_attempt_and_retried() {
    let dir = scratch_dir("chat-timeout-never");
    let requests = dir.join("requests.jsonl");
    std::fs::write(&requests, request(0)).unwrap();
    let provider = MockProvider::start(MockConfig::new().hang_first(u64::MAX)).unwrap();

    let began = Instant::now();
    let output = chat(
        &provider,
        &requests,
        &["--timeout", "500ms", "--retries", "2"],
    )
    .output()
    .unwrap();
    let wall = began.elapsed();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // Three attempts of 0.5 s each, with backoffs between them; not 600 s.
    assert_eq!(provider.stats().accepted, 3, "{stderr}");
    assert!(wall >= Duration::from_millis(1_500), "{wall:?}");
    assert!(wall < Duration::from_secs(20), "{wall:?}");
    let line: Value = serde_json::from_str(stdout_of(&output).trim()).unwrap();
    let message = line["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no complete answer within 500ms"),
        "{line}"
    );
    assert!(message.contains("--timeout"), "{line}");
    assert_eq!(line["error"]["attempts"], 3);
    // The server accepted them: they count as sent.
    assert!(stderr.contains("3 sent"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_request_that_hangs_once_is_answered_by_its_retry() {
    let dir = scratch_dir("chat-timeout-once");
    let requests = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..4).map(request).collect();
    std::fs::write(&requests, lines.join("\n")).unwrap();
    let provider = MockProvider::start(MockConfig::new().hang_first(1)).unwrap();
    let output = chat(&provider, &requests, &["--timeout", "1s"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("4 answered"), "{stderr}");
    assert!(stderr.contains("5 sent"), "{stderr}");
    assert_eq!(provider.stats().accepted, 5);
}

#[test]
fn the_first_ctrl_c_says_what_it_waits_for_and_the_second_stops_at_once() {
    let dir = scratch_dir("chat-timeout-ctrl-c");
    let requests = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..3).map(request).collect();
    std::fs::write(&requests, lines.join("\n")).unwrap();
    let provider = MockProvider::start(MockConfig::new().hang_first(u64::MAX)).unwrap();
    let child = chat(&provider, &requests, &["--timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // The first request goes alone (its answer's headers teach the quotas), and hangs.
    while provider.stats().accepted < 1 {
        assert!(Instant::now() < deadline, "the requests never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = |signal: &str| {
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap()
    };
    kill("-INT");
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    kill("-INT");
    let output = child.wait_with_output().unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(
            "SIGINT: stopping; waiting for 1 request in flight, each for at most 60s; press \
             Ctrl-C again to stop now"
        ),
        "{stderr}"
    );
}
