//! What the hostile review's files share: a fresh journal per test, a runner that does not wait
//! between attempts, a journal filled with squares, a runner counting its calls, the messages of
//! a job's errors.
#![cfg(feature = "journal")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tollgate::{AttemptError, Retry, Runner};

/// A fresh directory for one test's journal.
pub(crate) fn journal_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-adv-journal-{}-{test}",
        std::process::id()
    ));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.journal")
}

/// No waiting between attempts.
pub(crate) fn quick<E>(retries: u32) -> Retry<E> {
    Retry::exponential(retries)
        .base(Duration::from_millis(1))
        .cap(Duration::from_millis(1))
}

/// Runs `0..n` with a runner that squares, on a fresh journal, and returns nothing: the journal
/// then holds every job.
pub(crate) fn fill(path: &PathBuf, jobs: impl IntoIterator<Item = u64>) {
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * x))
        .journal(path)
        .unwrap();
    runner.schedule_all(jobs).unwrap();
    let report = runner.run();
    assert!(report.failures().next().is_none());
}

pub(crate) fn messages<E: std::fmt::Display>(
    errors: &[std::sync::Arc<AttemptError<E>>],
) -> Vec<String> {
    errors.iter().map(|error| error.to_string()).collect()
}

/// A runner whose job is its result, counting its calls in `calls`, on the journal at `path`.
pub(crate) fn counting<'a>(
    calls: &'a AtomicU32,
    path: &std::path::Path,
) -> Runner<'a, u64, u64, String> {
    Runner::new(move |x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(*x)
    })
    .journal(path)
    .unwrap()
}
