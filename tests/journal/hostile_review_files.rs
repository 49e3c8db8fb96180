//! A hostile review of the Runner's journal, the file itself: one file open in two runners or
//! from two threads, truncated or flipped bytes, a file that is not a journal, a journal of
//! another job set: typed errors or a clean rerun, never a panic. Each test is fast and free of
//! tight timing.
#![cfg(feature = "journal")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tollgate::{AttemptError, JournalError, Runner, RunnerError};

use crate::hostile_review_fixtures::{fill, journal_path};
use crate::support;

#[test]
fn one_journal_file_cannot_be_open_in_two_runners_at_once() {
    let path = journal_path("two-runners");
    let first = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
    match Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path) {
        Err(JournalError::InUse { path: named }) => assert_eq!(named, path),
        Err(other) => panic!("expected InUse, got {other}"),
        Ok(_) => panic!("a second runner opened a journal in use"),
    }
    drop(first);
    // Free again once the first is dropped.
    Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
}

#[test]
fn one_journal_file_used_from_two_threads_at_once_is_refused_to_one_of_them() {
    let path = journal_path("two-threads");
    // Both attempts made before either is dropped (a bounded wait: a thread that panics before
    // its attempt fails the other instead of leaving it waiting forever, as a barrier would).
    let attempts = AtomicUsize::new(0);
    let outcomes: Vec<Result<(), JournalError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let runner = Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path);
                    attempts.fetch_add(1, Ordering::SeqCst);
                    support::wait_until("both attempts", || attempts.load(Ordering::SeqCst) == 2);
                    runner.map(drop)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let opened = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(opened, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, Err(JournalError::InUse { .. }))));
}

/// Overwrites `len` bytes at `at` of the file at `path`.
fn overwrite(path: &PathBuf, at: usize, bytes: &[u8]) {
    let mut contents = std::fs::read(path).unwrap();
    contents[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, contents).unwrap();
}

#[test]
fn a_truncated_journal_is_an_open_or_corrupt_error_or_a_clean_rerun_never_a_panic() {
    let path = journal_path("truncated");
    fill(&path, 0..20);
    let len = std::fs::metadata(&path).unwrap().len();
    for keep in [0, 1, 100, 512, 4096, len / 2, len - 1] {
        let copy = path.with_extension(format!("cut{keep}"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(keep as usize);
        std::fs::write(&copy, bytes).unwrap();
        let opened = catch_unwind(AssertUnwindSafe(|| {
            Runner::new(|x: &u64| Ok::<u64, String>(x * x)).journal(&copy)
        }));
        match opened {
            Err(_) => panic!("opening a journal cut to {keep} bytes panicked"),
            // A file cut short is not a journal, or a damaged one.
            Ok(Err(JournalError::Open { .. } | JournalError::Corrupt { .. })) => {}
            Ok(Err(other)) => panic!("cut to {keep}: unexpected {other:?}"),
            Ok(Ok(mut runner)) => {
                runner.schedule_all(0..20).unwrap();
                let report = runner.run();
                assert_eq!(
                    report.results,
                    (0..20).map(|x| Some(x * x)).collect::<Vec<_>>(),
                    "cut to {keep}"
                );
            }
        }
    }
}

#[test]
fn a_flipped_byte_in_a_recorded_result_is_never_returned_as_that_jobs_result() {
    let path = journal_path("flipped");
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
    runner.schedule_keyed("only", 987_654_321).unwrap();
    runner.run();
    drop(runner);
    let contents = std::fs::read(&path).unwrap();
    let at = contents
        .windows(9)
        .position(|w| w == b"987654321")
        .expect("the result is stored as JSON text");
    overwrite(&path, at, b"1");
    match Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path) {
        Err(_) => {} // detected: fine
        Ok(mut rerun) => match rerun.schedule_keyed("only", 987_654_321) {
            // Detected when the job is looked up: a typed error naming the job.
            Err(RunnerError::Journal(JournalError::Corrupt {
                key,
                index: Some(0),
                ..
            })) => assert_eq!(key.as_deref(), Some("key/only")),
            Err(other) => panic!("unexpected {other}"),
            Ok(_) => {
                let report = rerun.run();
                assert_eq!(
                    report.results,
                    vec![Some(987_654_321)],
                    "a corrupted result came back"
                );
            }
        },
    }
}

#[test]
fn flipping_any_byte_of_a_journal_never_panics_on_open_or_rerun() {
    let path = journal_path("flip-sweep");
    fill(&path, 0..8);
    let pristine = std::fs::read(&path).unwrap();
    let copy = path.with_extension("flip");
    // Every 97th byte, inverted: headers, pages and free space alike.
    for at in (0..pristine.len()).step_by(97) {
        let mut bytes = pristine.clone();
        bytes[at] = !bytes[at];
        std::fs::write(&copy, &bytes).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(mut runner) = Runner::new(|x: &u64| Ok::<u64, String>(x * x)).journal(&copy) {
                if runner.schedule_all(0..8).is_ok() {
                    let report = runner.run();
                    assert_eq!(report.results.len(), 8);
                }
            }
        }));
        assert!(outcome.is_ok(), "a journal with byte {at} flipped panicked");
    }
}

#[test]
fn a_file_that_is_not_a_journal_is_an_open_error() {
    let path = journal_path("not-a-journal");
    std::fs::write(&path, b"{\"hello\": \"world\"}\n").unwrap();
    match Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path) {
        Err(JournalError::Open { path: named, .. }) => assert_eq!(named, path),
        Err(other) => panic!("expected Open, got {other}"),
        Ok(_) => panic!("a JSON file was opened as a journal"),
    }
    // Nor is a directory.
    let dir = path.parent().unwrap().join("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&dir)
        .is_err());
}

#[test]
fn a_journal_of_another_job_set_fails_every_job_with_a_typed_error() {
    let path = journal_path("other-set");
    fill(&path, 0..3);
    let mut rerun = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
    rerun.schedule_all(10..13).unwrap();
    assert!(matches!(
        rerun.check(),
        Err(RunnerError::Journal(JournalError::OtherJobSet {
            recorded: 3,
            scheduled: 3,
            ..
        }))
    ));
    let report = rerun.run();
    assert_eq!(report.results, vec![None, None, None]);
    assert!(report.errors.iter().all(|errors| errors
        .iter()
        .any(|e| matches!(**e, AttemptError::Misconfigured(RunnerError::Journal(_))))));
}

#[test]
fn a_journal_of_another_job_set_is_refused_for_jobs_sent_before_the_run_through_a_job_sender() {
    let path = journal_path("other-set-sender");
    fill(&path, 0..3);
    let mut rerun = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
    let sender = rerun.job_sender();
    for x in 10..13 {
        sender.schedule(x);
    }
    drop(sender);
    let report = rerun.run();
    // As with schedule(): every job fails with OtherJobSet.
    assert_eq!(report.results, vec![None, None, None]);
}
