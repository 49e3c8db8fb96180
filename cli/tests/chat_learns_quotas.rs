//! `tollgate chat` given quotas twice the server's learns the real ones from the server's
//! `x-ratelimit-limit-*` headers (its first request goes alone) and honours any 429's
//! `retry-after`: every request is answered, with hardly a 429.

mod common;

use std::time::Duration;

use common::{scratch_dir, stderr_of, stdout_of, tollgate};
use serde_json::json;
use tollgate_mock_provider::{MockConfig, MockProvider};

#[test]
fn quotas_set_too_high_are_lowered_by_the_server_headers() {
    let dir = scratch_dir("chat-learns");
    let requests = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..60)
        .map(|index| {
            json!({"model": "m", "messages": [{"role": "user", "content": format!("q {index}")}], "max_tokens": 8})
                .to_string()
        })
        .collect();
    std::fs::write(&requests, lines.join("\n")).unwrap();
    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(20)
            .tokens_per_window(2_000)
            .window(Duration::from_secs(1))
            .latency(Duration::from_millis(10)),
    )
    .unwrap();

    let output = tollgate()
        .args([
            "chat",
            "--requests",
            "40/s",
            "--tokens",
            "4000/s",
            "--no-journal",
        ])
        .arg("--endpoint")
        .arg(provider.chat_completions_url())
        .arg(&requests)
        .output()
        .unwrap();

    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout_of(&output).lines().count(), 60);
    let refused = provider.stats().rejected;
    assert!(refused <= 2, "{refused} requests refused: {stderr}");
    assert!(
        !requests.with_extension("jsonl.journal").exists(),
        "--no-journal"
    );
}
