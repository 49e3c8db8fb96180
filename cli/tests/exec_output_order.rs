//! `exec` writes each command's output in one piece: in input order by default, as each
//! completes with `--as-completed`.

mod common;

use common::{run_in, scratch_dir, stderr_of, stdout_of};

/// Line n sleeps (6 - n) / 10 s, so the commands complete in reverse order.
const SLEEPERS: &str = "1\n2\n3\n4\n5\n";
const SCRIPT: &str = r#"sleep 0.$((6 - $1)); echo "start $1"; echo "end $1""#;

#[test]
fn outputs_come_in_input_order_by_default() {
    let dir = scratch_dir("order-input");
    let output = run_in(
        &dir,
        &[
            "exec", "--rate", "100/s", "--", "sh", "-c", SCRIPT, "_", "{}",
        ],
        SLEEPERS,
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let expected: String = (1..=5).map(|n| format!("start {n}\nend {n}\n")).collect();
    assert_eq!(stdout_of(&output), expected);
    assert!(stderr_of(&output).contains("5 of 5 commands finished"));
}

#[test]
fn outputs_come_as_completed_on_request() {
    let dir = scratch_dir("order-completed");
    let output = run_in(
        &dir,
        &[
            "exec",
            "--rate",
            "100/s",
            "--as-completed",
            "--",
            "sh",
            "-c",
            SCRIPT,
            "_",
            "{}",
        ],
        SLEEPERS,
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    // Each output is kept together, and the quickest (line 5) comes before the slowest (line 1).
    for n in 1..=5 {
        assert!(
            stdout.contains(&format!("start {n}\nend {n}\n")),
            "{stdout}"
        );
    }
    let position = |n: u32| stdout.find(&format!("start {n}")).unwrap();
    assert!(position(5) < position(1), "{stdout}");
}

#[test]
fn without_a_placeholder_the_line_is_the_last_argument() {
    let dir = scratch_dir("order-last");
    let output = run_in(
        &dir,
        &["exec", "--rate", "100/s", "--", "echo", "item"],
        "a\n\nb\n",
    );
    assert!(output.status.success());
    assert_eq!(stdout_of(&output), "item a\nitem b\n");
}
