//! Ctrl-C (SIGINT) during `exec`: no new command starts, those running end and what finished
//! is written, the exit status is 130, and the same command again runs exactly the lines not
//! done (the journal replaced the `.remaining` file, which lost the lines never read).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{scratch_dir, tollgate};

#[test]
fn sigint_stops_cleanly_and_says_how_to_resume() {
    let dir = scratch_dir("interrupt");
    let input = dir.join("lines");
    let all: BTreeSet<String> = (1..=20).map(|n| n.to_string()).collect();
    std::fs::write(
        &input,
        all.iter().map(|n| format!("{n}\n")).collect::<String>(),
    )
    .unwrap();
    let input_arg = input.display().to_string();
    let mut child = tollgate()
        .args(["exec", "--rate", "4/s", "--input", &input_arg, "--"])
        .args(["sh", "-c", r#"sleep 0.3; echo "$1""#, "_", "{}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once a first output is written the run is under way (and Ctrl-C is caught).
    let (lines, written) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            lines.send(line.unwrap()).ok();
        }
    });
    let first = written
        .recv_timeout(Duration::from_secs(20))
        .expect("a first output");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let sent = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "still running after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    let mut done: BTreeSet<String> = written.try_iter().collect();
    done.insert(first);
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(exit.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("to resume, run the same command again: it skips them"),
        "{stderr}"
    );
    let rerun = tollgate()
        .args(["exec", "--rate", "100/s", "--input", &input_arg, "--"])
        .args(["sh", "-c", r#"sleep 0.3; echo "$1""#, "_", "{}"])
        .output()
        .unwrap();
    assert_eq!(rerun.status.code(), Some(0));
    let remaining: BTreeSet<String> = String::from_utf8(rerun.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Every line is either done (its output written) or done by the rerun, never both.
    assert!(
        !remaining.is_empty(),
        "the run was stopped mid-way: {stderr}"
    );
    assert!(done.is_disjoint(&remaining));
    assert_eq!(
        done.union(&remaining).cloned().collect::<BTreeSet<_>>(),
        all
    );
}
