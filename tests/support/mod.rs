//! What several test binaries share: oracles, adapters, fixtures. Each binary's `main.rs`
//! (`tests/<subject>/main.rs`) reaches it as
//!
//! ```text
//! #[path = "../support/mod.rs"]
//! mod support;
//! ```
//!
//! and uses what it needs: `crate::support::bucket_calls::Call`.
//!
//! - [`bucket_calls`]: the four bucket limiters driven by one script of calls, every answer
//!   recorded (the equivalence and fast-path tests).
//! - [`sliding_window_log`]: the naive sliding window, the oracle of the window's fast paths.
//! - [`redis_server`]: a throwaway `redis-server` (also used by `benches/redis.rs`).
//! - [`redis_cluster`]: a throwaway Redis Cluster of six nodes, one per test binary (feature
//!   `redis`; also used by `benches/redis.rs`).
//! - [`fake_api`]: the in-process fake of a rate-limited API (`examples/fake_api/`, shared with
//!   `examples/batch.rs` and `benches/runner.rs`).
//! - [`http_api`]: calling the loopback mock provider over real HTTP (`examples/http_api/`).
//! - [`test_name`]: the name of a test for re-running this binary on it alone (tests that
//!   re-execute themselves as a child process).
//! - [`step`]: moves a stepped mock clock and waits until the test's threads have seen it;
//!   [`wait_until`]: a bounded wait for a condition threads reach without notifying;
//!   [`ClockFreedOnDrop`]: a stepper that fails frees the threads it steps (a failure, not a hang);
//!   [`ClockFreedOnPanic`]: the same for the test's own thread stepping inside a scope;
//!   [`join`]: a bounded join of a thread the test expects to end; [`SetOnDrop`]: threads
//!   looping until a flag is set stop when the test fails.
//! - [`watchdog`]: a test that can block (it steps a clock, waits for threads or processes)
//!   aborts its binary, naming itself, when it runs for ten minutes, instead of hanging CI.
//! - [`proptest_config`]: property-test settings that keep each file's regression seeds next to
//!   it (`<file>.proptest-regressions`).

// Each binary uses part of this module: what one binary leaves unused is not dead code.
#![allow(dead_code)]

pub mod bucket_calls;
#[path = "../../examples/fake_api/mod.rs"]
pub mod fake_api;
#[cfg(feature = "http")]
#[path = "../../examples/http_api/mod.rs"]
pub mod http_api;
#[cfg(feature = "redis")]
pub mod redis_cluster;
pub mod redis_server;
pub mod sliding_window_log;
pub mod watchdog;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, FileFailurePersistence};
use tollgate::MockTime;

/// The name libtest gives the test function `name` of the module `module` (its
/// `module_path!()`): the module path without the crate's name, so that `--exact` runs that test
/// alone when the binary re-executes itself.
///
/// `test_name("journal::crash", "child_batch")` is `"crash::child_batch"`.
pub fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

/// `cases` cases per property, and failing seeds persisted in `<source file>.proptest-regressions`
/// beside the test's source file. (Proptest's default would look for the `main.rs` above the
/// file and write to `tests/proptest-regressions/<file>.txt`, apart from the test, since every
/// binary here has a `main.rs`.)
pub fn proptest_config(cases: u32) -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::with_cases(cases)
    }
}

/// Moves the stepped mock `time` forward by `by`, then returns once each of `threads` has either
/// finished or is blocked on the clock again, still waiting at the new instant
/// ([`MockTime::sleepers`]): every thread whose instant came has woken and acted on it (entered,
/// gone, slept again) before the test moves time further. Panics after 30 s of real time,
/// naming the counts.
///
/// Only for threads that wait for instants: a thread waiting for a notification counts as
/// asleep until it looks again, so one notified by a thread that just finished (credits given
/// back) may not have acted yet when this returns.
pub fn step<T>(time: &MockTime, by: Duration, threads: &[ScopedJoinHandle<'_, T>]) {
    watchdog::watch_this_test();
    time.advance(by);
    wait_until("each thread finished or blocked on the mock clock", || {
        let finished = threads.iter().filter(|thread| thread.is_finished()).count();
        finished + time.sleepers() >= threads.len()
    });
}

/// Frees the threads of a stepped mock clock when dropped: held by the thread that steps the
/// clock, it lets the threads waiting on the clock finish when that thread panics (a bounded
/// wait that gave up) or stops stepping early, so the test fails with the stepper's message
/// instead of hanging its binary (and CI) forever. See [`free`].
pub struct ClockFreedOnDrop<'a>(pub &'a MockTime);

impl Drop for ClockFreedOnDrop<'_> {
    fn drop(&mut self) {
        free(self.0);
    }
}

/// Frees the threads of a stepped mock clock ([`free`]) when dropped by a panic, for the test's
/// own thread when it steps the clock inside [`std::thread::scope`]: a failed assertion (or a
/// bounded wait that gave up) leaves the scope only once every thread of the scope has ended,
/// and threads blocked on the clock end only when time moves. Hold it first thing in the
/// scope's closure. Unlike [`ClockFreedOnDrop`], a passing test's clock stays where the test
/// left it.
pub struct ClockFreedOnPanic<'a>(&'a MockTime);

impl<'a> ClockFreedOnPanic<'a> {
    /// Frees `time`'s threads if the calling thread panics while it holds the result; the test
    /// is watched from now on ([`watchdog`]), for a thread that waits on anything else.
    pub fn new(time: &'a MockTime) -> ClockFreedOnPanic<'a> {
        watchdog::watch_this_test();
        ClockFreedOnPanic(time)
    }
}

impl Drop for ClockFreedOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            free(self.0);
        }
    }
}

/// Lets every thread blocked on the stepped mock `time` finish, whatever it waits for next:
/// moves time a year ahead, then, from a thread of its own, a day more each millisecond (real
/// time) in which a thread waits on the clock again (a queue of jobs, a retry), until no thread
/// has waited for 5 s or for a minute at most. Time moves only while a thread waits on it.
fn free(time: &MockTime) {
    time.advance(Duration::from_secs(365 * 86_400));
    let time = time.clone();
    std::thread::spawn(move || {
        let (begun, mut waited) = (Instant::now(), Instant::now());
        while begun.elapsed() < Duration::from_secs(60) && waited.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(1));
            if time.sleepers() > 0 {
                time.advance(Duration::from_secs(86_400));
                waited = Instant::now();
            }
        }
    });
}

/// Joins `thread` once it has finished, waiting for that as [`wait_until`] does (30 s of real
/// time at most): a thread that never ends (a waiter never woken) fails the test, naming it,
/// instead of hanging it.
pub fn join<T>(thread: ScopedJoinHandle<'_, T>) -> std::thread::Result<T> {
    wait_until("a joined thread to end", || thread.is_finished());
    thread.join()
}

/// Sets its flag when dropped: for a flag that stops threads looping inside
/// [`std::thread::scope`], held by the test's thread first thing in the scope's closure, so that
/// a failed assertion there (or a thread's failure it joins) stops them too, instead of the
/// scope waiting for them forever.
pub struct SetOnDrop<'a>(pub &'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Returns once `done()` holds, looking again after yielding the processor; panics naming
/// `what` after 30 s of real time. For conditions threads reach without notifying the test.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    watchdog::watch_this_test();
    let give_up = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < give_up,
            "waited 30 s (real time) for {what}"
        );
        std::thread::yield_now();
    }
}
