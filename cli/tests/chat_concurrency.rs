//! `tollgate chat`'s concurrency follows the requests quota: 96 requests at 2 s latency under
//! `--rpm 6000` all go at once (after the first, which goes alone to learn the server's
//! quotas), not in waves of a fixed 32; a `--concurrency` given caps it, and the summary says it
//! held the run back.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{scratch_dir, stderr_of, tollgate};
use serde_json::json;
use tollgate_mock_provider::{MockConfig, MockProvider};

fn requests(dir: &Path, count: usize) -> PathBuf {
    let path = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..count)
        .map(|index| {
            json!({
                "model": "gpt-mock",
                "messages": [{"role": "user", "content": format!("q{index}")}],
                "max_tokens": 8,
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn ninety_six_slow_requests_under_a_large_quota_go_at_once() {
    let dir = scratch_dir("chat-concurrency-quota");
    let requests = requests(&dir, 96);
    let latency = Duration::from_secs(2);
    let provider = MockProvider::start(MockConfig::new().latency(latency)).unwrap();
    let began = Instant::now();
    let output = tollgate()
        .args([
            "chat",
            "--rpm",
            "6000",
            "--tpm",
            "10000000",
            "--no-journal",
            "--endpoint",
        ])
        .arg(provider.chat_completions_url())
        .arg(&requests)
        .output()
        .unwrap();
    let wall = began.elapsed();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("96 answered"), "{stderr}");
    // The ideal: the first request alone, then the 95 others at once: two latencies. Waves of
    // 32 took four latencies (8 s).
    assert!(wall < latency * 3, "{wall:?}: {stderr}");
    assert!(!stderr.contains("concurrency:"), "{stderr}");
}

#[test]
fn a_low_concurrency_given_is_named_as_what_held_the_run_back() {
    let dir = scratch_dir("chat-concurrency-given");
    let requests = requests(&dir, 21);
    let provider =
        MockProvider::start(MockConfig::new().latency(Duration::from_millis(300))).unwrap();
    let output = tollgate()
        .args(["chat", "--rpm", "6000", "--tpm", "10000000", "--no-journal"])
        .args(["--concurrency", "4", "--endpoint"])
        .arg(provider.chat_completions_url())
        .arg(&requests)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    // 20 requests after the first, 4 at a time: 5 waves of 0.3 s at full concurrency.
    let said = "held back by concurrency: 4 requests in flight (the --concurrency given) for ";
    let (_, after) = stderr
        .split_once(said)
        .unwrap_or_else(|| panic!("{stderr}"));
    let seconds: f64 = after.split(' ').next().unwrap().parse().unwrap();
    assert!((1.0..3.0).contains(&seconds), "{stderr}");
}
