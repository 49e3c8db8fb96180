//! A hostile review of the Runner's journal: panics in every user closure, serde impls that fail
//! or panic, a journal shared by two runners, odd and duplicate keys, a damaged file, reruns with
//! the jobs reordered or failed for good. Each test is fast and free of tight timing.
#![cfg(feature = "journal")]

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Serialize, Serializer};
use tollgate::{AttemptError, JournalError, Rate, Resource, Retry, Runner, RunnerError, Verdict};

/// A fresh directory for one test's journal.
fn journal_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-adv-journal-{}-{test}",
        std::process::id()
    ));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.journal")
}

/// No waiting between attempts.
fn quick<E>(retries: u32) -> Retry<E> {
    Retry::exponential(retries)
        .base(Duration::from_millis(1))
        .cap(Duration::from_millis(1))
}

/// Runs `0..n` with a runner that squares, on a fresh journal, and returns nothing: the journal
/// then holds every job.
fn fill(path: &PathBuf, jobs: impl IntoIterator<Item = u64>) {
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * x))
        .journal(path)
        .unwrap();
    runner.schedule_all(jobs).unwrap();
    let report = runner.run();
    assert!(report.failures().next().is_none());
}

fn messages<E: std::fmt::Display>(errors: &[std::sync::Arc<AttemptError<E>>]) -> Vec<String> {
    errors.iter().map(|error| error.to_string()).collect()
}

/// A runner whose job is its result, counting its calls in `calls`, on the journal at `path`.
fn counting<'a>(calls: &'a AtomicU32, path: &std::path::Path) -> Runner<'a, u64, u64, String> {
    Runner::new(move |x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(*x)
    })
    .journal(path)
    .unwrap()
}

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
    let barrier = std::sync::Barrier::new(2);
    let outcomes: Vec<Result<(), JournalError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let runner = Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path);
                    barrier.wait(); // both attempts made before either is dropped
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

#[test]
fn duplicate_keys_are_refused_and_the_first_keeps_its_place() {
    let path = journal_path("duplicate-keys");
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&path)
        .unwrap();
    runner.schedule_keyed("same", 1).unwrap();
    match runner.schedule_keyed("same", 2) {
        Err(RunnerError::Journal(JournalError::DuplicateKey(key))) => assert!(key.contains("same")),
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    // The refused key is not held: a third, different key still goes.
    runner.schedule_keyed("other", 3).unwrap();
    assert_eq!(runner.run().results, vec![Some(1), Some(3)]);
}

#[test]
fn huge_and_odd_byte_keys_round_trip_through_the_journal() {
    let path = journal_path("odd-keys");
    let huge = "k".repeat(1 << 20);
    let keys: Vec<String> = vec![
        String::new(),
        "\0".into(),
        "\0\0".into(),
        "a/b".into(),
        "key/a".into(),
        "hash/00000000000000000000000000000000/1".into(),
        "\u{FEFF}bom".into(),
        "\r\n".into(),
        "\u{10FFFF}".into(),
        "é".into(),
        "e\u{301}".into(), // not the same key as "é" (no normalisation)
        huge.clone(),
    ];
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * 3))
        .journal(&path)
        .unwrap();
    for (n, key) in keys.iter().enumerate() {
        runner.schedule_keyed(key.clone(), n as u64).unwrap();
    }
    // An unkeyed job next to keys that look like the journal's own prefixes.
    runner.schedule(100).unwrap();
    let report = runner.run();
    assert!(report.failures().next().is_none());
    drop(runner);

    let mut rerun = Runner::new(|_: &u64| Err::<u64, String>("not called".into()))
        .journal(&path)
        .unwrap();
    for (n, key) in keys.iter().enumerate().rev() {
        rerun.schedule_keyed(key.clone(), n as u64).unwrap();
    }
    rerun.schedule(100).unwrap();
    let report = rerun.run();
    assert_eq!(report.attempts, 0);
    let mut expected: Vec<Option<u64>> =
        (0..keys.len() as u64).rev().map(|n| Some(n * 3)).collect();
    expected.push(Some(300));
    assert_eq!(report.results, expected);
}

#[test]
fn a_rerun_with_the_jobs_reordered_and_duplicated_takes_every_result_from_the_journal() {
    let path = journal_path("reordered");
    let jobs: Vec<u64> = vec![5, 1, 5, 9, 1, 5];
    fill(&path, jobs.clone());
    let mut rerun = Runner::new(|_: &u64| Err::<u64, String>("not called".into()))
        .journal(&path)
        .unwrap();
    let reordered: Vec<u64> = vec![1, 5, 9, 5, 1, 5];
    rerun.schedule_all(reordered.clone()).unwrap();
    let report = rerun.run();
    assert_eq!(report.attempts, 0);
    assert_eq!(
        report.results,
        reordered.iter().map(|x| Some(x * x)).collect::<Vec<_>>()
    );
    // One more copy than recorded is a new job, the only one called.
    drop(rerun);
    let calls = AtomicU32::new(0);
    let mut third = Runner::new(|x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(x * x)
    })
    .journal(&path)
    .unwrap();
    third.schedule_all([5, 5, 5, 5]).unwrap();
    assert_eq!(third.run().resumed, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_job_that_failed_for_good_is_rerun_with_a_fresh_budget() {
    let path = journal_path("failed-for-good");
    let mut runner = Runner::new(|_: &u64| Err::<u64, String>("down".into()))
        .retry(quick(1))
        .journal(&path)
        .unwrap();
    runner.schedule(7).unwrap();
    let report = runner.run();
    assert_eq!(report.errors[0].len(), 2);
    drop(runner);
    let calls = AtomicU32::new(0);
    let mut rerun = Runner::new(|_: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err::<u64, String>("down".into())
    })
    .retry(quick(1))
    .journal(&path)
    .unwrap();
    rerun.schedule(7).unwrap();
    let report = rerun.run();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "a fresh budget of 1 retry");
    assert_eq!(
        messages(&report.errors[0]),
        vec![
            "in an earlier run: down",
            "in an earlier run: down",
            "down",
            "down"
        ]
    );
}

#[test]
fn journaled_errors_are_not_re_prefixed_by_every_rerun() {
    let path = journal_path("re-prefixed");
    for _ in 0..3 {
        let mut runner = Runner::new(|_: &u64| Err::<u64, String>("down".into()))
            .retry(Retry::never())
            .journal(&path)
            .unwrap();
        runner.schedule(7).unwrap();
        let report = runner.run();
        for error in messages(&report.errors[0]) {
            assert!(
                !error.contains("in an earlier run: in an earlier run"),
                "{:?}",
                messages(&report.errors[0])
            );
        }
    }
}

#[test]
fn retry_waits_of_duration_max_fail_the_job_instead_of_waiting_forever() {
    let path = journal_path("duration-max");
    for cap in [Duration::from_secs(1), Duration::MAX] {
        std::fs::remove_file(&path).ok();
        let mut runner = Runner::new(|_: &u64| Err::<u64, String>("slow down".into()))
            .retry(
                quick(3)
                    .max_retry_after(cap)
                    .retry_after_jitter(Duration::MAX)
                    .classify(|_| Verdict::RetryAfter(Duration::MAX)),
            )
            .journal(&path)
            .unwrap();
        runner.schedule(1).unwrap();
        let report = runner.run();
        assert_eq!(report.results, vec![None]);
        assert!(
            report.errors[0]
                .iter()
                .any(|e| matches!(**e, AttemptError::RetryAfterTooLong { .. })),
            "cap {cap:?}: {:?}",
            messages(&report.errors[0])
        );
    }
}

#[test]
fn backoff_of_duration_max_does_not_overflow() {
    // Base and cap of Duration::MAX with 0 retries: the policy is computed but never waited on.
    let mut runner = Runner::new(|_: &u64| Err::<u64, String>("no".into()))
        .retry(Retry::exponential(0).base(Duration::MAX).cap(Duration::MAX));
    runner.schedule(1).unwrap();
    assert_eq!(runner.run().results, vec![None]);
}

#[test]
fn an_interrupt_before_the_run_calls_nothing_and_the_rerun_finishes() {
    let path = journal_path("interrupt-before");
    let calls = AtomicU32::new(0);
    let mut runner = counting(&calls, &path);
    runner.schedule_all(0..4).unwrap();
    runner.interrupt_handle().interrupt();
    let report = runner.run();
    assert!(report.interrupted);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let report = runner.run();
    assert!(!report.interrupted);
    assert_eq!(report.results, (0..4).map(Some).collect::<Vec<_>>());
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
fn a_second_batch_in_the_same_runner_takes_jobs_the_journal_already_holds() {
    let path = journal_path("second-batch");
    let calls = AtomicU32::new(0);
    let mut runner = counting(&calls, &path);
    runner.schedule_all(0..3).unwrap();
    runner.run();
    assert_eq!(calls.swap(0, Ordering::SeqCst), 3);
    // The same jobs again: a runner reopened on this journal would take all three from it.
    runner.schedule_all(0..3).unwrap();
    let report = runner.run();
    assert_eq!(
        (report.resumed, calls.load(Ordering::SeqCst)),
        (3, 0),
        "same journal, same jobs: resumed as a reopened runner would"
    );
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
fn keyed_jobs_sent_through_a_job_sender_resume_and_duplicates_fail_alone() {
    let path = journal_path("sender-keys");
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x + 1))
        .journal(&path)
        .unwrap();
    let sender = runner.job_sender();
    sender.schedule_keyed("a", 1);
    sender.schedule_keyed("a", 2);
    sender.schedule_keyed("b", 3);
    drop(sender);
    let report = runner.run();
    assert_eq!(report.results, vec![Some(2), None, Some(4)]);
    assert!(report.errors[1].iter().any(|e| matches!(
        **e,
        AttemptError::Misconfigured(RunnerError::Journal(JournalError::DuplicateKey(_)))
    )));
    drop(runner);
    let mut rerun = Runner::new(|_: &u64| Err::<u64, String>("not called".into()))
        .journal(&path)
        .unwrap();
    let sender = rerun.job_sender();
    let keys: HashSet<usize> = [sender.schedule_keyed("b", 3), sender.schedule_keyed("a", 1)]
        .into_iter()
        .collect();
    assert_eq!(keys.len(), 2);
    drop(sender);
    let report = rerun.run();
    assert_eq!((report.resumed, report.attempts), (2, 0));
    assert_eq!(report.results, vec![Some(4), Some(2)]);
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

#[test]
fn jobs_scheduled_under_one_journal_keep_their_keys_when_another_is_attached() {
    let first = journal_path("switch-first");
    let second = journal_path("switch-second");
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .journal(&first)
        .unwrap();
    runner.schedule_all(0..3).unwrap();
    let mut runner = runner.journal(&second).unwrap();
    assert_eq!(runner.run().results, vec![Some(0), Some(1), Some(2)]);
    drop(runner);
    // A rerun on the second journal, attached before scheduling as the documentation asks.
    let mut rerun = Runner::new(|_: &u64| Err::<u64, String>("not called".into()))
        .journal(&second)
        .unwrap();
    rerun.schedule_all(0..3).unwrap();
    let report = rerun.run();
    assert_eq!(report.resumed, 3, "{:?}", report.errors);
}

/// A map built afresh: its own `RandomState`, so its own iteration order.
fn headers() -> std::collections::HashMap<String, String> {
    (0..16)
        .map(|n| (format!("header-{n}"), format!("value-{n}")))
        .collect()
}

#[test]
fn a_job_holding_a_hash_map_is_found_again_by_the_rerun() {
    let path = journal_path("hash-map-job");
    let mut runner = Runner::new(|job: &std::collections::HashMap<String, String>| {
        Ok::<usize, String>(job.len())
    })
    .journal(&path)
    .unwrap();
    runner.schedule(headers()).unwrap();
    assert_eq!(runner.run().results, vec![Some(16)]);
    drop(runner);
    // A rerun (a new process: here a new map, whose random hasher orders the keys anew).
    let resumed = (0..4)
        .map(|_| {
            let mut rerun = Runner::new(|_: &std::collections::HashMap<String, String>| {
                Err::<usize, String>("not called".into())
            })
            .journal(&path)
            .unwrap();
            rerun.schedule(headers()).unwrap();
            rerun.run().resumed
        })
        .collect::<Vec<_>>();
    assert_eq!(resumed, vec![1; 4], "the same job, not found again");
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
