//! `exec` runs each line as it arrives, like xargs on a pipe: a command's output is written
//! before the input has ended.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::{scratch_dir, tollgate};

#[test]
fn a_line_runs_before_the_input_ends() {
    let dir = scratch_dir("streams");
    let mut child = tollgate()
        .current_dir(&*dir)
        .args(["exec", "--rate", "100/s", "--", "echo", "ran"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (lines, written) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            lines.send(line.unwrap()).ok();
        }
    });
    writeln!(stdin, "first").unwrap();
    let first = written.recv_timeout(Duration::from_secs(20));
    assert_eq!(first.as_deref(), Ok("ran first"), "the input is still open");
    writeln!(stdin, "second").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    assert_eq!(written.try_iter().collect::<Vec<_>>(), vec!["ran second"]);
}
