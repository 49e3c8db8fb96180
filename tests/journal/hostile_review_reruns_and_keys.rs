//! A hostile review of the Runner's journal, reruns and keys: duplicate, huge and odd keys, jobs
//! reordered, duplicated or failed for good, retry waits of `Duration::MAX`, an interrupt before
//! the run, a second batch, jobs sent through a job sender or scheduled under another journal,
//! jobs holding hash maps. Each test is fast and free of tight timing.
#![cfg(feature = "journal")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tollgate::{AttemptError, JournalError, Retry, Runner, RunnerError, Verdict};

use crate::hostile_review_fixtures::{counting, fill, journal_path, messages, quick};

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
