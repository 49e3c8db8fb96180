//! A journal damaged on disk (bytes overwritten in a file written by a real run) is a clear
//! error naming the file, exit status 2: never a panic, never a backtrace, nothing sent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{scratch_dir, stderr_of, tollgate};
use serde_json::json;
use tollgate_mock_provider::{MockConfig, MockProvider};

fn chat(provider: &MockProvider, requests: &Path) -> Output {
    tollgate()
        .args([
            "chat",
            "--requests",
            "1000/s",
            "--tokens",
            "1000000/s",
            "--endpoint",
        ])
        .arg(provider.chat_completions_url())
        .arg(requests)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

/// A journal written by a real run of 50 requests: the requests file, the journal, its bytes.
fn written_journal(dir: &Path, provider: &MockProvider) -> (PathBuf, PathBuf, Vec<u8>) {
    let requests = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..50)
        .map(|index| {
            json!({
                "model": "gpt-mock",
                "messages": [{"role": "user", "content": format!("q{index}")}],
                "max_tokens": 8,
                "custom_id": format!("q{index}"),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&requests, lines.join("\n")).unwrap();
    let first = chat(provider, &requests);
    assert!(first.status.success(), "{}", stderr_of(&first));
    let journal = dir.join("requests.jsonl.journal");
    let bytes = std::fs::read(&journal).unwrap();
    (requests, journal, bytes)
}

/// Overwrites `len` bytes at `start` of the journal and reruns: a
/// clean refusal naming the journal (exit 2, nothing sent, no panic), or, where the damage hit
/// unused space, every answer from the journal. Whether the damage was seen.
fn rerun_with_damage(
    provider: &MockProvider,
    (requests, journal, bytes): &(PathBuf, PathBuf, Vec<u8>),
    start: usize,
    len: usize,
) -> bool {
    let at = start;
    let mut damaged = bytes.clone();
    damaged[start..start + len].fill(0xa5);
    std::fs::write(journal, damaged).unwrap();
    let sent_before = provider.stats().requests;
    let rerun = chat(provider, requests);
    let stderr = stderr_of(&rerun);
    for never in ["panicked", "backtrace", "unreachable"] {
        assert!(!stderr.contains(never), "damage at {at}: {stderr}");
    }
    assert_eq!(
        provider.stats().requests,
        sent_before,
        "nothing sent: {stderr}"
    );
    match rerun.status.code() {
        Some(2) => {
            assert!(stderr.contains(&journal.display().to_string()), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "said once: {stderr}");
            true
        }
        Some(0) => {
            assert!(
                stderr.contains("50 answered (50 from the journal)"),
                "{stderr}"
            );
            false
        }
        other => panic!("damage at {at}: exit {other:?}: {stderr}"),
    }
}

#[test]
fn a_damaged_entry_is_an_error_naming_the_journal() {
    let dir = scratch_dir("chat-journal-entry");
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let journal = written_journal(&dir, &provider);
    // Inside every copy of a recorded entry (an answer's JSON), whose checksum then fails: the
    // store keeps superseded copies of its pages too, and which copy is live depends on how the
    // run's commits fell, so the damage goes to all of them.
    let (requests, path, bytes) = &journal;
    let entries: Vec<usize> = bytes
        .windows(b"billed_tokens".len())
        .enumerate()
        .filter(|(_, window)| *window == b"billed_tokens")
        .map(|(at, _)| at)
        .collect();
    assert!(!entries.is_empty(), "an entry in the journal");
    let mut damaged = bytes.clone();
    for &at in &entries {
        damaged[at..at + 8].fill(0xa5);
    }
    assert!(rerun_with_damage(
        &provider,
        &(requests.clone(), path.clone(), damaged),
        0,
        0
    ));
}

#[test]
fn a_damaged_header_is_an_error_naming_the_journal() {
    let dir = scratch_dir("chat-journal-header");
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let journal = written_journal(&dir, &provider);
    assert!(rerun_with_damage(&provider, &journal, 0, 64));
}

#[test]
fn damage_anywhere_is_an_error_or_harmless_never_a_panic() {
    let dir = scratch_dir("chat-journal-anywhere");
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let journal = written_journal(&dir, &provider);
    // Store pages too (the store panicked with "Invalid page type" on some of them).
    let length = journal.2.len();
    let seen = (1..32)
        .filter(|k| rerun_with_damage(&provider, &journal, length * k / 32, 64))
        .count();
    assert!(seen > 0);
}
