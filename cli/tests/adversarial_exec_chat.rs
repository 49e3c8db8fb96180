//! A hostile review of `tollgate exec` and `tollgate chat` after issue 21: arguments that cannot
//! be honoured, awkward stops, reruns on changed input, on the built binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{
    chat_on_stdin, run, scratch_dir, signal, stderr_of, stdout_of, tollgate, wait,
    wait_for_signal_handlers,
};
use tollgate_mock_provider::{MockConfig, MockProvider};

/// Asserts exit status 2, no panic, and a stderr naming every one of `needles`.
fn refused_naming(output: &Output, needles: &[&str]) {
    let stderr = stderr_of(output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout: {}\nstderr: {stderr}",
        stdout_of(output)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
}

/// A burst above the quantity cannot be honoured by the exact window `exec` counts starts with:
/// it was accepted, then every line was silently dropped ("0 of 0 commands", exit 0).
#[test]
fn exec_refuses_a_burst_above_the_quantity() {
    let output = run(
        &[
            "exec",
            "--rate",
            "10/s, burst 20",
            "--no-journal",
            "--",
            "echo",
        ],
        "1\n2\n3\n",
    );
    refused_naming(&output, &["--rate", "burst 20", "10"]);
}

/// The same for chat's quotas: every request failed, exit 1, with a message naming the library's
/// API instead of the flag.
#[test]
fn chat_refuses_a_burst_above_the_quantity() {
    let output = run(
        &[
            "chat",
            "--requests",
            "10/s, burst 20",
            "--tpm",
            "100000",
            "--endpoint",
            "http://127.0.0.1:9/v1/chat/completions",
            "--no-journal",
            "-",
        ],
        "", // refused before stdin is read
    );
    refused_naming(&output, &["--requests", "burst 20"]);
}

const REQUEST: &str = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n";

/// A producer that writes a request and then thinks for a while: the request is answered at
/// once. (chat read 1,024 lines before sending anything: one request a second waited 17 min.)
#[test]
fn chat_answers_a_line_of_a_slow_pipe_before_the_next_one_comes() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let mut child = chat_on_stdin(&provider.chat_completions_url());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(REQUEST.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let (answered, answer) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).ok();
        answered.send(line).ok();
    });
    let line = answer.recv_timeout(Duration::from_secs(20));
    drop(stdin);
    let (code, stderr) = wait(&mut child, Duration::from_secs(30));
    let line = line
        .unwrap_or_else(|_| panic!("no answer in 20 s while stdin stayed open; stderr: {stderr}"));
    assert!(line.contains("\"response\""), "{line}");
    assert_eq!(code, Some(0), "{stderr}");
}

/// SIGTERM while chat waits for its first line on a pipe that never closes: it stops at once
/// (it waited for the pipe to close, forever on an endless producer).
#[test]
fn chat_stops_on_sigterm_while_stdin_says_nothing() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let mut child = chat_on_stdin(&provider.chat_completions_url());
    let stdin = child.stdin.take().unwrap(); // held open, never written
                                             // Its handlers installed (a fixed 500 ms was not always enough on a loaded machine), and
                                             // then some time for it to wait on the pipe.
    wait_for_signal_handlers(child.id());
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "-TERM");
    let (code, stderr) = wait(&mut child, Duration::from_secs(15));
    drop(stdin);
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}

/// A run of command A on a file leaves its journal (a line failed); command B on the same file
/// ran every line and, all succeeded, deleted A's journal: A's rerun ran its done lines again.
/// B is refused instead, naming the journal, which is kept for A.
#[test]
fn exec_of_another_command_on_the_same_file_leaves_the_first_ones_journal() {
    let dir = scratch_dir("exec_other_command_journal");
    let input = dir.join("lines.txt");
    std::fs::write(&input, "1\n2\n3\n4\n5\n").unwrap();
    let runs = dir.join("runs");
    let input_arg = input.display().to_string();
    let runs_arg = runs.display().to_string();
    let exec = |script: &str| {
        run(
            &[
                "exec",
                "--rate",
                "1000/s",
                "--retries",
                "0",
                "--input",
                &input_arg,
                "--",
                "sh",
                "-c",
                script,
                "_",
                "{}",
                &runs_arg,
            ],
            "",
        )
    };
    let first = "echo A$1 >> \"$2\"; test $1 != 3";
    let a = exec(first);
    assert_eq!(a.status.code(), Some(1), "{}", stderr_of(&a));
    let journal = dir.join("lines.txt.journal");
    assert!(journal.exists());

    let b = exec("echo B$1 >> \"$2\"");
    refused_naming(&b, &["lines.txt.journal"]);
    assert!(journal.exists(), "the other command's journal is gone");

    let again = exec(first);
    assert_eq!(again.status.code(), Some(1), "{}", stderr_of(&again));
    let ran = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(
        ran.lines().filter(|run| run.starts_with('A')).count(),
        6,
        "{ran}"
    );
    assert_eq!(ran.lines().filter(|run| *run == "A3").count(), 2, "{ran}");
}

/// `yes | tollgate exec ... | head -1`: once its output is closed, exec stops starting commands
/// (it ran forever on an endless input, every output thrown away), and says why (exit 2).
#[test]
fn exec_stops_once_its_output_is_closed() {
    let dir = scratch_dir("exec_output_closed");
    let mut child = tollgate()
        .args(["exec", "--rate", "1000/s", "--", "echo"])
        .current_dir(&*dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // An endless input: ends when exec does (a write to its closed stdin fails).
    std::thread::spawn(move || while stdin.write_all(b"y\n").is_ok() {});
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "y\n");
    // The reader is dropped: the pipe is closed, as by `head -1`.
    let (code, stderr) = wait(&mut child, Duration::from_secs(30));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot write -"), "{stderr}");
    assert!(stderr.contains("stopped: its output is closed"), "{stderr}");
    assert!(
        stderr.contains("tollgate-exec-"),
        "the journal is named: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `tollgate chat ... | head -1`: once its output is closed, chat stops sending (it sent every
/// request, paying for answers thrown away), and says why (exit 2).
#[test]
fn chat_stops_sending_once_its_output_is_closed() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let dir = scratch_dir("chat_output_closed");
    let input = dir.join("requests.jsonl");
    std::fs::write(&input, REQUEST.repeat(400)).unwrap();
    let mut child = tollgate()
        .args([
            "chat",
            "--requests",
            "40/s",
            "--tokens",
            "1000000/s",
            "--endpoint",
        ])
        .arg(provider.chat_completions_url())
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"response\""), "{first}");
    // Closed as by `head -1`; the whole run would take 10 s and send 400.
    let (code, stderr) = wait(&mut child, Duration::from_secs(60));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot write -"), "{stderr}");
    let sent = provider.stats().requests;
    assert!(
        sent < 200,
        "{sent} requests sent after the output was closed; {stderr}"
    );
}

/// The summary's counts are singular for one: "1 request", "1 malformed line" (it said
/// "1 requests ... (1 malformed lines)").
#[test]
fn chat_summary_counts_one_in_the_singular() {
    let output = run(
        &[
            "chat",
            "--requests",
            "10/s",
            "--tokens",
            "1000/s",
            "--endpoint",
            "http://127.0.0.1:9/v1/chat/completions",
            "-",
        ],
        "not json\n",
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 request in "), "{stderr}");
    assert!(stderr.contains("(1 malformed line)"), "{stderr}");
}
