//! A watchdog for the tests that can block (threads on a stepped mock clock, child processes,
//! servers): a test still running after [`PATIENCE`] aborts its whole test binary, naming itself
//! on stderr, so that a hang is a failure that says where it is instead of a CI run that never
//! ends.
//!
//! A test is watched from its first call of [`watch_this_test`] (the helpers of such tests call
//! it: `support::step`, `support::wait_until`, the CLI tests' process starters) until its thread
//! ends: libtest runs each test on a thread of its own, named after the test, and the thread's
//! end (a pass or a failure) drops the registration.
//!
//! Std only, so that every test crate of the workspace can include this file with `#[path]`.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Mutex, Once};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// How long one test may run once watched: far above the slowest test on a loaded two-core CI
/// machine (about a minute), far below the 90 minutes a hang once cost.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// Names a shorter patience in seconds, for the watchdog's own test (a child process of it).
pub const PATIENCE_VARIABLE: &str = "TOLLGATE_TEST_PATIENCE_SECS";

/// [`PATIENCE`], or the seconds [`PATIENCE_VARIABLE`] names.
fn patience() -> Duration {
    std::env::var(PATIENCE_VARIABLE)
        .ok()
        .and_then(|secs| secs.parse().ok())
        .map_or(PATIENCE, Duration::from_secs)
}

/// The watched tests still running: their thread, name, and when the watch began.
static WATCHED: Mutex<Vec<(ThreadId, String, Instant)>> = Mutex::new(Vec::new());

/// Starts the one watchdog thread of the binary.
static WATCHDOG: Once = Once::new();

thread_local! {
    /// Set while the calling test thread is watched; its drop at the thread's end unregisters it.
    static WATCHING: RefCell<Option<Watching>> = const { RefCell::new(None) };
}

/// The registration of one test thread in [`WATCHED`].
struct Watching(ThreadId);

impl Drop for Watching {
    fn drop(&mut self) {
        let mut watched = WATCHED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        watched.retain(|(thread, ..)| *thread != self.0);
    }
}

/// Watches the calling test until its thread ends (a second call changes nothing): when it
/// runs longer than [`PATIENCE`], the binary prints the names of the watched tests still running
/// to stderr and aborts.
///
/// Only a test's own thread (libtest names it after the test) is watched: on a thread the test
/// started (unnamed), whose end says nothing of the test's, this does nothing.
pub fn watch_this_test() {
    let current = std::thread::current();
    let Some(name) = current.name() else {
        return;
    };
    WATCHING.with(|watching| {
        let mut watching = watching.borrow_mut();
        if watching.is_some() {
            return;
        }
        WATCHED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((current.id(), name.to_owned(), Instant::now()));
        *watching = Some(Watching(current.id()));
    });
    WATCHDOG.call_once(|| {
        std::thread::Builder::new()
            .name("test watchdog".into())
            .spawn(watch)
            .expect("the watchdog thread starts");
    });
}

/// The watchdog's loop: once a second, aborts when a watched test has run past its patience.
fn watch() {
    let patience = patience();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let watched = WATCHED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if watched.iter().all(|(.., since)| since.elapsed() < patience) {
            continue;
        }
        let running: Vec<String> = watched
            .iter()
            .map(|(_, name, since)| format!("  {name} (for {:.0?})", since.elapsed()))
            .collect();
        // Straight to stderr: libtest captures `eprintln!` of the thread that started this one.
        let _ = writeln!(
            std::io::stderr(),
            "\ntest watchdog: a test ran longer than {patience:?}, aborting the test binary; \
             watched tests still running:\n{}",
            running.join("\n")
        );
        std::process::abort();
    }
}
