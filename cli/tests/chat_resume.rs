//! `tollgate chat` keeps a journal next to its input: killed (SIGKILL) or interrupted (SIGINT)
//! mid-run and run again, it writes exactly one output line per request, and sends again only
//! what was not answered.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{scratch_dir, tollgate};
use serde_json::{json, Value};
use tollgate_mock_provider::{MockConfig, MockProvider};

const REQUESTS: usize = 120;
const CONCURRENCY: usize = 8;

fn write_requests(dir: &Path) -> PathBuf {
    let requests = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..REQUESTS)
        .map(|index| {
            json!({
                "model": "gpt-mock",
                "messages": [{"role": "user", "content": format!("question {index}")}],
                "max_tokens": 16,
                "custom_id": format!("q{index}"),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&requests, lines.join("\n")).unwrap();
    requests
}

fn provider() -> MockProvider {
    // 40 requests per second: the batch takes about 3 s.
    MockProvider::start(
        MockConfig::new()
            .requests_per_window(40)
            .window(Duration::from_secs(1))
            .latency(Duration::from_millis(20)),
    )
    .unwrap()
}

fn start_chat(provider: &MockProvider, requests: &Path, out: &Path) -> Child {
    tollgate()
        .args(["chat", "--requests", "40/s", "--tokens", "100000/s"])
        .args(["--concurrency", &CONCURRENCY.to_string(), "--endpoint"])
        .arg(provider.chat_completions_url())
        .arg(requests)
        .stdout(File::create(out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn lines_of(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Waits until `out` holds at least `lines` complete lines.
fn wait_for_lines(out: &Path, lines: usize) {
    let began = Instant::now();
    while lines_of(out).len() < lines {
        assert!(began.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The output lines by custom_id, asserting each request has exactly one, answered.
fn one_answer_each(lines: &[Value]) -> BTreeMap<String, Value> {
    let mut by_id = BTreeMap::new();
    for line in lines {
        assert!(line["response"].is_object(), "{line}");
        let id = line["custom_id"].as_str().unwrap().to_owned();
        assert_eq!(id, format!("q{}", line["index"]));
        assert!(by_id.insert(id, line.clone()).is_none(), "{line} twice");
    }
    assert_eq!(by_id.len(), REQUESTS);
    by_id
}

fn rerun_to_the_end(provider: &MockProvider, requests: &Path, dir: &Path) -> (Vec<Value>, String) {
    let out = dir.join("rerun.jsonl");
    let rerun = start_chat(provider, requests, &out)
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&rerun.stderr).into_owned();
    assert!(rerun.status.success(), "{stderr}");
    (lines_of(&out), stderr)
}

/// How many answers the rerun's summary says it took from the journal.
fn resumed(stderr: &str) -> usize {
    let (_, after) = stderr.split_once(" answered (").expect("a summary");
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn killed_with_sigkill_and_rerun_every_request_has_one_line() {
    let dir = scratch_dir("chat-sigkill");
    let requests = write_requests(&dir);
    let provider = provider();
    let first_out = dir.join("first.jsonl");
    let mut first = start_chat(&provider, &requests, &first_out);
    wait_for_lines(&first_out, 30);
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let written_before = lines_of(&first_out).len();
    assert!(written_before < REQUESTS, "killed mid-run");

    let (lines, stderr) = rerun_to_the_end(&provider, &requests, &dir);
    one_answer_each(&lines);
    // Every answer written before the kill was recorded first: none is sent again. Only the
    // requests in flight at the kill may be sent twice.
    assert!(resumed(&stderr) >= written_before, "{stderr}");
    let accepted = provider.stats().accepted as usize;
    assert!(
        accepted <= REQUESTS + CONCURRENCY,
        "{accepted} requests answered by the server"
    );
    assert!(dir.join("requests.jsonl.journal").exists());
}

/// Stops a run with `kill -SIGNAL` mid-run, expects `status`, then reruns: every request has
/// one output line, and the server answered each request once in all (the requests in flight
/// at the signal were answered and recorded, not sent again).
fn stopped_by_a_signal_it_says_how_to_resume_and_resumes(signal: &str, name: &str, status: i32) {
    let dir = scratch_dir(&format!("chat-{name}"));
    let requests = write_requests(&dir);
    let provider = provider();
    let first_out = dir.join("first.jsonl");
    let first = start_chat(&provider, &requests, &first_out);
    wait_for_lines(&first_out, 30);
    Command::new("kill")
        .args([signal, &first.id().to_string()])
        .status()
        .unwrap();
    let interrupted = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(status), "{stderr}");
    assert!(stderr.contains(&format!("{name}: stopping;")), "{stderr}");
    assert!(
        stderr.contains("to resume, run the same command again"),
        "{stderr}"
    );
    let written_before = lines_of(&first_out).len();
    assert!(written_before < REQUESTS, "stopped mid-run");

    let (lines, stderr) = rerun_to_the_end(&provider, &requests, &dir);
    one_answer_each(&lines);
    assert_eq!(resumed(&stderr), written_before, "{stderr}");
    assert_eq!(provider.stats().accepted as usize, REQUESTS);
}

#[test]
fn interrupted_with_sigint_it_says_how_to_resume_and_resumes() {
    stopped_by_a_signal_it_says_how_to_resume_and_resumes("-INT", "SIGINT", 130);
}

#[test]
fn terminated_with_sigterm_it_exits_143_and_the_calls_in_flight_are_not_paid_twice() {
    stopped_by_a_signal_it_says_how_to_resume_and_resumes("-TERM", "SIGTERM", 143);
}

#[test]
fn hung_up_with_sighup_it_exits_129_and_resumes() {
    stopped_by_a_signal_it_says_how_to_resume_and_resumes("-HUP", "SIGHUP", 129);
}

#[test]
fn a_journal_of_another_requests_file_is_refused_once_and_nothing_is_sent() {
    let dir = scratch_dir("chat-other-journal");
    let provider = provider();
    let requests = write_requests(&dir);
    let out = dir.join("out.jsonl");
    let status = start_chat(&provider, &requests, &out).wait().unwrap();
    assert!(status.success());
    let answered = provider.stats().accepted;

    // Another requests file, the same journal.
    let other = dir.join("other.jsonl");
    let line = json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "else"}]});
    std::fs::write(&other, line.to_string()).unwrap();
    let output = tollgate()
        .args([
            "chat",
            "--requests",
            "40/s",
            "--tokens",
            "100000/s",
            "--endpoint",
        ])
        .arg(provider.chat_completions_url())
        .arg("--journal")
        .arg(dir.join("requests.jsonl.journal"))
        .arg(&other)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("another job set").count(), 1, "{stderr}");
    assert_eq!(provider.stats().accepted, answered);
}
