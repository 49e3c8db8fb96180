//! The workers: threads that take a job, reserve its quota through the run's [`MultiLimiter`],
//! wait until the quota allows the call, call, bill the usage, and tell the coordinator. Every
//! user closure they run may panic: the attempt then fails with the panic's message.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::builder::{Call, ResponseHook, Validator};
use super::panic_message::panic_message;
use super::work_queue::WorkQueue;
use super::{Attempt, AttemptError, InterruptHandle, Resource, Retry, Runner, Verdict};
use crate::{AdaptiveSemaphore, MultiLimiter, Nanos, Permit};

/// What a worker tells the coordinating `run()`.
pub(super) enum Event<T, E> {
    Attempted(Attempted<T, E>),
    WorkerExited,
}

/// An attempt of job `index` that ended (or could not reserve its quota).
pub(super) struct Attempted<T, E> {
    pub(super) index: usize,
    pub(super) outcome: Outcome<T, E>,
    /// The resource the attempt waited for, and how long.
    pub(super) waited: Option<(String, Duration)>,
    /// When the attempt ended, on the runner's clock: waits it leads to count from then.
    pub(super) ended: Nanos,
}

/// One attempt as a worker reports it. A failure is classified on the worker, so that a call
/// the server refused (a requested wait: it did not count the call) is refunded at once.
pub(super) struct Outcome<T, E> {
    pub(super) result: Result<T, AttemptError<E>>,
    pub(super) verdict: Verdict,
    /// The classifier panicked, with this message (the verdict is then a plain retry).
    pub(super) classifier_panic: Option<String>,
}

impl<T, E> Outcome<T, E> {
    fn new(result: Result<T, AttemptError<E>>, verdict: Verdict) -> Outcome<T, E> {
        Outcome {
            result,
            verdict,
            classifier_panic: None,
        }
    }
}

/// What the workers of one run share.
pub(super) struct Work<'a, J, T, E> {
    call: Call<'a, J, T, E>,
    retry: Retry<E>,
    resources: Vec<Arc<Resource<J, T>>>,
    /// The names of the resources counted at the start, which [`Attempt::sent`] re-stamps.
    counted_at_start: Vec<String>,
    /// The names of the others, which [`Attempt::answered`] re-stamps.
    counted_at_answer: Vec<String>,
    validators: Vec<Validator<'a, T>>,
    response_hook: Option<ResponseHook<'a, T, E>>,
    pub(super) adaptive: Option<Arc<AdaptiveSemaphore>>,
    pub(super) limiter: MultiLimiter,
    pub(super) queue: WorkQueue<J>,
    /// Counts the calls in flight.
    interrupt: InterruptHandle,
}

impl<'a, J, T, E> Work<'a, J, T, E> {
    /// What the workers of a run of `runner` share: its settings, the run's `limiter` and its
    /// `queue` of jobs.
    pub(super) fn new(
        runner: &Runner<'a, J, T, E>,
        limiter: MultiLimiter,
        queue: WorkQueue<J>,
    ) -> Work<'a, J, T, E> {
        Work {
            call: Arc::clone(&runner.call),
            retry: runner.retry.clone(),
            resources: runner.resources.clone(),
            counted_at_start: names(runner, true),
            counted_at_answer: names(runner, false),
            validators: runner.validators.clone(),
            response_hook: runner.response_hook.clone(),
            adaptive: runner.adaptive.clone(),
            limiter,
            queue,
            interrupt: runner.interrupt.clone(),
        }
    }
}

/// The names of `runner`'s resources counted at the start (`at_start`), or of the others.
fn names<J, T, E>(runner: &Runner<'_, J, T, E>, at_start: bool) -> Vec<String> {
    runner
        .resources
        .iter()
        .filter(|resource| resource.counted_at_start == at_start)
        .map(|resource| resource.name.clone())
        .collect()
}

/// A worker: takes jobs, reserves their quota, waits until it allows the call, calls, and tells
/// the coordinator, until the queue stops or the coordinator is gone.
pub(super) fn work_loop<J, T, E>(
    worker: usize,
    work: &Work<'_, J, T, E>,
    events: &Sender<Event<T, E>>,
) {
    while let Some((index, job)) = work.queue.next_job() {
        // A slot of the adaptive concurrency limit, held for the call.
        let _slot = work.adaptive.as_deref().map(AdaptiveSemaphore::acquire);
        let Some(attempted) = reserve_and_attempt(worker, work, index, &job) else {
            work.queue.push_front(index, job); // the run stopped before its start
            continue;
        };
        if events.send(Event::Attempted(attempted)).is_err() {
            break;
        }
    }
    events.send(Event::WorkerExited).ok();
}

/// One attempt of job `index`: reserves its quota, waits until the quota allows the call, and
/// makes the [`attempt`]. `None` if the run stopped during the wait (the reservation cancelled).
fn reserve_and_attempt<J, T, E>(
    worker: usize,
    work: &Work<'_, J, T, E>,
    index: usize,
    job: &J,
) -> Option<Attempted<T, E>> {
    let costs = catch_unwind(AssertUnwindSafe(|| {
        work.resources
            .iter()
            .map(|resource| (resource.name.as_str(), resource.reserved(job)))
            .collect::<Vec<(&str, u64)>>()
    }));
    let asked = work.limiter.clock().now();
    let reserved = costs
        .map_err(|panic| AttemptError::Panicked(panic_message(panic.as_ref())))
        .and_then(|costs| {
            // Held from its grant until billed, whatever the call's duration (see `bill`).
            (work.limiter.reserve_in_flight(&costs)).map_err(AttemptError::Quota)
        });
    let permit = match reserved {
        Ok(permit) => permit,
        Err(err) => {
            work.queue.attempt_ended();
            let verdict = super::quota_verdict::quota_verdict(&err);
            return Some(Attempted {
                index,
                outcome: Outcome::new(Err(err), verdict),
                waited: None,
                ended: work.limiter.clock().now(),
            });
        }
    };
    // A permit that went at once waited for nothing: its plan need not be asked for.
    let went = permit.went();
    if !went {
        if let (Some(resource), Some(at)) = (permit.waited_for(), permit.ready_at()) {
            let wait = at.saturating_sub(asked).as_duration();
            event!(debug, "job {index}: waiting {wait:?} for {resource}");
        }
    }
    if !work.queue.wait_for_start(worker, &permit) {
        work.queue.attempt_ended();
        permit.cancel();
        return None;
    }
    let waited = if went { None } else { permit.waited_for() }.map(|resource| {
        let ready_at = permit.ready_at().unwrap_or(asked);
        (
            resource.to_owned(),
            ready_at.saturating_sub(asked).as_duration(),
        )
    });
    work.interrupt.call_in_flight(true);
    let outcome = attempt(work, job, &permit);
    let ended = work.limiter.clock().now();
    work.interrupt.call_in_flight(false);
    drop(permit);
    work.queue.attempt_ended();
    Some(Attempted {
        index,
        outcome,
        waited,
        ended,
    })
}

/// One attempt: the call, the response hook, the classifier, the billing and the validators,
/// any of which may panic: a panic fails the attempt with its message (billed its per-job usage
/// only).
fn attempt<J, T, E>(work: &Work<'_, J, T, E>, job: &J, permit: &Permit) -> Outcome<T, E> {
    let attempt = Attempt::new(permit, &work.counted_at_start, &work.counted_at_answer);
    // Resources counted at the start are billed now, when the call starts (until then, since
    // the grant, they were held in flight).
    attempt.sent();
    match catch_unwind(AssertUnwindSafe(|| call_and_bill(work, job, &attempt))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            // The per-job extractor itself may be what panicked: then the reservation stays.
            catch_unwind(AssertUnwindSafe(|| bill(work, job, &attempt, None))).ok();
            let message = panic_message(panic.as_ref());
            Outcome::new(Err(AttemptError::Panicked(message)), Verdict::Retry)
        }
    }
}

/// Calls, tells the response hook, classifies a failure and bills the usage: a call the server
/// refused (a requested wait) nothing, a call that failed otherwise its per-job usage (its
/// estimate comes back), one that returned its actual usage; usage counts from the instant the
/// call said it was answered, else from the instant it completed. Then applies the validators.
fn call_and_bill<J, T, E>(
    work: &Work<'_, J, T, E>,
    job: &J,
    attempt: &Attempt<'_>,
) -> Outcome<T, E> {
    let returned = (work.call)(job, attempt);
    if let Some(hook) = &work.response_hook {
        hook(returned.as_ref(), &work.limiter);
    }
    let result = match returned {
        Ok(result) => result,
        Err(err) => {
            let (verdict, classifier_panic) =
                match catch_unwind(AssertUnwindSafe(|| work.retry.verdict(&err))) {
                    Ok(verdict) => (verdict, None),
                    Err(panic) => (Verdict::Retry, Some(panic_message(panic.as_ref()))),
                };
            if let Verdict::RetryAfter(_) = verdict {
                refund(work, attempt.permit());
            } else {
                bill(work, job, attempt, None);
            }
            return Outcome {
                result: Err(AttemptError::Call(err)),
                verdict,
                classifier_panic,
            };
        }
    };
    bill(work, job, attempt, Some(&result));
    if work.validators.iter().all(|valid| valid(&result)) {
        Outcome::new(Ok(result), Verdict::Fail)
    } else {
        Outcome::new(Err(AttemptError::ValidationFailed), Verdict::Retry)
    }
}

/// Settles every resource whose usage the attempt's outcome decides (a resource counted at the
/// start keeps its charge from the start): counted from now, or, once the call said it was
/// [answered](Attempt::answered), from that instant (a bill above the reservation from now).
///
/// The attempt was reserved in flight ([`MultiLimiter::reserve_in_flight`]): until its answer
/// or this bill, its units are held as if charged at every instant, so a server stamping the
/// call at its arrival (between the grant and the answer) never sees more than the quota,
/// whatever the call's duration. A permit dropped unbilled (a panicking extractor) is billed at
/// its drop.
fn bill<J, T, E>(work: &Work<'_, J, T, E>, job: &J, attempt: &Attempt<'_>, result: Option<&T>) {
    let (permit, answered) = (attempt.permit(), attempt.was_answered());
    for resource in work
        .resources
        .iter()
        .filter(|resource| !resource.counted_at_start)
    {
        let billed = resource.billed(job, result);
        if !answered {
            permit.settle(&resource.name, billed).ok();
        } else if billed != permit.cost(&resource.name) {
            permit.settle_in_place(&resource.name, billed).ok();
        }
        // Else what was reserved is billed, and already counts from the answer: nothing to
        // change (on a store that cannot settle in place, a settle would count it from now).
    }
}

/// Gives back everything the attempt reserved: the server did not count the call.
fn refund<J, T, E>(work: &Work<'_, J, T, E>, permit: &Permit) {
    for resource in &work.resources {
        permit.settle(&resource.name, 0).ok();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::Runner;

    /// The calls in flight are counted while they run, and none once the run is over.
    #[test]
    fn calls_in_flight_are_counted_while_they_run() {
        let handle_slot = Arc::new(std::sync::Mutex::new(None::<crate::InterruptHandle>));
        let seen = Arc::new(AtomicUsize::new(0));
        let (slot, most) = (Arc::clone(&handle_slot), Arc::clone(&seen));
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let wait = Arc::clone(&barrier);
        let mut runner = Runner::new(move |_: &u32| {
            wait.wait(); // all three calls in flight together
            let in_flight = slot.lock().unwrap().as_ref().unwrap().calls_in_flight();
            most.fetch_max(in_flight, Ordering::SeqCst);
            Ok::<u32, String>(0)
        })
        .max_concurrent(3);
        *handle_slot.lock().unwrap() = Some(runner.interrupt_handle());
        runner.schedule_all(0..3).unwrap();
        runner.run();
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(runner.interrupt_handle().calls_in_flight(), 0);
    }

    /// Starts at a rate of 1/s, each call taking 900 ms (sequential, mock clock), of which the
    /// first `spawn_ms` pass before its real start: counted at the start, a start frees its
    /// place one period after it (after [`Attempt::sent`], when the call says so); counted at
    /// completion, one period after the call returned. Returns when each call was called.
    fn starts_of_long_calls(counted_at_start: bool, spawn_ms: Option<u64>) -> Vec<u64> {
        let (clock, time) = crate::Clock::mock();
        let starts = std::sync::Mutex::new(Vec::new());
        let quota = crate::Resource::new("starts", crate::Rate::per_second(1)).per_job(|_| 1);
        let quota = if counted_at_start {
            quota.counted_at_start()
        } else {
            quota
        };
        let mut runner = Runner::new_with_attempt(|_: &u32, attempt| {
            starts
                .lock()
                .unwrap()
                .push(time.now().as_duration().as_millis() as u64);
            if let Some(spawn_ms) = spawn_ms {
                time.advance(Duration::from_millis(spawn_ms));
                attempt.sent();
                time.advance(Duration::from_millis(900 - spawn_ms));
            } else {
                time.advance(Duration::from_millis(900));
            }
            Ok::<u32, String>(0)
        })
        .with_clock(clock.clone())
        .resource(quota)
        .max_concurrent(1);
        runner.schedule_all(0..3).unwrap();
        runner.run();
        drop(runner);
        starts.into_inner().unwrap()
    }

    #[test]
    fn a_resource_counted_at_the_start_frees_its_place_a_period_after_the_start() {
        assert_eq!(starts_of_long_calls(true, None), [0, 1_000, 2_000]);
        assert_eq!(starts_of_long_calls(false, None), [0, 1_900, 3_800]);
    }

    /// A start said to be late (a spawn that took 150 ms) is counted from when it was said:
    /// the next call comes a period after it, not a period after the grant.
    #[test]
    fn a_start_counts_from_when_the_call_says_it_was_sent() {
        assert_eq!(starts_of_long_calls(true, Some(150)), [0, 1_150, 2_300]);
        // Said twice, or said by a call whose resources count at completion: no change.
        assert_eq!(starts_of_long_calls(false, Some(150)), [0, 1_900, 3_800]);
    }
}
