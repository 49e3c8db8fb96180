//! A hostile review of the Runner's journal, the user's code: panics in every user closure
//! (cost extractors, validators, hook, classifier, the `run_each` callback) fail attempts, not
//! the run; serde impls that fail or panic refuse the job or stop the run with a typed journal
//! failure, and the journal stays consistent for a rerun. Each test is fast and free of tight
//! timing.
#![cfg(feature = "journal")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Serialize, Serializer};
use tollgate::{AttemptError, JournalError, Rate, Resource, Runner, RunnerError};

use crate::hostile_review_fixtures::{counting, journal_path, messages, quick};

#[test]
fn a_call_that_always_panics_is_journaled_as_failed_and_run_again_by_the_rerun() {
    let path = journal_path("call-panics");
    let mut runner = Runner::new(|x: &u64| -> Result<u64, String> {
        if *x == 1 {
            panic!("call boom {x}");
        }
        Ok(*x)
    })
    .retry(quick(2))
    .journal(&path)
    .unwrap();
    runner.schedule_all(0..3).unwrap();
    let report = runner.run();
    assert_eq!(report.results, vec![Some(0), None, Some(2)]);
    let errors = messages(&report.errors[1]);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors.iter().all(|e| e.contains("call boom 1")),
        "{errors:?}"
    );
    drop(runner);

    let calls = AtomicU32::new(0);
    let mut rerun = Runner::new(|x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(*x + 100)
    })
    .journal(&path)
    .unwrap();
    rerun.schedule_all(0..3).unwrap();
    let report = rerun.run();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the failed job is called again"
    );
    assert_eq!(report.results, vec![Some(0), Some(101), Some(2)]);
    assert_eq!(report.resumed, 2);
    // Its earlier errors come first, as Journaled.
    assert_eq!(report.errors[1].len(), 3);
    assert!(report.errors[1]
        .iter()
        .all(|e| matches!(**e, AttemptError::Journaled(ref m) if m.contains("call boom 1"))));
}

#[test]
fn panics_in_cost_extractors_validators_hook_and_classifier_fail_attempts_not_the_run() {
    let path = journal_path("closure-panics");
    let mut runner = Runner::new(|x: &u64| -> Result<u64, String> {
        if *x == 3 {
            Err("classify me".into())
        } else {
            Ok(*x)
        }
    })
    .resource(
        Resource::new("per-job", Rate::per_second(1_000_000)).per_job(|x: &u64| {
            assert!(*x != 1, "per-job extractor boom");
            1
        }),
    )
    .resource(
        Resource::new("actual", Rate::per_second(1_000_000))
            .estimate(|_| 1)
            .actual(|result: &u64| {
                assert!(*result != 2, "actual extractor boom");
                1
            }),
    )
    .validate(|result: &u64| {
        assert!(*result != 4, "validator boom");
        true
    })
    .on_response(|result, _| {
        if let Ok(5) = result {
            panic!("hook boom");
        }
    })
    .retry(quick(1).classify(|_: &String| panic!("classifier boom")))
    .journal(&path)
    .unwrap();
    runner.schedule_all(0..6).unwrap();
    let report = runner.run();
    assert_eq!(report.results[0], Some(0));
    for (index, needle) in [
        (1, "per-job extractor boom"),
        (2, "actual extractor boom"),
        (3, "classifier boom"),
        (4, "validator boom"),
        (5, "hook boom"),
    ] {
        assert_eq!(report.results[index], None, "job {index}");
        let errors = messages(&report.errors[index]);
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "job {index}: {errors:?}"
        );
    }
    drop(runner);
    // The rerun takes job 0 from the journal and calls the five failed ones again.
    let calls = AtomicU32::new(0);
    let mut rerun = counting(&calls, &path);
    rerun.schedule_all(0..6).unwrap();
    let report = rerun.run();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(report.resumed, 1);
    assert_eq!(report.results, (0..6).map(Some).collect::<Vec<_>>());
}

#[test]
fn a_panic_in_run_each_callback_leaves_the_journal_consistent_for_a_rerun() {
    let path = journal_path("each-panics");
    let calls = AtomicU32::new(0);
    let mut runner = Runner::new(|x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(x * 2)
    })
    .max_concurrent(1)
    .journal(&path)
    .unwrap();
    runner.schedule_all(0..6).unwrap();
    let mut handed = Vec::new();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        runner.run_each(|done| {
            handed.push(done.index);
            if handed.len() == 2 {
                panic!("each boom");
            }
        })
    }));
    assert!(panicked.is_err());
    // The same runner carries on: every job comes back, none handed over twice.
    let mut again = Vec::new();
    let report = runner.run_each(|done| again.push(done.index));
    assert_eq!(
        report.results,
        (0..6).map(|x| Some(x * 2)).collect::<Vec<_>>()
    );
    let mut all: Vec<usize> = handed.iter().chain(&again).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..6).collect::<Vec<_>>(),
        "handed {handed:?}, then {again:?}"
    );
    // The one call in flight when `each` panicked may have had its outcome dropped (as in a
    // crash): it is called again, once at most.
    let calls = calls.load(Ordering::SeqCst);
    assert!((6..=7).contains(&calls), "{calls} calls");
    drop(runner);
    // And a rerun in a new runner calls nothing.
    let mut rerun = Runner::new(|_: &u64| Err::<u64, String>("not called".into()))
        .journal(&path)
        .unwrap();
    rerun.schedule_all(0..6).unwrap();
    let report = rerun.run();
    assert_eq!((report.resumed, report.attempts), (6, 0));
}

/// A result whose `Serialize` fails for one value.
#[derive(Clone, Debug, PartialEq)]
struct Picky(u64);

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Picky)
    }
}

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 3 {
            return Err(serde::ser::Error::custom("three is not encodable"));
        }
        serializer.serialize_u64(self.0)
    }
}

#[test]
fn a_result_that_cannot_be_encoded_stops_the_run_with_a_typed_journal_failure() {
    let path = journal_path("unencodable-result");
    let mut runner = Runner::new(|x: &u64| Ok::<Picky, String>(Picky(*x)))
        .max_concurrent(1)
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..6).unwrap();
    let report = runner.run_each(|_| {});
    match &report.journal_failure {
        Some(JournalError::Unencodable { reason, .. }) => {
            assert!(reason.contains("three is not encodable"), "{reason}")
        }
        other => panic!("expected Unencodable, got {other:?}"),
    }
}

#[test]
fn a_job_handed_over_by_run_each_is_durable_even_when_a_commit_fails() {
    let path = journal_path("handed-not-durable");
    let mut runner = Runner::new(|x: &u64| Ok::<Picky, String>(Picky(*x)))
        .max_concurrent(1)
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..6).unwrap();
    let mut handed = Vec::new();
    let report = runner.run_each(|done| handed.push(done.index));
    assert!(report.journal_failure.is_some());
    drop(runner);
    // The journal's promise: "a job reported (by run_each) is never called again".
    let called = Mutex::new(Vec::new());
    let mut rerun = Runner::new(|x: &u64| {
        called.lock().unwrap().push(*x as usize);
        Ok::<Picky, String>(Picky(*x + 10))
    })
    .journal(&path)
    .unwrap();
    rerun.schedule_all(0..6).unwrap();
    rerun.run();
    drop(rerun);
    let called = called.into_inner().unwrap();
    let again: Vec<usize> = handed
        .iter()
        .copied()
        .filter(|i| called.contains(i))
        .collect();
    assert!(
        again.is_empty(),
        "handed over {handed:?} in the first run, yet {again:?} were called again"
    );
}

/// A job whose `Serialize` panics.
#[derive(Clone, Debug)]
struct Explosive(u64);

impl Serialize for Explosive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 != 2, "serialize boom");
        serializer.serialize_u64(self.0)
    }
}

/// A job whose `Serialize` fails.
#[derive(Clone, Debug)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no encoding"))
    }
}

#[test]
fn a_job_that_cannot_be_encoded_is_refused_by_schedule_with_its_index() {
    let path = journal_path("unencodable-job");
    let mut runner = Runner::new(|_: &Unencodable| Ok::<u64, String>(1))
        .journal(&path)
        .unwrap();
    match runner.schedule(Unencodable) {
        Err(RunnerError::Journal(JournalError::Unencodable { index, reason, .. })) => {
            assert_eq!(index, 0);
            assert!(reason.contains("no encoding"));
        }
        other => panic!("expected Unencodable, got {other:?}"),
    }
    // Keyed, the job's encoding is not needed.
    assert_eq!(runner.schedule_keyed("k", Unencodable).unwrap(), 0);
    assert_eq!(runner.run().results, vec![Some(1)]);
}

#[test]
fn a_job_serialize_panic_propagates_from_schedule_and_leaves_the_runner_usable() {
    let path = journal_path("serialize-panics");
    let mut runner = Runner::new(|x: &Explosive| Ok::<u64, String>(x.0))
        .journal(&path)
        .unwrap();
    runner.schedule(Explosive(1)).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| runner.schedule(Explosive(2)))).is_err());
    runner.schedule(Explosive(3)).unwrap();
    assert_eq!(runner.run().results, vec![Some(1), Some(3)]);
}

#[test]
fn a_job_serialize_panic_through_a_job_sender_does_not_hang_the_run() {
    let path = journal_path("serialize-panics-sender");
    let mut runner = Runner::new(|x: &Explosive| Ok::<u64, String>(x.0))
        .journal(&path)
        .unwrap();
    let sender = runner.job_sender();
    sender.schedule(Explosive(1));
    sender.schedule(Explosive(2));
    drop(sender);
    // The panic comes out of run() (on the calling thread), it does not hang.
    assert!(catch_unwind(AssertUnwindSafe(|| runner.run())).is_err());
}

#[test]
fn after_a_journal_failure_every_job_has_a_result_an_error_or_the_run_says_it_stopped() {
    let path = journal_path("after-failure");
    // Job x is called only once job x - 1 was handed over: one job per commit, in order.
    let (handed_tx, handed_rx) = std::sync::mpsc::channel::<u64>();
    let handed_rx = Mutex::new(handed_rx);
    let mut runner = Runner::new(|x: &u64| {
        if *x > 0 {
            // Bounded: a run that stops without handing job x - 1 over must not hang here.
            let _ = handed_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(2));
        }
        Ok::<Picky, String>(Picky(*x))
    })
    .max_concurrent(1)
    .journal(&path)
    .unwrap();
    runner.schedule_all(0..8).unwrap();
    let report = runner.run_each(|done| {
        handed_tx.send(done.index as u64).ok();
    });
    assert!(report.journal_failure.is_some());
    let silent: Vec<usize> = (0..8)
        .filter(|&i| report.results[i].is_none() && report.errors[i].is_empty())
        .collect();
    assert!(
        silent.is_empty() || report.interrupted,
        "jobs {silent:?} have neither a result nor an error, and the report is not interrupted"
    );
}
