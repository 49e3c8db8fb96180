//! A hostile review of `tollgate exec` and `tollgate chat` after issue 21: arguments that cannot
//! be honoured, awkward stops, reruns on changed input, on the built binary.

mod common;

use std::process::Output;

use common::{run, stderr_of, stdout_of};

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
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n",
    );
    refused_naming(&output, &["--requests", "burst 20"]);
}
