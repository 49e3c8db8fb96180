//! `exec` retries a command that exits non-zero, reports what failed every attempt, and says
//! so in its exit status.

mod common;

use common::{run_in, scratch_dir, stderr_of, stdout_of};

#[test]
fn a_command_failing_once_succeeds_on_its_retry() {
    let dir = scratch_dir("retries");
    // Fails the first time it runs for a line (it leaves a marker), succeeds the second.
    let script = r#"if [ -e "$1.tried" ]; then echo "ok $2"; else touch "$1.tried"; echo "failing $2" >&2; exit 3; fi"#;
    let marker = dir.join("line").display().to_string();
    let output = run_in(
        &dir,
        &[
            "exec",
            "--rate",
            "100/s",
            "--retries",
            "2",
            "--",
            "sh",
            "-c",
            script,
            "_",
            &format!("{marker}-{{}}"),
            "{}",
        ],
        "a\nb\n",
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output), "ok a\nok b\n");
    assert!(
        stderr_of(&output).contains("2 succeeded, 0 failed (4 attempts, 2 retries)"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_command_failing_every_attempt_is_summarised_and_fails_the_run() {
    let dir = scratch_dir("retries-fail");
    let output = run_in(
        &dir,
        &[
            "exec",
            "--rate",
            "100/s",
            "--retries",
            "1",
            "--",
            "sh",
            "-c",
            r#"echo "out $1"; [ "$1" != b ]"#,
            "_",
            "{}",
        ],
        "a\nb\nc\n",
    );
    assert_eq!(output.status.code(), Some(1));
    // The failed command's last output is still written, in its place.
    assert_eq!(stdout_of(&output), "out a\nout b\nout c\n");
    let stderr = stderr_of(&output);
    assert!(stderr.contains("2 succeeded, 1 failed"), "{stderr}");
    assert!(
        stderr.contains("line 2: exit status: 1 (after 2 attempts)"),
        "{stderr}"
    );
}

#[test]
fn a_command_that_cannot_start_is_not_retried() {
    let dir = scratch_dir("retries-nostart");
    let output = run_in(
        &dir,
        &[
            "exec",
            "--rate",
            "100/s",
            "--",
            "/nonexistent/tollgate-test-program",
        ],
        "a\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("cannot start /nonexistent/tollgate-test-program"),
        "{stderr}"
    );
    assert!(stderr.contains("(after 1 attempt)"), "{stderr}");
}
