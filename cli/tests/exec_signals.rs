//! SIGTERM and SIGHUP stop `exec` as Ctrl-C does: no command starts, the signal is passed on to
//! the commands running (each in a process group of its own, with whatever they started), the
//! run says what it waits for, and no command outlives `exec`; a second signal kills them.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{scratch_dir, signal, stderr_of, tollgate, wait};

/// `exec` of `script` (given the line as `$1`) for lines 1..=20, four at a time; each command
/// writes its shell's pid (and, started in the background, a grandchild's) to `pids/`.
fn start(dir: &Path, script: &str) -> Child {
    std::fs::create_dir_all(dir.join("pids")).unwrap();
    let lines: String = (1..=20).map(|n| format!("{n}\n")).collect();
    std::fs::write(dir.join("lines"), lines).unwrap();
    tollgate()
        .current_dir(dir)
        .args([
            "exec",
            "--rate",
            "1000/s",
            "--concurrency",
            "4",
            "--input",
            "lines",
            "--",
        ])
        .args(["sh", "-c", script, "_", "{}"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The pids the commands wrote, once `count` are there.
fn pids(dir: &Path, count: usize) -> Vec<String> {
    let begun = Instant::now();
    loop {
        let pids: Vec<String> = std::fs::read_dir(dir.join("pids"))
            .unwrap()
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .flat_map(|text| {
                text.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        if pids.len() >= count {
            return pids;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "no command started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
        && !std::fs::read_to_string(Path::new("/proc").join(pid).join("stat"))
            .unwrap_or_default()
            .contains(") Z ") // a zombie has ended
}

fn assert_none_alive(pids: &[String]) {
    // A killed process is gone within moments.
    let begun = Instant::now();
    while pids.iter().any(|pid| alive(pid)) && begun.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<&String> = pids.iter().filter(|pid| alive(pid)).collect();
    assert!(
        survivors.is_empty(),
        "commands outlived exec: {survivors:?}"
    );
}

/// Each command (and a grandchild it starts) sleeps far longer than the test waits.
const SLEEPERS: &str = r#"sleep 60 & echo "$$ $!" > "pids/$1"; wait"#;

#[test]
fn sigterm_passes_on_to_the_commands_and_exits_143_leaving_none_behind() {
    let dir = scratch_dir("sigterm-children");
    let mut child = start(&dir, SLEEPERS);
    let running = pids(&dir, 8); // four commands, each with its grandchild
    signal(child.id(), "-TERM");
    let (code, stderr) = wait(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.contains("SIGTERM: stopping; waiting for 4 commands still running"),
        "{stderr}"
    );
    assert!(
        stderr.contains("to resume, run the same command again"),
        "{stderr}"
    );
    // sh dies of the SIGTERM passed on; its `sleep` in the same group too.
    assert_none_alive(&running);
}

#[test]
fn sighup_exits_129() {
    let dir = scratch_dir("sighup-children");
    let mut child = start(&dir, SLEEPERS);
    let running = pids(&dir, 8);
    signal(child.id(), "-HUP");
    let (code, stderr) = wait(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(129), "{stderr}");
    assert_none_alive(&running);
}

/// Commands that ignore the signal are waited for; a second signal kills them (and what they
/// started) and exec leaves at once.
#[test]
fn a_second_signal_kills_commands_that_ignore_the_first() {
    let dir = scratch_dir("second-signal");
    let script = r#"trap "" INT TERM HUP; sleep 60 & echo "$$ $!" > "pids/$1"; wait"#;
    let mut child = start(&dir, script);
    let running = pids(&dir, 8);
    signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exec waits for its commands"
    );
    assert!(
        running.iter().all(|pid| alive(pid)),
        "the commands ignore SIGINT"
    );
    signal(child.id(), "-INT");
    let (code, stderr) = wait(&mut child, Duration::from_secs(5));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("press Ctrl-C again to stop now"),
        "{stderr}"
    );
    assert_none_alive(&running);
}

#[test]
fn a_command_over_its_timeout_is_killed_counted_as_failed_and_retried() {
    let dir = scratch_dir("timeout");
    std::fs::write(dir.join("lines"), "slow\nquick\n").unwrap();
    let output = tollgate()
        .current_dir(&*dir)
        .args([
            "exec",
            "--rate",
            "100/s",
            "--retries",
            "1",
            "--timeout",
            "300ms",
        ])
        .args(["--input", "lines", "--"])
        .args([
            "sh",
            "-c",
            r#"echo "$1" >> started; [ "$1" = quick ] || sleep 30"#,
            "_",
            "{}",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 1: killed after its --timeout of 300ms (after 2 attempts)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 2 commands finished"), "{stderr}");
    let started = std::fs::read_to_string(dir.join("started")).unwrap();
    assert_eq!(
        started.matches("slow").count(),
        2,
        "tried, then retried once"
    );
}
