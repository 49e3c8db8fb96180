//! A hostile review of `JobSender`, interrupts and the scoped Runner: senders racing, closed from
//! another thread, dropped during an interrupt or used after the runner is gone, jobs that exceed
//! every quota. No test relies on tight timing: threads meet at barriers or channels.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tollgate::{AttemptError, Rate, Resource, Retry, Runner, RunnerError};

#[test]
fn zero_jobs_and_an_open_sender_closed_from_another_thread_ends_the_run() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x));
    let sender = runner.job_sender();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let closer = std::thread::spawn(move || {
        // Closed once the test thread is about to run (or already running): either way run()
        // must come back.
        started_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        sender.close();
    });
    started_tx.send(()).unwrap();
    let began = Instant::now();
    let report = runner.run();
    closer.join().unwrap();
    assert!(report.results.is_empty());
    assert!(!report.interrupted);
    assert!(began.elapsed() < Duration::from_secs(4));
}

#[test]
fn many_senders_racing_each_get_a_unique_index_holding_their_job() {
    const THREADS: usize = 8;
    const EACH: usize = 250;
    let mut runner = Runner::new(|x: &usize| Ok::<usize, String>(*x)).max_concurrent(4);
    runner.schedule(usize::MAX).unwrap(); // index 0, scheduled before the senders
    let sender = runner.job_sender();
    let barrier = Arc::new(Barrier::new(THREADS));
    let producers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let sender = sender.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..EACH)
                    .map(|n| {
                        let job = thread * EACH + n;
                        (sender.schedule(job), job)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    drop(sender);
    let report = runner.run();
    let sent: Vec<(usize, usize)> = producers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    assert_eq!(report.results.len(), THREADS * EACH + 1);
    assert_eq!(report.results[0], Some(usize::MAX));
    let indices: HashSet<usize> = sent.iter().map(|(index, _)| *index).collect();
    assert_eq!(indices.len(), THREADS * EACH, "indices are unique");
    for (index, job) in sent {
        assert_eq!(report.results[index], Some(job), "index {index}");
    }
}

#[test]
fn senders_racing_with_schedule_on_the_runner_before_the_run_get_the_right_indices() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x));
    let sender = runner.job_sender();
    let a = sender.schedule(10);
    let b = runner.schedule(20).unwrap();
    let c = sender.schedule(30);
    let d = runner.schedule(40).unwrap();
    drop(sender);
    let report = runner.run();
    assert_eq!(report.results[a], Some(10));
    assert_eq!(report.results[b], Some(20));
    assert_eq!(report.results[c], Some(30));
    assert_eq!(report.results[d], Some(40));
}

#[test]
fn a_sender_used_after_the_runner_is_dropped_does_not_panic_or_block() {
    let runner = Runner::new(|x: &u32| Ok::<u32, String>(*x));
    let sender = runner.job_sender();
    drop(runner);
    let other = sender.clone();
    sender.schedule(1);
    other.schedule(2);
    let _ = format!("{sender:?}");
    drop(other);
    sender.close();
}

#[test]
fn a_sender_dropped_during_an_interrupt_leaves_its_jobs_for_the_next_run() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x * 10)).max_concurrent(1);
    let stop = runner.interrupt_handle();
    let sender = runner.job_sender();
    sender.schedule(1);
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let producer = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        stop.interrupt();
        sender.schedule(2); // during (or just after) the interrupted run
        drop(sender);
        done_tx.send(()).unwrap();
    });
    let report = runner.run_each(|_| {
        go_tx.send(()).ok();
    });
    producer.join().unwrap();
    done_rx.recv().unwrap();
    // Whether the interrupt landed before the run ended or not, the next run finishes the batch.
    let report = if report.interrupted || report.results.len() < 2 {
        runner.run()
    } else {
        report
    };
    assert!(!report.interrupted);
    assert_eq!(report.results, vec![Some(10), Some(20)]);
    assert_eq!(runner.pending(), 0);
}

#[test]
fn an_interrupt_with_only_an_open_sender_and_no_jobs_ends_the_run() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x));
    let sender = runner.job_sender();
    let stop = runner.interrupt_handle();
    let interrupter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        stop.interrupt();
    });
    let report = runner.run();
    interrupter.join().unwrap();
    assert!(report.interrupted);
    // Still open: a job sent now runs in the next run, which ends when the sender closes.
    sender.schedule(5);
    sender.close();
    assert_eq!(runner.run().results, vec![Some(5)]);
}

#[test]
fn u64_max_costs_through_a_job_sender_fail_that_job_alone() {
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .resource(Resource::new("tokens", Rate::per_second(100)).per_job(|x: &u64| *x));
    let sender = runner.job_sender();
    sender.schedule(1);
    sender.schedule(u64::MAX);
    sender.schedule(100);
    sender.schedule(101);
    drop(sender);
    let report = runner.run();
    assert_eq!(report.results, vec![Some(1), None, Some(100), None]);
    for index in [1, 3] {
        assert!(
            report.errors[index].iter().any(|e| matches!(
                **e,
                AttemptError::Misconfigured(RunnerError::ExceedsQuota { .. })
            )),
            "job {index}: {:?}",
            report.errors[index]
        );
    }
}

#[test]
fn u64_max_costs_on_several_resources_do_not_overflow() {
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(*x))
        .resource(Resource::new("a", Rate::per_second(u64::MAX)).per_job(|_: &u64| u64::MAX))
        .resource(
            Resource::new("b", Rate::per_second(u64::MAX))
                .estimate(|_: &u64| u64::MAX)
                .actual(|_: &u64| u64::MAX),
        )
        .retry(Retry::never());
    let sender = runner.job_sender();
    sender.schedule(1);
    sender.schedule(2);
    drop(sender);
    // Rate::per_second(u64::MAX) may be refused: then every job fails with a typed error.
    let report = runner.run();
    assert_eq!(report.results.len(), 2);
    for index in 0..2 {
        assert!(
            report.results[index].is_some() || !report.errors[index].is_empty(),
            "job {index} neither succeeded nor failed with an error"
        );
    }
}

#[test]
fn an_interrupt_before_a_run_with_nothing_to_do_is_spent_by_it() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x));
    runner.interrupt_handle().interrupt();
    let empty = runner.run();
    assert!(empty.results.is_empty());
    runner.schedule_all(0..3).unwrap();
    let report = runner.run();
    assert!(
        !report.interrupted,
        "the interrupt was issued before the previous run"
    );
    assert_eq!(report.results, vec![Some(0), Some(1), Some(2)]);
}

#[test]
fn a_panic_in_run_each_with_an_open_sender_does_not_hang_and_the_runner_resumes() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x)).max_concurrent(2);
    let sender = runner.job_sender();
    sender.schedule(1);
    sender.schedule(2);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner.run_each(|_| panic!("each boom"))
    }));
    assert!(panicked.is_err());
    sender.schedule(3);
    drop(sender);
    let report = runner.run();
    assert_eq!(report.results, vec![Some(1), Some(2), Some(3)]);
}

#[test]
fn scoped_workers_borrow_and_each_call_runs_once_per_attempt() {
    let words = ["alpha".to_owned(), "beta".to_owned(), "gamma".to_owned()];
    let calls = AtomicU32::new(0);
    let mut runner = Runner::new(|i: &usize| {
        calls.fetch_add(1, Ordering::SeqCst);
        words.get(*i).map(String::len).ok_or("out of range")
    })
    .retry(Retry::never());
    runner.schedule_all([0, 1, 2, 7]).unwrap();
    let report = runner.run();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        report.successes().map(|(i, n)| (i, *n)).collect::<Vec<_>>(),
        [(0, 5), (1, 4), (2, 5)]
    );
    assert_eq!(report.failures().map(|(i, _)| i).collect::<Vec<_>>(), [3]);
    match report.into_successes() {
        Err(failed) => assert_eq!(failed.len(), 1),
        Ok(_) => panic!("a failure was hidden"),
    }
}

#[test]
fn zero_concurrency_with_an_open_sender_is_an_error_not_a_hang() {
    let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x)).max_concurrent(0);
    let sender = runner.job_sender();
    sender.schedule(1);
    let report = runner.run();
    assert_eq!(report.results, vec![None]);
    assert!(report.errors[0].iter().any(|e| matches!(
        **e,
        AttemptError::Misconfigured(RunnerError::ZeroConcurrency)
    )));
    drop(sender);
}
