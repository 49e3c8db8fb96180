//! What the tests of the `tollgate` binary share.

#![allow(dead_code)] // each test file uses a part of it

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built binary.
pub fn tollgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// Runs the binary with `args`, `stdin` written to its standard input.
pub fn run(args: &[&str], stdin: &str) -> Output {
    run_in(Path::new("."), args, stdin)
}

/// [`run`] in the directory `dir` (where `exec` keeps the journal of a run on stdin).
pub fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = tollgate()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let written = child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes());
    // A binary that refuses its arguments exits before reading its input: nobody reads the rest.
    if let Err(err) = written {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "stdin: {err}");
    }
    child.wait_with_output().expect("the binary ends")
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
