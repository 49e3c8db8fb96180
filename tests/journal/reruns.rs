//! The Runner's journal: a rerun with the same journal and jobs calls only the unfinished jobs
//! and returns the whole batch in order; misuse is a typed error naming the file and the job.
#![cfg(feature = "journal")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tollgate::{AttemptError, JournalError, Nanos, Retry, Runner, RunnerError};

use crate::support;

/// A fresh directory for one test's journal.
fn journal_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-journal-{}-{test}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.journal")
}

#[test]
fn a_rerun_calls_only_the_unfinished_jobs_and_returns_the_whole_batch_in_order() {
    let path = journal_path("rerun");
    let calls = AtomicU32::new(0);
    let mut first = Runner::new(|x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(x * x)
    })
    .max_concurrent(1)
    .journal(&path)
    .unwrap();
    first.schedule_all(0..10).unwrap();
    // Interrupted after 4 results were handed over: those are in the journal.
    let stop = first.interrupt_handle();
    let mut delivered = Vec::new();
    let report = first.run_each(|done| {
        delivered.push(done.index);
        if delivered.len() == 4 {
            stop.interrupt();
        }
    });
    assert!(report.interrupted);
    drop(first); // a crash, as far as the journal is concerned: only the commits count
    let called_before = calls.swap(0, Ordering::SeqCst);
    assert!(called_before >= 4);

    let mut rerun = Runner::new(|x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(x * x)
    })
    .journal(&path)
    .unwrap();
    rerun.schedule_all(0..10).unwrap();
    let mut handed = Vec::new();
    let report = rerun.run_each(|done| handed.push((done.index, done.resumed)));
    assert_eq!(
        report.results,
        (0..10).map(|x| Some(x * x)).collect::<Vec<_>>()
    );
    assert_eq!(report.resumed as u32, called_before);
    assert_eq!(calls.load(Ordering::SeqCst), 10 - called_before);
    // Every job handed over once: the journal's first (at the start), then the new ones.
    handed.sort();
    assert_eq!(
        handed.iter().map(|(index, _)| *index).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    let resumed: Vec<usize> = handed
        .iter()
        .filter(|(_, resumed)| *resumed)
        .map(|(index, _)| *index)
        .collect();
    assert_eq!(resumed.len() as u32, called_before);
    assert!(delivered.iter().all(|index| resumed.contains(index)));
}

#[test]
fn identical_jobs_are_told_apart_by_their_occurrence_and_keys_are_the_users() {
    let path = journal_path("occurrences");
    let mut runner = Runner::new(|word: &String| Ok::<usize, String>(word.len()))
        .journal(&path)
        .unwrap();
    runner
        .schedule_all(["a", "bb", "a"].map(String::from))
        .unwrap();
    runner.run();
    drop(runner);

    let mut rerun = Runner::new(|word: &String| Ok::<usize, String>(word.len() * 100))
        .journal(&path)
        .unwrap();
    // Three "a"s now: two were recorded, the third is new.
    rerun
        .schedule_all(["a", "a", "bb", "a"].map(String::from))
        .unwrap();
    let report = rerun.run();
    assert_eq!(report.results, vec![Some(1), Some(1), Some(2), Some(100)]);
    assert_eq!(report.resumed, 3);

    // Keys given by the user: unique within a batch.
    let path = journal_path("keys");
    let mut keyed = Runner::new(|word: &String| Ok::<usize, String>(word.len()))
        .journal(&path)
        .unwrap();
    keyed.schedule_keyed("first", "x".to_owned()).unwrap();
    assert_eq!(
        keyed.schedule_keyed("first", "y".to_owned()),
        Err(RunnerError::Journal(JournalError::DuplicateKey(
            "key/first".to_owned()
        )))
    );
    assert_eq!(keyed.run().results, vec![Some(1)]);
}

#[test]
fn a_job_that_failed_for_good_runs_again_with_its_earlier_errors_kept() {
    let path = journal_path("failed");
    let mut runner = Runner::new(|x: &u32| if *x == 1 { Err("boom") } else { Ok(*x) })
        .retry(Retry::exponential(0))
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..3).unwrap();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(0), None, Some(2)]);
    drop(runner);

    let calls = Mutex::new(Vec::new());
    let mut rerun = Runner::new(|x: &u32| {
        calls.lock().unwrap().push(*x);
        Ok::<u32, &str>(*x)
    })
    .journal(&path)
    .unwrap();
    rerun.schedule_all(0..3).unwrap();
    let report = rerun.run();
    assert_eq!(report.results, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(*calls.lock().unwrap(), vec![1]);
    assert!(matches!(&*report.errors[1][0], AttemptError::Journaled(message) if message == "boom"));
}

#[test]
fn a_journal_of_another_job_set_fails_every_job_instead_of_running_them() {
    let path = journal_path("other");
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x))
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..3).unwrap();
    runner.run();
    drop(runner);

    let calls = AtomicU32::new(0);
    let mut other = Runner::new(|x: &u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u32, String>(*x)
    })
    .journal(&path)
    .unwrap();
    other.schedule_all(10..12).unwrap();
    let report = other.run();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(report.results, vec![None, None]);
    for errors in &report.errors {
        match &*errors[0] {
            AttemptError::Misconfigured(RunnerError::Journal(JournalError::OtherJobSet {
                path: named,
                recorded: 3,
                scheduled: 2,
            })) => assert_eq!(named, &path),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_result_that_no_longer_deserialises_is_an_error_naming_the_file_and_the_job() {
    let path = journal_path("undecodable");
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x))
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..2).unwrap();
    runner.run();
    drop(runner);

    // The result type changed: a recorded u32 is no Vec<String>.
    let mut changed = Runner::new(|_: &u32| Ok::<Vec<String>, String>(Vec::new()))
        .journal(&path)
        .unwrap();
    match changed.schedule(1) {
        Err(RunnerError::Journal(JournalError::Undecodable {
            path: named,
            index: 0,
            ..
        })) => assert_eq!(named, path),
        other => panic!("unexpected {other:?}"),
    }
    let message = changed.schedule(0).unwrap_err().to_string();
    assert!(message.contains("run.journal") && message.contains("no longer deserialises"));
}

#[test]
fn a_corrupt_file_or_one_in_use_is_refused_with_its_path() {
    let path = journal_path("corrupt");
    std::fs::write(
        &path,
        b"these bytes are not a journal, whatever their length".repeat(100),
    )
    .unwrap();
    match Runner::new(|x: &u32| Ok::<u32, String>(*x)).journal(&path) {
        Err(JournalError::Open { path: named, .. }) => assert_eq!(named, path),
        other => panic!("unexpected {:?}", other.map(|_| ())),
    }

    let path = journal_path("in-use");
    let _open = Runner::new(|x: &u32| Ok::<u32, String>(*x))
        .journal(&path)
        .unwrap();
    match Runner::new(|x: &u32| Ok::<u32, String>(*x)).journal(&path) {
        Err(JournalError::InUse { path: named }) => assert_eq!(named, path),
        other => panic!("unexpected {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_redb_file_of_another_program_is_not_taken_for_a_journal() {
    let path = journal_path("foreign");
    {
        let db = redb::Database::create(&path).unwrap();
        let write = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&str, &[u8]> =
                redb::TableDefinition::new("finished_jobs");
            let mut table = write.open_table(table).unwrap();
            table.insert("someone else's", &b"data"[..]).unwrap();
        }
        write.commit().unwrap();
    }
    assert!(matches!(
        Runner::new(|x: &u32| Ok::<u32, String>(*x)).journal(&path),
        Err(JournalError::Open { .. })
    ));
}

#[test]
fn jobs_scheduled_before_the_journal_is_attached_are_looked_up_too() {
    let path = journal_path("late-attach");
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x + 1))
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..3).unwrap();
    runner.run();
    drop(runner);

    let mut rerun = Runner::new(|_: &u32| Err::<u32, String>("not called".into()));
    rerun.schedule_all(0..3).unwrap();
    let mut rerun = rerun.journal(&path).unwrap();
    assert_eq!(rerun.pending(), 0);
    let report = rerun.run();
    assert_eq!(report.results, vec![Some(1), Some(2), Some(3)]);
    assert_eq!(report.attempts, 0);
}

#[test]
fn run_each_delivers_the_first_result_before_the_last_job_starts() {
    support::watchdog::watch_this_test();
    // A mock clock the test steps: 5 jobs at 1 per second.
    let (clock, time) = tollgate::Clock::mock_stepped();
    let log = Mutex::new(Vec::new());
    let mut runner = Runner::new(|x: &u32| {
        log.lock().unwrap().push(format!("start {x}"));
        Ok::<u32, String>(*x)
    })
    .resource(
        tollgate::Resource::new(tollgate::REQUESTS, tollgate::Rate::per_second(1)).per_job(|_| 1),
    )
    .max_concurrent(1)
    .with_clock(clock);
    runner.schedule_all(0..5).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Set when the run ends, returning or panicking: the stepper stops.
        let _done = support::SetOnDrop(&done);
        scope.spawn(|| {
            let _freed = support::ClockFreedOnDrop(&time);
            // Time reaches the last job's start (4 s) only once the first result is delivered,
            // however late a loaded machine runs the delivering thread: a run that delivered
            // results only at its end would never deliver it, and the bounded wait fails the
            // test.
            let (last_start, step) = (Nanos::from_secs(4), Duration::from_millis(250));
            while !done.load(Ordering::SeqCst) {
                if time.now() + step >= last_start {
                    support::wait_until("the first result to be delivered", || {
                        done.load(Ordering::SeqCst)
                            || log.lock().unwrap().iter().any(|entry| entry == "done 0")
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
                time.advance(step);
            }
        });
        runner.run_each(|finished| log.lock().unwrap().push(format!("done {}", finished.index)));
    });
    drop(runner);
    let log = log.into_inner().unwrap();
    let position = |entry: &str| log.iter().position(|logged| logged == entry).unwrap();
    assert!(position("done 0") < position("start 4"), "{log:?}");
}

/// A result that refuses to be serialised when it is 3.
#[derive(Clone, Debug, PartialEq)]
struct Picky(u32);

impl serde::Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 3 {
            return Err(serde::ser::Error::custom("3 cannot be written"));
        }
        serializer.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u32::deserialize(deserializer).map(Picky)
    }
}

#[test]
fn a_result_the_journal_cannot_record_stops_the_run_and_says_why() {
    let path = journal_path("unrecordable");
    let calls = AtomicU32::new(0);
    let mut runner = Runner::new(|x: &u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        Ok::<Picky, String>(Picky(*x))
    })
    .max_concurrent(1)
    .journal(&path)
    .unwrap();
    runner.schedule_all(0..50).unwrap();
    let report = runner.run();
    match &report.journal_failure {
        Some(JournalError::Unencodable {
            index: 3,
            path: named,
            reason,
        }) => {
            assert_eq!(named, &path);
            assert!(reason.contains("3 cannot be written"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The run stopped: not every job was called (no call is paid for that cannot be kept).
    assert!(calls.load(Ordering::SeqCst) < 50);
    assert_eq!(report.results[3], Some(Picky(3)));
}
