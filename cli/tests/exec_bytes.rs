//! A line is bytes: one that is not UTF-8 is passed to its command as it is, and the lines
//! after it run too.

mod common;

use common::{scratch_dir, stderr_of, stdout_of, tollgate};

#[test]
fn a_line_that_is_not_utf8_is_passed_through_and_later_lines_run() {
    let dir = scratch_dir("bytes");
    // "a", Latin-1 "café" (not UTF-8), "z".
    std::fs::write(dir.join("lines"), b"a\ncaf\xe9\nz\n").unwrap();
    let output = tollgate()
        .current_dir(&*dir)
        .args(["exec", "--rate", "100/s", "--input", "lines", "--"])
        .args(["sh", "-c", r#"printf '%s' "$1" | od -An -tx1"#, "_", "{}"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = stdout_of(&output);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["61", "63 61 66 e9", "7a"], "{stderr}");
}
