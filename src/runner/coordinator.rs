//! The coordinator: the thread that calls `run()`. It hands jobs to the workers, records each
//! attempt's outcome (retries, pauses, the journal commit), hands finished jobs over, draws the
//! progress and makes the report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::job_sender::Feed;
use super::job_table::JobTable;
use super::progress::Progress;
use super::work_queue::WorkQueue;
use super::worker::{work_loop, Attempted, Event, Outcome, Work};
use super::{AttemptError, Finished, InterruptHandle, RunReport, Runner, RunnerError, Verdict};
use crate::{MultiLimiter, Nanos};

impl<'a, J, T, E> Runner<'a, J, T, E>
where
    J: Send + Sync,
    T: Send,
    E: Send,
{
    /// Runs every unfinished job and blocks until all have finished (succeeded, or failed every
    /// attempt the policy allows) or the run is interrupted. Returns the whole batch's results
    /// in schedule order. After a run that was not interrupted the schedule is empty.
    pub fn run(&mut self) -> RunReport<T, E>
    where
        T: Clone,
    {
        self.run_each(|_| {})
    }

    /// [`run`](Self::run), handing each job to `each` on the calling thread the moment it
    /// finishes (in completion order), so a result can be written out at once: a crash then
    /// loses only what was in flight. Interrupt and resume work as with `run`.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x * 10));
    /// runner.schedule_all(0..3)?;
    /// let mut seen = Vec::new();
    /// let report = runner.run_each(|done| seen.push((done.index, done.result.copied())));
    /// seen.sort();
    /// assert_eq!(seen, vec![(0, Some(0)), (1, Some(10)), (2, Some(20))]);
    /// assert_eq!(report.results.len(), 3);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn run_each(&mut self, mut each: impl FnMut(Finished<'_, J, T, E>)) -> RunReport<T, E>
    where
        T: Clone,
    {
        // On the runner's clock: a run on a mock clock reports the mock time it took.
        let started = self.clock.now();
        let feed = Arc::clone(&self.feed);
        let senders_open = {
            let mut sent = feed.lock();
            self.take_sent(&mut sent);
            sent.open()
        };
        // Finished before this run (in the journal, or in a run whose report was not taken).
        let finished_before: Vec<usize> = self
            .jobs
            .iter()
            .filter(|(_, record)| record.finished && !record.handed_over)
            .map(|(index, _)| index)
            .collect();
        for index in finished_before {
            self.hand_over(index, &mut each);
        }
        let pending: Vec<(usize, Arc<J>)> = self
            .jobs
            .iter()
            .filter(|(_, record)| !record.finished)
            .map(|(index, record)| (index, Arc::clone(&record.job)))
            .collect();
        if pending.is_empty() && !senders_open {
            self.interrupt.end_run(); // an interrupt issued before it is spent by this run
            return self.report(started, Tally::default());
        }
        let usable = self.limiter();
        #[cfg(feature = "journal")]
        let usable = usable.and_then(|limiter| self.check_job_set().map(|()| limiter));
        let tally = match usable {
            Err(err) => {
                for (index, _) in &pending {
                    self.fail(*index, &err);
                    self.hand_over(*index, &mut each);
                }
                self.interrupt.end_run();
                Tally::default()
            }
            Ok(limiter) => self.run_pending(pending, senders_open, limiter, &mut each),
        };
        self.report(started, tally)
    }

    /// A configuration that cannot work ends a pending job with that error: no silent no-op.
    fn fail(&mut self, index: usize, err: &RunnerError) {
        self.jobs[index].end_misconfigured(err.clone());
        self.unfinished -= 1;
    }

    /// Runs `pending` on worker threads until they finish or the run is interrupted. The workers
    /// are scoped threads: the call and the hooks may borrow what outlives the runner.
    fn run_pending(
        &mut self,
        pending: Vec<(usize, Arc<J>)>,
        senders_open: bool,
        limiter: MultiLimiter,
        each: &mut dyn FnMut(Finished<'_, J, T, E>),
    ) -> Tally {
        let workers = if senders_open {
            self.max_concurrent
        } else {
            self.max_concurrent.min(pending.len())
        };
        let queue = WorkQueue::new(self.clock.clone(), pending, workers, self.probe);
        let work = Work::new(self, limiter, queue);
        let (events, received) = crossbeam_channel::unbounded();
        // Wakes the coordinator when something outside the workers happened (an interrupt, a
        // job sent, a sender closed).
        let (nudge, nudged) = crossbeam_channel::bounded(1);
        let also = nudge.clone();
        self.interrupt.begin_run(move || {
            nudge.try_send(()).ok();
        });
        self.feed.begin_run(move || {
            also.try_send(()).ok();
        });
        if self.interrupt.count() > 0 {
            work.queue.stop(); // interrupted before it began: no call starts
        }
        let ending = RunEnd {
            queue: &work.queue,
            interrupt: self.interrupt.clone(),
            feed: Arc::clone(&self.feed),
        };
        std::thread::scope(|scope| {
            // Dropped as the scope's closure returns or unwinds (a panic in `each`, say): the
            // workers stop, so that the scope can join them.
            let _ending = ending;
            for worker in 0..workers {
                let (work, events) = (&work, events.clone());
                scope.spawn(move || work_loop(worker, work, &events));
            }
            drop(events);
            self.coordinate(&work, &received, &nudged, workers, each)
        })
    }

    /// Collects the workers' outcomes until every job is finished, or the run is interrupted
    /// and the calls in flight have returned.
    fn coordinate(
        &mut self,
        work: &Work<'_, J, T, E>,
        events: &Receiver<Event<T, E>>,
        nudged: &Receiver<()>,
        workers: usize,
        each: &mut dyn FnMut(Finished<'_, J, T, E>),
    ) -> Tally {
        let mut tally = Tally::default();
        let mut live = workers;
        let mut stopping = false;
        let progress = Progress::new(
            self.progress,
            self.jobs.len() as u64,
            self.finished() as u64,
        );
        loop {
            if !tally.interrupted && self.interrupt.count() > 0 {
                tally.interrupted = true;
                work.queue.stop();
                stopping = true;
            }
            let senders_open = !stopping && self.queue_sent(work, each);
            if !stopping && !senders_open && self.finished() == self.jobs.len() {
                work.queue.stop();
                stopping = true;
            }
            if stopping && live == 0 {
                break;
            }
            crossbeam_channel::select! {
                recv(events) -> event => {
                    let Ok(event) = event else { break };
                    // Take what else arrived meanwhile too, and record it in one commit.
                    let mut finished = Vec::new();
                    for event in std::iter::once(event).chain(events.try_iter().take(MAX_BATCH)) {
                        match event {
                            Event::Attempted(attempted) => {
                                let index = attempted.index;
                                if self.take_attempt(work, attempted, &mut tally) {
                                    finished.push(index);
                                }
                            }
                            Event::WorkerExited => live -= 1,
                        }
                    }
                    // With a journal, only what it recorded is handed over.
                    #[cfg(feature = "journal")]
                    let finished = {
                        let (recorded, failure) = self.commit(finished);
                        if let Some(err) = failure {
                            event!(error, "{err}; stopping the run");
                            tally.journal_failure.get_or_insert(err);
                            tally.interrupted = true;
                            work.queue.stop();
                            stopping = true;
                        }
                        recorded
                    };
                    for index in finished {
                        self.hand_over(index, each);
                    }
                    progress.set_counts(self.finished() as u64, self.jobs.len() as u64);
                }
                recv(nudged) -> _ => {}
                default(Duration::from_millis(100)) => {
                    // Workers beyond the jobs left have no job to wait with.
                    progress.held_back(
                        work.queue.all_waiting(live.min(self.pending())),
                        self.interrupt.calls_in_flight(),
                        live,
                    )
                }
            }
        }
        progress.finish();
        tally
    }

    /// Queues the jobs sent by [`JobSender`](crate::JobSender)s since the last look (a job that
    /// finished at once, resumed from the journal or refused, is handed over); whether a sender
    /// is still open.
    fn queue_sent(
        &mut self,
        work: &Work<'_, J, T, E>,
        each: &mut dyn FnMut(Finished<'_, J, T, E>),
    ) -> bool {
        let feed = Arc::clone(&self.feed);
        let (senders_open, taken) = {
            let mut sent = feed.lock();
            (sent.open(), self.take_sent(&mut sent))
        };
        for index in taken {
            if self.jobs[index].finished {
                self.hand_over(index, each); // resumed, or refused at once
            } else {
                let job = Arc::clone(&self.jobs[index].job);
                work.queue.push_back(index, job, Nanos::ZERO);
            }
        }
        senders_open
    }

    /// Counts one attempt and records its outcome; whether the job finished.
    fn take_attempt(
        &mut self,
        work: &Work<'_, J, T, E>,
        attempted: Attempted<T, E>,
        tally: &mut Tally,
    ) -> bool {
        tally.attempts += 1;
        if let Some((resource, wait)) = attempted.waited {
            *tally.waited.entry(resource).or_default() += wait;
        }
        if self.jobs[attempted.index].attempts > 0 {
            tally.retries += 1;
        }
        if let Verdict::RetryAfter(_) = attempted.outcome.verdict {
            tally.rate_limited += 1;
        }
        self.record(
            work,
            attempted.index,
            attempted.outcome,
            attempted.ended,
            tally,
        )
    }

    /// Records one attempt's outcome, which ended at `now`, and decides what comes next for the
    /// job (a wait counts from the attempt's end, however late the coordinator reads it).
    fn record(
        &mut self,
        work: &Work<'_, J, T, E>,
        index: usize,
        outcome: Outcome<T, E>,
        now: Nanos,
        tally: &mut Tally,
    ) -> bool {
        let record = &mut self.jobs[index];
        record.attempts += 1;
        let verdict = outcome.verdict;
        if let Some(message) = outcome.classifier_panic {
            record
                .errors
                .push(Arc::new(AttemptError::Panicked(message)));
        }
        let finished = match outcome.result {
            Ok(result) => {
                record.result = Some(result);
                true
            }
            Err(err) => {
                record.errors.push(Arc::new(err));
                let may_retry = record.attempts <= self.retry.max_retries;
                match verdict {
                    Verdict::RetryAfter(wait)
                        if wait > self.retry.max_retry_after
                            || now.saturating_add(Nanos::from(wait)) == Nanos::MAX =>
                    {
                        let too_long = AttemptError::RetryAfterTooLong {
                            requested: wait,
                            cap: self.retry.max_retry_after,
                        };
                        record.errors.push(Arc::new(too_long));
                        true
                    }
                    Verdict::RetryAfter(wait) if may_retry => {
                        if let Some(adaptive) = &work.adaptive {
                            adaptive.backpressure(wait);
                        }
                        // Every call waits what the server asked plus a jitter (one pause);
                        // each refused call is retried after a jitter of its own past that
                        // pause, so calls refused together spread out. No wait passes the cap.
                        let paused = now.saturating_add(Nanos::from(self.retry.jittered(wait)));
                        tally.pause_until(now, paused);
                        event!(
                            info,
                            "job {index}: the server asked for {wait:?}; pausing new calls"
                        );
                        work.limiter.pause_until(paused);
                        let cap = self.retry.max_retry_after.max(wait);
                        let retry_at = tally
                            .paused_until
                            .saturating_add(Nanos::from(self.retry.jittered(Duration::ZERO)))
                            .min(now.saturating_add(Nanos::from(cap)))
                            .max(paused);
                        work.queue
                            .push_back(index, Arc::clone(&record.job), retry_at);
                        false
                    }
                    Verdict::Retry if may_retry => {
                        let backoff = Nanos::from(self.retry.backoff(record.attempts));
                        event!(
                            debug,
                            "job {index}: attempt {} failed; retrying in {:?}",
                            record.attempts,
                            backoff.as_duration()
                        );
                        work.queue.push_back(
                            index,
                            Arc::clone(&record.job),
                            now.saturating_add(backoff),
                        );
                        false
                    }
                    _ => true,
                }
            }
        };
        if finished {
            record.finished = true;
            self.unfinished -= 1;
        }
        finished
    }

    /// Hands job `index`, finished, to `each`; in streaming mode, then forgets it.
    fn hand_over(&mut self, index: usize, each: &mut dyn FnMut(Finished<'_, J, T, E>)) {
        let record = &mut self.jobs[index];
        record.handed_over = true;
        each(Finished {
            index,
            job: &record.job,
            result: record.result.as_ref(),
            errors: &record.errors,
            attempts: record.attempts,
            resumed: record.resumed,
        });
        if self.streaming {
            let record = &self.jobs[index];
            self.resumed_forgotten += usize::from(record.resumed);
            #[cfg(feature = "journal")]
            if let (Some(journal), Some(key)) = (&mut self.journal, &record.journal_key) {
                journal.release(key);
            }
            self.jobs.forget(index);
            self.feed.window_moved(self.jobs.first());
        }
    }

    /// How many job records the runner holds now (in streaming mode, at most the window's
    /// worth; otherwise every job of the batch).
    #[cfg(test)]
    pub(super) fn records_held(&self) -> usize {
        self.jobs.held()
    }

    fn finished(&self) -> usize {
        self.jobs.len() - self.pending()
    }

    fn report(&mut self, started: Nanos, tally: Tally) -> RunReport<T, E>
    where
        T: Clone,
    {
        let resumed = self.resumed_forgotten
            + self
                .jobs
                .iter()
                .filter(|(_, record)| record.resumed)
                .count();
        let feed = Arc::clone(&self.feed);
        let mut sent = feed.lock();
        let complete = self.pending() == 0 && !sent.holds_jobs() && !sent.open();
        let (results, errors) = if self.streaming {
            // Every finished job was handed over (and forgotten).
            (Vec::new(), Vec::new())
        } else if complete {
            // Hand everything over.
            std::mem::take(&mut self.jobs)
                .into_iter()
                .map(|record| (record.result, record.errors))
                .unzip()
        } else {
            self.jobs
                .iter()
                .map(|(_, record)| (record.result.clone(), record.errors.clone()))
                .unzip()
        };
        if complete {
            // No job to come either: the schedule is emptied, the next jobs make a new batch.
            sent.new_batch();
            self.jobs = JobTable::default();
            self.resumed_forgotten = 0;
            #[cfg(feature = "journal")]
            if let Some(journal) = &mut self.journal {
                journal.new_batch();
            }
        }
        RunReport {
            results,
            errors,
            attempts: tally.attempts,
            retries: tally.retries,
            elapsed: self.clock.now().saturating_sub(started).as_duration(),
            waited: tally.waited,
            paused: tally.paused,
            rate_limited: tally.rate_limited,
            interrupted: tally.interrupted,
            resumed,
            #[cfg(feature = "journal")]
            journal_failure: tally.journal_failure,
        }
    }
}

/// Ends a run, however its coordinator leaves: the workers take no new job and give up their
/// waits, and interrupts and sent jobs no longer wake it.
struct RunEnd<'w, J> {
    queue: &'w WorkQueue<J>,
    interrupt: InterruptHandle,
    feed: Arc<Feed<J>>,
}

impl<J> Drop for RunEnd<'_, J> {
    fn drop(&mut self) {
        self.queue.stop();
        self.interrupt.end_run();
        self.feed.end_run();
    }
}

/// The most outcomes taken from the workers before they are recorded (and, with a journal,
/// committed) together.
const MAX_BATCH: usize = 1024;

/// Counts kept by `run()`.
#[derive(Default)]
struct Tally {
    attempts: u64,
    retries: u64,
    rate_limited: u64,
    waited: BTreeMap<String, Duration>,
    paused: Duration,
    paused_until: Nanos,
    interrupted: bool,
    #[cfg(feature = "journal")]
    journal_failure: Option<crate::JournalError>,
}

impl Tally {
    /// Counts the time a pause from `now` to `until` adds to the pauses already counted.
    fn pause_until(&mut self, now: Nanos, until: Nanos) {
        let from = now.max(self.paused_until);
        self.paused += until.saturating_sub(from).as_duration();
        self.paused_until = self.paused_until.max(until);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::Runner;
    use crate::{AttemptError, RunnerError};

    /// A streaming runner holds at most its window of job records, however many jobs pass,
    /// including while an early job is slow (the others finish and wait behind it): the records
    /// held lie between the oldest job not handed over and the newest sent, and a sender never
    /// gets further ahead than the window.
    #[test]
    fn a_streaming_runner_holds_at_most_its_window() {
        const WINDOW: usize = 16;
        const JOBS: usize = 20_000;
        // The lowest index not handed over yet.
        let oldest = Arc::new(AtomicUsize::new(0));
        let mut runner = Runner::new(|x: &usize| {
            if *x == 3 {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok::<usize, String>(*x)
        })
        .max_concurrent(4)
        .streaming(WINDOW);
        let sender = runner.job_sender();
        let seen = Arc::clone(&oldest);
        let producer = std::thread::spawn(move || {
            let mut widest = 0;
            for x in 0..JOBS {
                assert_eq!(sender.schedule(x), x); // indices stay global
                let span = x + 1 - seen.load(Ordering::SeqCst);
                assert!(
                    span <= WINDOW,
                    "job {x} sent {span} places past the oldest held"
                );
                widest = widest.max(span);
            }
            widest
        });
        let mut handed_over = vec![false; JOBS];
        let report = runner.run_each(|done| {
            assert!(
                !handed_over[done.index],
                "job {} handed over twice",
                done.index
            );
            handed_over[done.index] = true;
            assert_eq!(done.result.copied(), Some(done.index));
            let mut lowest = oldest.load(Ordering::SeqCst);
            while lowest < JOBS && handed_over[lowest] {
                lowest += 1;
            }
            oldest.store(lowest, Ordering::SeqCst);
        });
        let widest = producer.join().unwrap();
        assert_eq!(
            widest, WINDOW,
            "the producer was held back at the window, not before"
        );
        assert!(handed_over.iter().all(|done| *done));
        assert!(report.results.is_empty() && report.errors.is_empty());
        assert_eq!(runner.records_held(), 0);
    }

    /// Without streaming, every record is kept for the report (as before).
    #[test]
    fn a_batch_runner_keeps_every_record_until_the_report() {
        let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x));
        runner.schedule_all(0..100).unwrap();
        let mut held_while_running = 0;
        let report = runner.run_each(|_| held_while_running += 1);
        assert_eq!((held_while_running, report.results.len()), (100, 100));
    }

    /// A run's elapsed time is read on the runner's clock (it was wall time even on a mock).
    #[test]
    fn elapsed_is_measured_on_the_runners_clock() {
        let (clock, time) = crate::Clock::mock();
        let mut runner = Runner::new(|_: &u32| {
            time.advance(Duration::from_secs(5));
            Ok::<(), String>(())
        })
        .with_clock(clock.clone());
        runner.schedule(0).unwrap();
        assert_eq!(runner.run().elapsed, Duration::from_secs(5));
    }

    /// However a run ends without calling (nothing to do, a configuration that cannot work),
    /// its elapsed time is read on the runner's clock too: no mock time passed, none reported
    /// (the real clock would report the nanoseconds the run took).
    #[test]
    fn elapsed_is_on_the_runners_clock_when_a_run_calls_nothing() {
        let (clock, _time) = crate::Clock::mock();
        let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x)).with_clock(clock);
        assert_eq!(runner.run().elapsed, Duration::ZERO, "nothing scheduled");
        runner.schedule(1).unwrap();
        let mut runner = runner.max_concurrent(0);
        let report = runner.run();
        assert!(matches!(
            *report.errors[0][0],
            AttemptError::Misconfigured(RunnerError::ZeroConcurrency)
        ));
        assert_eq!(report.elapsed, Duration::ZERO, "misconfigured");
    }
}
