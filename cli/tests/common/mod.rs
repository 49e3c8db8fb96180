//! What the tests of the `tollgate` binary share.

#![allow(dead_code)] // each test file uses a part of it

#[path = "../../../tests/support/watchdog.rs"]
pub mod watchdog;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long [`run`] lets the binary run before it kills it and fails the test: far above any
/// run of these tests on a loaded machine.
pub const RUN_PATIENCE: Duration = Duration::from_secs(120);

/// The built binary. The test that starts it is watched ([`watchdog`]): one that hangs aborts
/// the test binary, naming itself, instead of hanging CI.
pub fn tollgate() -> Command {
    watchdog::watch_this_test();
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Runs the binary with `args`, `stdin` written to its standard input.
pub fn run(args: &[&str], stdin: &str) -> Output {
    run_in(Path::new("."), args, stdin)
}

/// [`run`] in the directory `dir` (where `exec` keeps the journal of a run on stdin). Fails the
/// test (the binary killed) when the binary runs longer than [`RUN_PATIENCE`].
pub fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = tollgate()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Written from a thread of its own: a binary that writes much before it has read all of
    // its input would otherwise wait for the test to read, and the test for it to read.
    let mut input = child.stdin.take().expect("piped");
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let output = output_within(child, RUN_PATIENCE);
    // A binary that refuses its arguments exits before reading its input: nobody reads the rest.
    if let Err(err) = writer.join().expect("the writer of stdin ends") {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "stdin: {err}");
    }
    output
}

/// Collects `child`'s piped stdout and stderr (what the test has not taken of them) until it
/// ends; kills it and fails the test if it is still running after `within`, or if its pipes stay
/// open 10 s after it ended (a process it started still holding them).
pub fn output_within(mut child: Child, within: Duration) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the binary's status") {
            break status;
        }
        if begun.elapsed() > within {
            child.kill().ok();
            child.wait().ok();
            let stderr = stderr
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_default();
            panic!(
                "still running after {within:?}, killed; stderr: {}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let ended = |pipe: mpsc::Receiver<Vec<u8>>, name: &str| {
        pipe.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{name} still open 10 s after the binary ended ({status})"))
    };
    Output {
        status,
        stdout: ended(stdout, "stdout"),
        stderr: ended(stderr, "stderr"),
    }
}

/// Reads `pipe` to its end on a thread of its own: everything it said, once it closes (nothing
/// at once for no pipe).
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).ok();
        }
        sender.send(bytes).ok();
    });
    receiver
}

/// An empty directory of its own for one test, removed when dropped.
pub struct ScratchDir(PathBuf);

impl std::ops::Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A fresh [`ScratchDir`] for the test named `test`.
pub fn scratch_dir(test: &str) -> ScratchDir {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{test}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("the scratch directory is created");
    ScratchDir(dir)
}

pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends signal `name` (`-TERM`, `-INT`, ...) to process `pid`.
pub fn signal(pid: u32, name: &str) {
    assert!(Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// Returns once process `pid` catches SIGINT, SIGTERM and SIGHUP (its handlers installed, as
/// `/proc/PID/status` says); panics after 30 s. A signal sent before would end it by the
/// default action: a test that signals a binary that has shown nothing yet waits for this
/// first (a fixed pause is too short on a loaded machine).
pub fn wait_for_signal_handlers(pid: u32) {
    // Signal n is bit n - 1 of the mask: SIGHUP (1), SIGINT (2), SIGTERM (15).
    let wanted: u64 = [1, 2, 15].iter().map(|signal| 1 << (signal - 1)).sum();
    let caught = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & wanted == wanted)
    };
    let begun = Instant::now();
    while !caught() {
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "process {pid} did not catch SIGINT, SIGTERM and SIGHUP within 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` to end, at most `within` (then kills it and fails): its exit code and
/// stderr.
pub fn wait(child: &mut Child, within: Duration) -> (Option<i32>, String) {
    let begun = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
            return (status.code(), stderr);
        }
        if begun.elapsed() > within {
            child.kill().ok();
            child.wait().ok();
            let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
            panic!("still running after {within:?}; stderr: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `chat -` against the chat completions `url`, quotas wide open, every stream piped: the test
/// writes its stdin (and may hold it open, as a producer that writes when it has something).
pub fn chat_on_stdin(url: &str) -> Child {
    tollgate()
        .args([
            "chat",
            "--requests",
            "100/s",
            "--tokens",
            "1000000/s",
            "--endpoint",
            url,
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}
