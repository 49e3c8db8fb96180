//! Whatever stops `exec` (SIGINT, SIGTERM, SIGHUP, SIGKILL), the same command again on the same
//! input does every line not done, and no line done twice: each line exactly once, except the
//! commands running at a SIGKILL or whose outcome was being recorded (no record: run again).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{scratch_dir, stderr_of, tollgate};

const LINES: usize = 3_000;
const CONCURRENCY: usize = 8;

/// `exec` on stdin (`seq LINES`), each command appending its line to `done.txt`; commands
/// ignore the stop signals, so each one started finishes (what "let running commands finish"
/// means for them).
fn start(dir: &Path) -> Child {
    let mut child = tollgate()
        .current_dir(dir)
        .args([
            "exec",
            "--rate",
            "100000/s",
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--",
        ])
        .args([
            "sh",
            "-c",
            r#"trap "" INT TERM HUP; echo "$1" >> done.txt"#,
            "_",
            "{}",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        let all: String = (1..=LINES).map(|n| format!("{n}\n")).collect();
        stdin.write_all(all.as_bytes()).ok();
    });
    child
}

/// How many times each line was done.
fn done_counts(dir: &Path) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("done.txt"))
        .unwrap_or_default()
        .lines()
    {
        *counts.entry(line.parse::<usize>().unwrap()).or_default() += 1;
    }
    counts
}

/// Waits until some lines are done (the run is under way), then sends `signal`.
fn stop_mid_way(dir: &Path, child: &mut Child, signal: &str) -> Output {
    let begun = Instant::now();
    while done_counts(dir).len() < 50 {
        assert!(begun.elapsed() < Duration::from_secs(30), "no line done");
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = wait_with_output(child);
    assert!(
        done_counts(dir).len() < LINES,
        "stopped after every line: nothing to resume"
    );
    output
}

fn wait_with_output(child: &mut Child) -> Output {
    let begun = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
            return Output {
                status,
                stdout: Vec::new(),
                stderr: stderr.into_bytes(),
            };
        }
        assert!(begun.elapsed() < Duration::from_secs(60), "still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a stopped run and its rerun did.
struct Resumed {
    /// How many times each line was done, over both runs.
    counts: BTreeMap<usize, usize>,
    /// Lines done when the stopped run had exited.
    done_at_stop: usize,
    /// Lines the rerun found recorded in the journal (not run again).
    recorded: usize,
}

/// Stops a run with `signal`, checks its exit status and message, reruns it to the end.
fn resume_after(signal: &str, status: Option<i32>) -> Resumed {
    let dir = scratch_dir(&format!("resume{signal}"));
    let mut child = start(&dir);
    let stopped = stop_mid_way(&dir, &mut child, signal);
    let done_at_stop = done_counts(&dir).len();
    assert_eq!(stopped.status.code(), status, "{}", stderr_of(&stopped));
    if status.is_some() {
        let stderr = stderr_of(&stopped);
        assert!(
            stderr.contains("to resume, run the same command again on the same input"),
            "{stderr}"
        );
    }
    let mut rerun = start(&dir);
    let resumed = wait_with_output(&mut rerun);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr_of(&resumed));
    let stderr = stderr_of(&resumed);
    assert!(
        stderr.contains("done in an earlier run (from the journal)"),
        "{stderr}"
    );
    let journals: Vec<_> = std::fs::read_dir(&*dir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "journal"))
        .collect();
    assert!(
        journals.is_empty(),
        "the journal of a finished run is removed"
    );
    let counts = done_counts(&dir);
    let missing: Vec<usize> = (1..=LINES).filter(|n| !counts.contains_key(n)).collect();
    assert!(missing.is_empty(), "lines lost after {signal}: {missing:?}");
    Resumed {
        counts,
        done_at_stop,
        recorded: recorded_in(&stderr),
    }
}

/// The lines a rerun's summary says it found done in the journal ("…; N lines done in an
/// earlier run (from the journal)").
fn recorded_in(summary: &str) -> usize {
    let before = summary
        .split(" done in an earlier run")
        .next()
        .and_then(|head| head.rsplit("; ").next())
        .unwrap_or_default();
    let count = before.split_whitespace().next().unwrap_or_default();
    count
        .parse()
        .unwrap_or_else(|_| panic!("no count of lines from the journal in: {summary}"))
}

fn assert_exactly_once(counts: &BTreeMap<usize, usize>, signal: &str) {
    let twice: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "lines done twice after {signal}: {twice:?}"
    );
}

#[test]
fn after_sigint_each_line_is_done_exactly_once() {
    assert_exactly_once(&resume_after("-INT", Some(130)).counts, "SIGINT");
}

#[test]
fn after_sigterm_each_line_is_done_exactly_once() {
    assert_exactly_once(&resume_after("-TERM", Some(143)).counts, "SIGTERM");
}

#[test]
fn after_sighup_each_line_is_done_exactly_once() {
    assert_exactly_once(&resume_after("-HUP", Some(129)).counts, "SIGHUP");
}

/// At a SIGKILL, the commands running and those that finished while the journal was making
/// the last outcomes durable (one commit, a few milliseconds on a quiet machine, longer on a
/// loaded one) have no record and run again; a line the journal recorded never does.
#[test]
fn after_sigkill_no_line_is_lost_and_only_those_unrecorded_are_done_twice() {
    let resumed = resume_after("-KILL", None);
    let twice = resumed.counts.values().filter(|count| **count > 1).count();
    // Done at the kill but unrecorded; the commands still running then (the kill leaves them
    // be) may finish after `done_at_stop` was read: at most one per worker.
    let unrecorded = resumed.done_at_stop.saturating_sub(resumed.recorded);
    assert!(
        twice <= unrecorded + CONCURRENCY,
        "{twice} lines done twice: more than the {unrecorded} done without a record at the kill \
         and the {CONCURRENCY} that may have been running"
    );
    println!("lines done twice after SIGKILL: {twice} ({unrecorded} unrecorded at the kill)");
}
