//! The test watchdog (`tests/support/watchdog.rs`): a watched test that hangs aborts its test
//! binary, naming itself on stderr, instead of hanging CI.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::test_name;
use crate::support::watchdog::{watch_this_test, PATIENCE_VARIABLE};

/// A test that hangs once watched: only in the child process of the test below (its patience
/// set), a pass everywhere else.
#[test]
fn a_watched_test_that_hangs() {
    if std::env::var(PATIENCE_VARIABLE).is_err() {
        return;
    }
    watch_this_test();
    loop {
        std::thread::park();
    }
}

#[test]
fn a_watched_test_that_hangs_aborts_its_binary_naming_itself() {
    let hanging = test_name(module_path!(), "a_watched_test_that_hangs");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([hanging.as_str(), "--exact", "--test-threads=1"])
        .env(PATIENCE_VARIABLE, "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if begun.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            child.wait().ok();
            panic!("the hanging test still ran after 60 s: its watchdog did not abort it");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(
        status.code(),
        None,
        "aborted, not exited: {status}; {stderr}"
    );
    assert!(
        stderr.contains("test watchdog: a test ran longer than 2s")
            && stderr.contains(&format!("  {hanging} (for ")),
        "{stderr}"
    );
}
