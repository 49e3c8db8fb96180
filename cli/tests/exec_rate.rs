//! `exec --rate 10/s` never starts more than 10 commands in any second, and is not much slower
//! than that: the commands record their own start times.

mod common;

use std::time::Instant;

use common::{run_in, scratch_dir, stderr_of};

#[test]
fn starts_hold_the_rate() {
    let dir = scratch_dir("rate");
    let log = dir.join("starts").display().to_string();
    let lines: String = (0..30).map(|n| format!("{n}\n")).collect();
    let began = Instant::now();
    let output = run_in(
        &dir,
        &[
            "exec",
            "--rate",
            "10/s",
            "--concurrency",
            "8",
            "--",
            "sh",
            "-c",
            r#"date +%s%N >> "$1""#,
            "_",
            &log,
        ],
        &lines,
    );
    let wall = began.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let mut starts: Vec<f64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|nanos| nanos.parse::<u128>().unwrap() as f64 / 1e9)
        .collect();
    starts.sort_by(f64::total_cmp);
    assert_eq!(starts.len(), 30);
    // At most 10 in any window a little shorter than a second (a start is recorded a little
    // after it happens, by a varying delay on a loaded machine).
    for (i, first) in starts.iter().enumerate() {
        let in_window = starts[i..].iter().take_while(|t| **t - first < 0.9).count();
        assert!(
            in_window <= 10,
            "{in_window} starts within 0.9 s of {first}: {starts:?}"
        );
    }
    // 30 starts at 10 per second: the third ten may start 2 s after the first; allow for a
    // loaded machine, but not for a rate far below the one given.
    let span = starts[29] - starts[0];
    assert!(span >= 1.8, "30 starts in {span:.2} s");
    assert!(wall < 8.0, "30 starts took {wall:.2} s");
}

/// The rate counts starts, from the instant a command starts: 40 commands of 2 s at 10/s
/// start within 3 s (10 in each second) and end by about 5 s; counted until each command
/// ended, the later starts waited for the first commands to end (7 s in all).
#[test]
fn a_long_command_holds_a_slot_not_the_rate() {
    let dir = scratch_dir("rate-starts");
    let lines: String = (1..=40).map(|n| format!("{n}\n")).collect();
    let began = Instant::now();
    let output = run_in(
        &dir,
        &[
            "exec",
            "--rate",
            "10/s",
            "--concurrency",
            "40",
            "--",
            "sh",
            "-c",
            "sleep 2",
            "_",
            "{}",
        ],
        &lines,
    );
    let wall = began.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        wall < 6.0,
        "40 two-second commands at 10/s took {wall:.1} s (ideal 5 s)"
    );
}
