//! A hostile review of the `tollgate` binary's input handling and arguments: empty and blank
//! input, huge lines, `{}` twice, a missing program, degenerate rates and concurrency, BOM, CRLF
//! and non-UTF-8 input, for `exec` and `chat`.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{run, scratch_dir, stderr_of, stdout_of, tollgate};
use serde_json::{json, Value};
use tollgate_mock_provider::{MockConfig, MockProvider};

fn exec(extra: &[&str], command: &[&str], stdin: &str) -> Output {
    // No journal: these runs on stdin share the test's directory, and test no resuming.
    let mut args = vec!["exec", "--rate", "1000/s", "--retries", "0", "--no-journal"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    run(&args, stdin)
}

fn exec_file(path: &Path, command: &[&str]) -> Output {
    let path = path.display().to_string();
    exec(&["--input", &path], command, "")
}

fn no_panic(output: &Output) {
    let stderr = stderr_of(output);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Asserts that the tool's stderr names `needle`.
fn stderr_names(output: &Output, needle: &str) {
    let stderr = stderr_of(output);
    assert!(stderr.contains(needle), "{stderr}");
}

/// Asserts a success (no panic, exit 0) that printed exactly `expected`.
fn succeeds_printing(output: &Output, expected: &str) {
    no_panic(output);
    assert!(output.status.success(), "{}", stderr_of(output));
    assert_eq!(stdout_of(output), expected);
}

/// Asserts a clean failure (no panic, a non-zero exit) whose stderr names `needle`.
fn fails_naming(output: &Output, needle: &str) {
    no_panic(output);
    assert_ne!(output.status.code(), Some(0));
    stderr_names(output, needle);
}

#[test]
fn empty_input_runs_nothing_and_succeeds() {
    let output = exec(&[], &["echo", "{}"], "");
    succeeds_printing(&output, "");
}

#[test]
fn lines_of_only_spaces_and_tabs_are_skipped() {
    let output = exec(&[], &["echo", "[{}]"], "   \n\t\n \t \r\nx\n  \n");
    succeeds_printing(&output, "[x]\n");
}

#[test]
fn a_placeholder_twice_in_one_word_and_across_words_takes_the_line_each_time() {
    let output = exec(&[], &["echo", "{}{}", "<{}>", "{"], "ab\n");
    succeeds_printing(&output, "abab <ab> {\n");
}

#[test]
fn a_line_holding_braces_is_passed_as_is_not_expanded_again() {
    let output = exec(&[], &["echo", "{}"], "{}{}\n");
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output), "{}{}\n");
}

#[test]
fn a_100_kb_line_reaches_the_command_whole() {
    let line = "x".repeat(100_000);
    let output = exec(
        &[],
        &["sh", "-c", r#"printf %s "$1" | wc -c"#, "_", "{}"],
        &format!("{line}\n"),
    );
    no_panic(&output);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output).trim(), "100000");
}

#[test]
fn a_line_too_long_for_one_argument_fails_that_line_with_a_clear_error() {
    // Linux refuses a single argument over 128 KiB (E2BIG): the line fails, the next one runs.
    let line = "y".repeat(300_000);
    let output = exec(&[], &["echo", "{}"], &format!("{line}\nshort\n"));
    no_panic(&output);
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("short\n"));
    let stderr = stderr_of(&output);
    assert!(
        stderr.len() < 10_000,
        "the error echoes the whole line: {} bytes",
        stderr.len()
    );
}

#[test]
fn a_command_that_does_not_exist_is_named_in_the_error() {
    let output = exec(&[], &["tollgate-no-such-program-xyz", "{}"], "a\nb\n");
    fails_naming(&output, "tollgate-no-such-program-xyz");
}

#[test]
fn degenerate_rates_and_concurrency_are_usage_errors() {
    for args in [
        ["--rate", "0/s", "--concurrency", "1"],
        ["--rate", "1/0s", "--concurrency", "1"],
        ["--rate", "-1/s", "--concurrency", "1"],
        ["--rate", "1/s", "--concurrency", "0"],
        ["--rate", "", "--concurrency", "1"],
        ["--rate", "18446744073709551616/s", "--concurrency", "1"],
        ["--rate", "1/s", "--concurrency", "4097"],
    ] {
        let mut all = vec!["exec"];
        all.extend_from_slice(&args);
        all.extend_from_slice(&["--", "echo"]);
        // No input: the arguments are refused before stdin is read (writing to it would race
        // with the exit).
        let output = run(&all, "");
        no_panic(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert_eq!(stdout_of(&output), "", "{args:?}: nothing ran");
        assert!(
            !stderr_of(&output).trim().is_empty(),
            "{args:?}: no message"
        );
    }
}

#[test]
fn extreme_but_valid_rates_run() {
    let dir = scratch_dir("adv-extreme-rates");
    let path = dir.join("lines.txt");
    std::fs::write(&path, "a\n").unwrap();
    let input = path.display().to_string();
    for rate in ["18446744073709551615/s", "1/18446744073s", "1/1ns"] {
        // The line comes from a file: a refused rate exits before reading any input.
        let output = run(
            &[
                "exec", "--rate", rate, "--input", &input, "--", "echo", "{}",
            ],
            "",
        );
        no_panic(&output);
        // Either accepted and run, or refused as a usage error: never a crash or a hang.
        match output.status.code() {
            Some(0) => assert_eq!(stdout_of(&output), "a\n", "{rate}"),
            Some(2) => {}
            other => panic!("{rate}: exit {other:?}: {}", stderr_of(&output)),
        }
    }
}

#[test]
fn crlf_line_endings_and_a_leading_bom_are_not_part_of_the_lines() {
    for (name, contents) in [("crlf", "a\r\nb\r\n\r\n"), ("bom", "\u{FEFF}a\nb\n")] {
        let dir = scratch_dir(&format!("adv-{name}"));
        let path = dir.join("lines.txt");
        std::fs::write(&path, contents).unwrap();
        let output = exec_file(&path, &["echo", "[{}]"]);
        assert!(output.status.success(), "{name}: {}", stderr_of(&output));
        assert_eq!(stdout_of(&output), "[a]\n[b]\n", "{name}");
    }
}

#[test]
fn a_non_utf8_line_is_passed_as_its_bytes_and_the_others_run() {
    // Issue 21: a line is bytes; it used to stop the run at line 2 (exit 2).
    let dir = scratch_dir("adv-non-utf8");
    let path = dir.join("lines.txt");
    std::fs::write(&path, b"a\n\xff\xfe bad\nb\n").unwrap();
    let output = exec_file(&path, &["echo", "{}"]);
    no_panic(&output);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"a\n\xff\xfe bad\nb\n");
}

fn provider() -> MockProvider {
    MockProvider::start(MockConfig::new().latency(Duration::from_millis(1))).unwrap()
}

fn chat(provider: &MockProvider, requests: &Path) -> Output {
    tollgate()
        .args([
            "chat",
            "--requests",
            "1000/s",
            "--tokens",
            "1000000/s",
            "--no-journal",
        ])
        .args(["--retries", "0", "--endpoint"])
        .arg(provider.chat_completions_url())
        .arg(requests)
        .output()
        .unwrap()
}

/// `chat` on a requests file holding `contents`, in the scratch directory of `test`.
fn chat_on(test: &str, contents: impl AsRef<[u8]>) -> Output {
    let provider = provider();
    let dir = scratch_dir(test);
    let path = dir.join("requests.jsonl");
    std::fs::write(&path, contents).unwrap();
    chat(&provider, &path)
}

fn request(content: &str) -> String {
    json!({
        "model": "gpt-mock",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 8,
    })
    .to_string()
}

fn output_lines(output: &Output) -> Vec<Value> {
    stdout_of(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn chat_with_an_empty_requests_file_sends_nothing_and_succeeds() {
    let output = chat_on("adv-chat-empty", "");
    succeeds_printing(&output, "");
}

#[test]
fn chat_with_crlf_blank_and_malformed_lines_answers_the_good_ones() {
    let text = format!(
        "{}\r\n   \r\n{{not json\r\n{}\r\n",
        request("one"),
        request("two")
    );
    let output = chat_on("adv-chat-crlf", text);
    no_panic(&output);
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    let lines = output_lines(&output);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let answered = lines.iter().filter(|l| l.get("response").is_some()).count();
    assert_eq!(answered, 2, "{lines:?}");
    stderr_names(&output, "requests.jsonl:3:");
}

#[test]
fn chat_with_a_bom_answers_the_first_request() {
    let text = format!("\u{FEFF}{}\n{}\n", request("one"), request("two"));
    let output = chat_on("adv-chat-bom", text);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let lines = output_lines(&output);
    assert_eq!(
        lines.iter().filter(|l| l.get("response").is_some()).count(),
        2,
        "{lines:?}"
    );
}

#[test]
fn chat_with_a_non_utf8_line_does_not_panic() {
    let mut bytes = request("one").into_bytes();
    bytes.extend_from_slice(b"\n\xff\xff\n");
    bytes.extend_from_slice(request("two").as_bytes());
    let output = chat_on("adv-chat-non-utf8", bytes);
    fails_naming(&output, "line 2");
}

#[test]
fn chat_with_duplicate_custom_ids_and_a_journal_does_not_mix_up_answers() {
    let provider = provider();
    let dir = scratch_dir("adv-chat-dup-ids");
    let path = dir.join("requests.jsonl");
    let line = |content: &str| {
        json!({
            "model": "gpt-mock",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 8,
            "custom_id": "same",
        })
        .to_string()
    };
    std::fs::write(&path, format!("{}\n{}\n", line("one"), line("two"))).unwrap();
    let output = tollgate()
        .args([
            "chat",
            "--requests",
            "1000/s",
            "--tokens",
            "1000000/s",
            "--retries",
            "0",
        ])
        .arg("--endpoint")
        .arg(provider.chat_completions_url())
        .arg(&path)
        .output()
        .unwrap();
    no_panic(&output);
    // One output line per request, whatever is decided about the duplicate id.
    let lines = output_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}\n{}", stderr_of(&output));
    let indices: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert!(indices.contains(&0) && indices.contains(&1), "{indices:?}");
}
