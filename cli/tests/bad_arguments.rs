//! Bad arguments and unreadable input get a clear message and exit status 2, never a panic.

mod common;

use common::{run, stderr_of, tollgate};

fn refused(args: &[&str], says: &str) {
    let output = run(args, "");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn a_malformed_rate_is_refused() {
    refused(
        &["exec", "--rate", "abc", "--", "echo"],
        "invalid value 'abc' for '--rate <RATE>': cannot parse rate \"abc\"",
    );
    refused(
        &["exec", "--rate", "0/s", "--", "echo"],
        "invalid value '0/s'",
    );
    refused(
        &["chat", "--requests", "ten/s", "--tpm", "1", "x.jsonl"],
        "cannot parse rate",
    );
}

/// A burst above the quantity cannot be honoured by a window of the quantity: refused by its
/// flag before a line is read (it ran nothing and exited 0, "0 of 0 commands finished").
#[test]
fn a_burst_above_the_quantity_is_refused() {
    refused(
        &["exec", "--rate", "10/s, burst 20", "--", "echo"],
        "give a burst of at most 10",
    );
    refused(
        &[
            "chat",
            "--requests",
            "10/s, burst 20",
            "--tpm",
            "1000",
            "x.jsonl",
        ],
        "give a burst of at most 10",
    );
}

#[test]
fn missing_arguments_are_named() {
    refused(&["exec", "--", "echo"], "--rate <RATE>");
    refused(&["exec", "--rate", "1/s"], "<COMMAND>");
    refused(&["chat", "--tpm", "100", "x.jsonl"], "--rpm");
    refused(
        &["exec", "--rate", "1/s", "--concurrency", "0", "--", "echo"],
        "--concurrency",
    );
    refused(&["nonsense"], "unrecognized subcommand 'nonsense'");
}

#[test]
fn a_missing_input_file_is_named() {
    refused(
        &[
            "exec",
            "--rate",
            "1/s",
            "--input",
            "/nonexistent/lines",
            "--",
            "echo",
        ],
        "cannot read /nonexistent/lines: No such file",
    );
    refused(
        &[
            "chat",
            "--rpm",
            "10",
            "--tpm",
            "1000",
            "--endpoint",
            "http://127.0.0.1:9/v1",
            "/nonexistent/r.jsonl",
        ],
        "cannot read /nonexistent/r.jsonl: No such file",
    );
}

#[test]
fn a_remote_endpoint_needs_an_api_key() {
    let output = tollgate()
        .args([
            "chat",
            "--rpm",
            "10",
            "--tpm",
            "1000",
            "--api-key-env",
            "TOLLGATE_TEST_NO_SUCH_KEY",
            "x.jsonl",
        ])
        .env_remove("TOLLGATE_TEST_NO_SUCH_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("no API key: set TOLLGATE_TEST_NO_SUCH_KEY"));
}
