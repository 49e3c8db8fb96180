//! Arrival-aware billing ([`Attempt::answered`]): a call that says when its answer began is
//! billed from that instant (the latest a server counting at arrival can have stamped it), the
//! bill at its end keeping it; a call that says nothing, from its completion. On a mock clock
//! that sleeping advances, calls one at a time: each test states when every call started.

use std::sync::Mutex;
use std::time::Duration;

use tollgate::{Attempt, Clock, MockTime, Rate, Resource, Retry, Runner, Verdict};

/// What a call does at each step, on the mock clock.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Time passes.
    Wait(u64),
    /// The answer began ([`Attempt::answered`]).
    Answered,
}
use Step::{Answered, Wait};

/// How an attempt ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// Returns `Ok(tokens)`: the tokens it used.
    Used(u64),
    /// Fails (retried at once).
    Fails,
    /// The server refused it: a 429 asking for `ms`.
    Refused(u64),
    Panics,
}

/// Runs `jobs` jobs one at a time against `resources`; attempt `n` (in the order attempts are
/// made) follows `steps` and ends as `ends[n]` (the last for every later one). Returns when each
/// attempt started, in milliseconds.
fn starts(resources: Vec<Resource<u32, u64>>, jobs: u32, steps: &[Step], ends: &[End]) -> Vec<u64> {
    let (clock, time): (Clock, MockTime) = Clock::mock();
    let started = Mutex::new(Vec::new());
    let mut runner = Runner::new_with_attempt(|_: &u32, attempt: &Attempt<'_>| {
        let attempt_number = {
            let mut started = started.lock().unwrap();
            started.push(time.now().as_duration().as_millis() as u64);
            started.len() - 1
        };
        for step in steps {
            match step {
                Wait(ms) => time.advance(Duration::from_millis(*ms)),
                Answered => attempt.answered(),
            }
        }
        match ends[attempt_number.min(ends.len() - 1)] {
            End::Used(tokens) => Ok(tokens),
            End::Fails => Err(None),
            End::Refused(ms) => Err(Some(Duration::from_millis(ms))),
            End::Panics => panic!("the call panicked after its answer began"),
        }
    })
    .with_clock(clock)
    .resources(resources)
    .max_concurrent(1)
    .retry(
        Retry::exponential(3)
            .base(Duration::ZERO)
            .retry_after_jitter(Duration::ZERO)
            .classify(|wait: &Option<Duration>| wait.map_or(Verdict::Retry, Verdict::RetryAfter)),
    );
    runner.schedule_all(0..jobs).unwrap();
    let report = runner.run();
    assert!(report.results.iter().all(Option::is_some), "{report:?}");
    drop(runner);
    started.into_inner().unwrap()
}

/// One request per second, one per job.
fn requests() -> Vec<Resource<u32, u64>> {
    vec![Resource::new("requests", Rate::per_second(1)).per_job(|_| 1)]
}

/// 10 tokens per second, `estimate` reserved per job, the call's result billed.
fn tokens(estimate: u64) -> Vec<Resource<u32, u64>> {
    vec![Resource::new("tokens", Rate::per_second(10))
        .estimate(move |_| estimate)
        .actual(|used: &u64| *used)]
}

#[test]
fn usage_counts_from_the_answer_and_from_the_completion_without_one() {
    // 900 ms calls whose answer begins at 100 ms: the next call a second after the answer.
    let answered = [Wait(100), Answered, Wait(800)];
    assert_eq!(
        starts(requests(), 3, &answered, &[End::Used(0)]),
        [0, 1_100, 2_200]
    );
    // The call says nothing: a second after its completion, as before.
    assert_eq!(
        starts(requests(), 3, &[Wait(900)], &[End::Used(0)]),
        [0, 1_900, 3_800]
    );
}

#[test]
fn an_answer_said_twice_counts_from_the_last() {
    let steps = [Wait(100), Answered, Wait(200), Answered, Wait(600)];
    assert_eq!(
        starts(requests(), 3, &steps, &[End::Used(0)]),
        [0, 1_300, 2_600]
    );
}

/// An actual usage below the estimate keeps the answer's instant: the 4 tokens used count from
/// 100 ms, so the next 10 fit at 1.1 s (billed from the completion: 1.9 s). Above the estimate
/// the whole bill counts from the completion, never earlier than it could.
#[test]
fn the_bill_keeps_the_answers_instant_unless_it_exceeds_the_reservation() {
    let steps = [Wait(100), Answered, Wait(800)];
    assert_eq!(starts(tokens(10), 2, &steps, &[End::Used(4)]), [0, 1_100]);
    assert_eq!(
        starts(tokens(10), 2, &[Wait(900)], &[End::Used(4)]),
        [0, 1_900]
    );
    // 4 reserved, 10 used: the next 4 fit only once the 10 counted from 900 ms are gone.
    assert_eq!(starts(tokens(4), 2, &steps, &[End::Used(10)]), [0, 1_900]);
}

/// A failed attempt is billed its per-job usage from its answer, a panicking one too (the
/// closure that reported panicked after it), and the retry is its own attempt; a refused one
/// is refunded whatever it said.
#[test]
fn failures_panics_and_refusals_after_an_answer() {
    let steps = [Wait(100), Answered, Wait(800)];
    let fails_then_works = [End::Fails, End::Used(0)];
    assert_eq!(
        starts(requests(), 2, &steps, &fails_then_works),
        [0, 1_100, 2_200]
    );
    let panics_then_works = [End::Panics, End::Used(0)];
    assert_eq!(
        starts(requests(), 2, &steps, &panics_then_works),
        [0, 1_100, 2_200]
    );
    // Refused (retry after 50 ms): nothing billed, the retry goes after the server's wait.
    let refused_then_works = [End::Refused(50), End::Used(0)];
    assert_eq!(starts(requests(), 1, &steps, &refused_then_works), [0, 950]);
}

/// Resources counted at the start are not moved by an answer: their start stays.
#[test]
fn an_answer_leaves_resources_counted_at_the_start() {
    let starts_quota = vec![Resource::new("starts", Rate::per_second(1))
        .per_job(|_| 1)
        .counted_at_start()];
    let steps = [Wait(100), Answered, Wait(800)];
    assert_eq!(
        starts(starts_quota, 3, &steps, &[End::Used(0)]),
        [0, 1_000, 2_000]
    );
}
