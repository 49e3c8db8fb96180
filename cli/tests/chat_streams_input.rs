//! `tollgate chat` reads its input as a stream: the first answers are written while most of a
//! large file is still unread, memory stays bounded, `-` reads stdin, and a line that is not
//! UTF-8 is refused by its number while the others run.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{chat_on_stdin, scratch_dir, stderr_of, stdout_of, tollgate};
use serde_json::{json, Value};
use tollgate_mock_provider::{MockConfig, MockProvider};

fn request(index: usize) -> String {
    json!({
        "model": "gpt-mock",
        "messages": [{"role": "user", "content": format!("question number {index}, padded to make the line a little longer")}],
        "max_tokens": 4,
        "metadata": {"row": index},
    })
    .to_string()
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_large_input_is_answered_while_it_is_read_in_bounded_memory() {
    const LINES: usize = 200_000;
    let dir = scratch_dir("chat-streams");
    let requests = dir.join("requests.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&requests).unwrap());
    for index in 0..LINES {
        writeln!(file, "{}", request(index)).unwrap();
    }
    drop(file);
    // 200 requests per second: the whole file would take over 15 minutes.
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let began = Instant::now();
    let mut child = tollgate()
        .args([
            "chat",
            "--requests",
            "200/s",
            "--tokens",
            "1000000/s",
            "--no-journal",
        ])
        .arg("--endpoint")
        .arg(provider.chat_completions_url())
        .arg(&requests)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&answers.next().unwrap().unwrap()).unwrap();
    assert!(first["response"].is_object(), "{first}");
    // Long before the whole file could have been read and sent (over 15 minutes); generous,
    // since the start of a run of 200,000 lines on a shared machine took from 1 s to 7.5 s.
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "the first answer took {:?}",
        began.elapsed()
    );
    // Let it run a while from the first answer, reading as it answers, and watch its memory.
    let answering = Instant::now();
    let mut most_kib = 0;
    let mut answered = 1;
    while answering.elapsed() < Duration::from_secs(4) {
        answers.next().unwrap().unwrap();
        answered += 1;
        if answered % 50 == 0 {
            most_kib = most_kib.max(rss_kib(child.id()));
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let rest = answers.count();
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    // Far fewer requests read than the file holds: it was not read whole first.
    let accepted = provider.stats().accepted as usize;
    assert!(accepted < LINES / 10, "{accepted} sent");
    assert_eq!(answered + rest, accepted, "one line per request answered");
    // The file is about 30 MB; a run holding it whole would hold several times that.
    assert!(
        most_kib > 0 && most_kib < 60 * 1024,
        "{most_kib} KiB resident"
    );
    eprintln!("resident memory at most {most_kib} KiB after {answered} answers");
}

#[test]
fn stdin_is_read_with_a_dash_and_a_line_that_is_not_utf8_is_refused_by_its_number() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let mut input = Vec::new();
    for index in 0..5 {
        if index == 2 {
            input.extend_from_slice(b"{\"messages\": [\"\xff\xfe\"]}\n");
        } else {
            input.extend_from_slice(request(index).as_bytes());
            input.push(b'\n');
        }
    }
    let mut child = chat_on_stdin(&provider.chat_completions_url());
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("-:3: not UTF-8 text"), "{stderr}");
    assert!(stderr.contains("5 requests"), "{stderr}");
    assert!(
        stderr.contains("4 answered, 1 failed (1 malformed line)"),
        "{stderr}"
    );
    let lines: Vec<Value> = stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    let refused: Vec<&Value> = lines
        .iter()
        .filter(|line| line["error"].is_object())
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["line"], 3);
    assert_eq!(provider.stats().accepted, 4);
}
