//! Ctrl-C (SIGINT) during `exec`: no new command starts, those running finish and are written,
//! the lines not finished go to a file, and the exit status is 130.

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
    let remaining_path = format!("{input_arg}.remaining");
    assert!(
        stderr.contains(&format!(
            "to resume, run the same command with --input {remaining_path}"
        )),
        "{stderr}"
    );
    let remaining: BTreeSet<String> = std::fs::read_to_string(&remaining_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Every line is either done (its output written) or left to resume, never both.
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
