use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::job_sender::{Feed, FeedState};
use super::job_table::JobTable;
#[cfg(feature = "journal")]
use super::journal::Journal;
use super::progress::Progress;
use super::work_queue::WorkQueue;
use super::{
    Attempt, AttemptError, Finished, InterruptHandle, JobSender, Resource, Retry, RunReport,
    RunnerError, Verdict,
};
use crate::{AdaptiveSemaphore, Clock, Limits, MultiLimiter, Nanos, Permit};

type Call<'a, J, T, E> = Arc<dyn Fn(&J, &Attempt<'_>) -> Result<T, E> + Send + Sync + 'a>;
type Validator<'a, T> = Arc<dyn Fn(&T) -> bool + Send + Sync + 'a>;
type ResponseHook<'a, T, E> = Arc<dyn Fn(Result<&T, &E>, &MultiLimiter) + Send + Sync + 'a>;

/// Runs many calls of one function on a thread pool, as fast as the quotas allow and never
/// faster, and returns every result in schedule order.
///
/// - Quotas are [`Resource`]s, enforced together by one [`MultiLimiter`] (all or none), kept
///   across runs so usage history carries over. A worker waiting for quota sleeps until its
///   instant; it never polls.
/// - Failed attempts (errors, panics, results rejected by a [`validate`](Self::validate)r) are
///   retried per the [`Retry`] policy; a server-requested wait ([`Verdict::RetryAfter`]) pauses
///   every new call start for that long.
/// - [`run`](Self::run) blocks; an [`InterruptHandle`] stops it early with what finished, and the
///   next `run` runs only the unfinished jobs and returns the whole batch.
///
/// Defaults: [`DEFAULT_MAX_CONCURRENT`](Self::DEFAULT_MAX_CONCURRENT) (16) calls at once,
/// [`Retry::default`] (5 retries), no progress bar.
///
/// ```
/// use tollgate::{Rate, Resource, Runner};
///
/// let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * x))
///     .resource(Resource::new("requests", Rate::per_second(1_000)).per_job(|_| 1))
///     .max_concurrent(4);
/// for x in 0..10 {
///     runner.schedule(x)?;
/// }
/// let (results, errors) = runner.run().into_parts();
/// assert_eq!(results[3], Some(9));
/// assert!(errors.iter().all(Vec::is_empty));
/// # Ok::<(), tollgate::RunnerError>(())
/// ```
pub struct Runner<'a, J, T, E> {
    call: Call<'a, J, T, E>,
    resources: Vec<Arc<Resource<J, T>>>,
    validators: Vec<Validator<'a, T>>,
    response_hook: Option<ResponseHook<'a, T, E>>,
    adaptive: Option<Arc<AdaptiveSemaphore>>,
    #[cfg(feature = "redis")]
    pub(super) shared: Option<crate::redis::RedisState>,
    retry: Retry<E>,
    max_concurrent: usize,
    progress: bool,
    probe: bool,
    clock: Clock,
    limiter: Option<MultiLimiter>,
    pub(super) jobs: JobTable<JobRecord<J, T, E>>,
    /// Jobs of `jobs` not finished.
    pub(super) unfinished: usize,
    /// Streaming mode: jobs are forgotten once handed over.
    streaming: bool,
    /// Jobs taken from the journal and forgotten (streaming mode) in this batch.
    resumed_forgotten: usize,
    interrupt: InterruptHandle,
    /// Jobs sent by [`JobSender`]s.
    feed: Arc<Feed<J>>,
    #[cfg(feature = "journal")]
    pub(super) journal: Option<Journal<J, T, E>>,
}

pub(super) struct JobRecord<J, T, E> {
    pub(super) job: Arc<J>,
    pub(super) result: Option<T>,
    pub(super) errors: Vec<Arc<AttemptError<E>>>,
    pub(super) attempts: u32,
    pub(super) finished: bool,
    /// Handed over as finished (by `run_each`), in this process.
    handed_over: bool,
    /// Its result was taken from the journal.
    pub(super) resumed: bool,
    /// The key given to it (`schedule_keyed`).
    #[cfg(feature = "journal")]
    pub(super) key: Option<String>,
    /// Its key in the journal: the one given, or its hash.
    #[cfg(feature = "journal")]
    pub(super) journal_key: Option<String>,
}

impl<J, T, E> JobRecord<J, T, E> {
    pub(super) fn new(job: J) -> JobRecord<J, T, E> {
        JobRecord {
            job: Arc::new(job),
            result: None,
            errors: Vec::new(),
            attempts: 0,
            finished: false,
            handed_over: false,
            resumed: false,
            #[cfg(feature = "journal")]
            key: None,
            #[cfg(feature = "journal")]
            journal_key: None,
        }
    }
}

/// What a worker tells the coordinating `run()`.
enum Event<T, E> {
    Attempted {
        index: usize,
        outcome: Outcome<T, E>,
        waited: Option<(String, Duration)>,
        /// When the attempt ended, on the runner's clock: waits it leads to count from then.
        ended: Nanos,
    },
    WorkerExited,
}

/// One attempt as a worker reports it. A failure is classified on the worker, so that a call
/// the server refused (a requested wait: it did not count the call) is refunded at once.
struct Outcome<T, E> {
    result: Result<T, AttemptError<E>>,
    verdict: Verdict,
    /// The classifier panicked, with this message (the verdict is then a plain retry).
    classifier_panic: Option<String>,
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
struct Work<'a, J, T, E> {
    call: Call<'a, J, T, E>,
    retry: Retry<E>,
    resources: Vec<Arc<Resource<J, T>>>,
    /// The names of the resources counted at the start, which [`Attempt::sent`] re-stamps.
    counted_at_start: Vec<String>,
    validators: Vec<Validator<'a, T>>,
    response_hook: Option<ResponseHook<'a, T, E>>,
    adaptive: Option<Arc<AdaptiveSemaphore>>,
    limiter: MultiLimiter,
    queue: WorkQueue<J>,
    /// Counts the calls in flight.
    interrupt: InterruptHandle,
}

impl<'a, J, T, E> Runner<'a, J, T, E>
where
    J: Send + Sync,
    T: Send,
    E: Send,
{
    /// How many calls run at once unless [`max_concurrent`](Self::max_concurrent) says otherwise.
    pub const DEFAULT_MAX_CONCURRENT: usize = 16;

    /// A runner calling `call` for each job.
    pub fn new(call: impl Fn(&J) -> Result<T, E> + Send + Sync + 'a) -> Self {
        Runner::new_with_attempt(move |job, _| call(job))
    }

    /// A runner calling `call` for each job, with the [`Attempt`] in progress: a call that
    /// starts its real work some time after it is called tells the Runner when
    /// ([`Attempt::sent`]), so that resources [counted at the
    /// start](Resource::counted_at_start) count from then.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new_with_attempt(|x: &u32, attempt| {
    ///     attempt.sent(); // the request left
    ///     Ok::<u32, String>(x * 2)
    /// });
    /// runner.schedule(21)?;
    /// assert_eq!(runner.run().results, vec![Some(42)]);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn new_with_attempt(
        call: impl Fn(&J, &Attempt<'_>) -> Result<T, E> + Send + Sync + 'a,
    ) -> Self {
        Runner {
            call: Arc::new(call),
            resources: Vec::new(),
            validators: Vec::new(),
            response_hook: None,
            adaptive: None,
            #[cfg(feature = "redis")]
            shared: None,
            retry: Retry::default(),
            max_concurrent: Self::DEFAULT_MAX_CONCURRENT,
            progress: false,
            probe: false,
            clock: Clock::new(),
            limiter: None,
            jobs: JobTable::default(),
            unfinished: 0,
            streaming: false,
            resumed_forgotten: 0,
            interrupt: InterruptHandle::default(),
            feed: Arc::new(Feed::new()),
            #[cfg(feature = "journal")]
            journal: None,
        }
    }

    /// Adds a quota (resets the usage history).
    pub fn resource(mut self, resource: Resource<J, T>) -> Self {
        self.resources.push(Arc::new(resource));
        self.limiter = None;
        self
    }

    /// Adds several quotas at once, e.g. a provider profile's
    /// ([`OpenAiChat::resources`](crate::presets::OpenAiChat::resources)); as [`resource`](Self::resource)
    /// for each.
    ///
    /// ```
    /// use tollgate::{Rate, Resource, Runner, REQUESTS, TOKENS};
    ///
    /// let quotas = [
    ///     Resource::new(REQUESTS, Rate::per_minute(500)).per_job(|_| 1),
    ///     Resource::new(TOKENS, Rate::per_minute(30_000)).per_job(|prompt: &String| prompt.len() as u64),
    /// ];
    /// let runner = Runner::new(|prompt: &String| Ok::<usize, String>(prompt.len())).resources(quotas);
    /// # let _ = runner;
    /// ```
    pub fn resources(self, resources: impl IntoIterator<Item = Resource<J, T>>) -> Self {
        resources.into_iter().fold(self, Runner::resource)
    }

    /// How many calls may run at once (the number of worker threads); 0 is refused by
    /// [`schedule`](Self::schedule) and [`check`](Self::check).
    pub fn max_concurrent(mut self, calls: usize) -> Self {
        self.max_concurrent = calls;
        self
    }

    /// The retry policy. Its [`max_retry_after`](Retry::max_retry_after) also caps how long
    /// a call waits for a server's hold on a resource (fed back through the response hook): a
    /// longer hold fails the job with [`LimitError::HeldTooLong`](crate::LimitError::HeldTooLong).
    pub fn retry(mut self, retry: Retry<E>) -> Self {
        self.retry = retry;
        self.limiter = None;
        self
    }

    /// Accept a result only if `valid(result)`; validators are applied in the order given. A
    /// rejected result is a [`AttemptError::ValidationFailed`] attempt (retried; its usage is
    /// still billed).
    pub fn validate(mut self, valid: impl Fn(&T) -> bool + Send + Sync + 'a) -> Self {
        self.validators.push(Arc::new(valid));
        self
    }

    /// Calls `hook(outcome, limiter)` after every call, with the call's result or error and
    /// the runner's quota limiter: the place to feed what the server says back into the
    /// quotas (for example [`RateLimitHeaders::apply_to`](crate::presets::RateLimitHeaders::apply_to),
    /// which calls the limiter's `observe` and lowers a rate to the server's limit). The hook
    /// may panic: the attempt then fails with the panic's message.
    ///
    /// A refusal's headers matter most, so the call must return them in its error too. With
    /// ureq 3 that means asking for the response of a 429 instead of an error:
    /// `.config().http_status_as_error(false).build()` on the request (ureq's default turns
    /// every 4xx and 5xx into `Err(ureq::Error::StatusCode(_))`, dropping the headers). The
    /// worked example is `examples/ureq_on_response.rs`
    /// (`cargo run --features http --example ureq_on_response`); in short (feature `http`, for
    /// [`Signal::classify_http`](crate::presets::Signal::classify_http)), against the loopback
    /// mock provider with a quota of 2 requests per 200 ms, given to the Runner 10 times too
    /// high:
    ///
    /// ```
    /// # #[cfg(feature = "http")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tollgate::presets::{RateLimitHeaders, Signal};
    /// use tollgate::{Rate, Resource, Retry, Runner};
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let window = Duration::from_millis(200);
    /// let mock = MockProvider::start(MockConfig::new().requests_per_window(2).window(window))?;
    /// let (url, agent) = (mock.chat_completions_url(), ureq::Agent::new_with_defaults());
    /// let call = move |prompt: &String| {
    ///     let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{prompt}"}}]}}"#);
    ///     let mut response = agent
    ///         .post(&url)
    ///         .config().http_status_as_error(false).build() // keep a 429 and its headers
    ///         .send(body.as_str())
    ///         .map_err(|_| (Signal::Transient, RateLimitHeaders::default()))?;
    ///     let text = response.body_mut().read_to_string().unwrap_or_default();
    ///     match Signal::classify_http(response.status(), response.headers(), &text) {
    ///         (None, headers) => Ok(headers),
    ///         (Some(signal), headers) => Err((signal, headers)),
    ///     }
    /// };
    /// let mut runner = Runner::new(call)
    ///     .resource(Resource::new("requests", Rate::new(20, window)).per_job(|_| 1))
    ///     .on_response(|outcome, limiter| {
    ///         let headers = outcome.map_or_else(|(_, headers)| headers, |headers| headers);
    ///         headers.apply_to(limiter).ok(); // "requests" headers -> the "requests" resource
    ///     })
    ///     .retry(Retry::exponential(8).classify(|(signal, _): &(Signal, _)| signal.verdict()))
    ///     .probe_first(); // one call alone first: its headers teach the quota (2 per 200 ms)
    /// runner.schedule_all((0..6).map(|n| format!("question {n}")))?;
    /// assert!(runner.run().results.iter().all(Option::is_some));
    /// assert_eq!(mock.stats().accepted, 6);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "http"))]
    /// # fn main() {}
    /// ```
    pub fn on_response(
        mut self,
        hook: impl Fn(Result<&T, &E>, &MultiLimiter) + Send + Sync + 'a,
    ) -> Self {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Also limits concurrency by `semaphore`, an adaptive limit that grows with time; every
    /// server-requested wait ([`Verdict::RetryAfter`]) is a backpressure signal to it.
    pub fn adaptive(mut self, semaphore: Arc<AdaptiveSemaphore>) -> Self {
        self.adaptive = Some(semaphore);
        self
    }

    /// Show a progress bar on stderr while running (drawn only on a terminal).
    ///
    /// The bar is drawn by the **`progress` cargo feature** (indicatif). Without the feature
    /// the method is still there, so one program builds with and without it, but it draws
    /// nothing: enable the feature (`tollgate = { version = "…", features = ["progress"] }`)
    /// to see the bar.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x * 2)).progress(true);
    /// runner.schedule(21)?;
    /// assert_eq!(runner.run().into_parts().0, vec![Some(42)]);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Sends the first call alone and starts the others once its response has reached the
    /// [response hook](Self::on_response): the quotas the server reports (its limit headers,
    /// taken in by [`RateLimitHeaders::apply_to`](crate::presets::RateLimitHeaders::apply_to))
    /// are learnt before a burst goes out, so a quota configured too high costs no wave of 429s.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(*x)).probe_first();
    /// runner.schedule_all(0..4)?;
    /// assert_eq!(runner.run().results.len(), 4);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn probe_first(mut self) -> Self {
        self.probe = true;
        self
    }

    /// Streaming mode, for a stream of jobs of any length: each job is forgotten once
    /// [`run_each`](Self::run_each) has handed it over, and a [`JobSender`] blocks while the job
    /// it sends would be `window` places or more past the oldest job not yet handed over. The
    /// runner then holds at most `window` jobs (sent, queued, in flight, or finished and waiting
    /// for an earlier one's turn in a consumer's ordered output), whatever the stream's length;
    /// indices stay those of the whole stream. A `window` of 0 counts as 1.
    ///
    /// Results are taken as they come, through `run_each`: the [`RunReport`]'s `results` and
    /// `errors` are empty. Jobs scheduled with [`schedule`](Self::schedule) on the runner's own
    /// thread are never held back (it cannot block itself), only forgotten. With a
    /// [journal](Self::journal), give each job its key
    /// ([`JobSender::schedule_keyed`]): duplicate keys are then checked among the jobs held, and
    /// jobs without one cost a counter per distinct job for the batch.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * 2)).streaming(8);
    /// let sender = runner.job_sender();
    /// let producer = std::thread::spawn(move || {
    ///     for x in 0..1_000 {
    ///         sender.schedule(x); // waits while 8 jobs are held
    ///     }
    /// });
    /// let mut sum = 0;
    /// let report = runner.run_each(|done| sum += done.result.copied().unwrap_or(0));
    /// producer.join().unwrap();
    /// assert_eq!(sum, 999 * 1_000);
    /// assert!(report.results.is_empty()); // handed over one by one instead
    /// ```
    pub fn streaming(mut self, window: usize) -> Self {
        self.streaming = true;
        self.feed.set_window(Some(window.max(1)));
        self
    }

    /// The clock quotas and waits read (a mock clock in tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self.limiter = None;
        self
    }

    /// The handle that interrupts this runner's runs.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.interrupt.clone()
    }

    /// Checks the configuration: concurrency, every quota and, with a
    /// [journal](Self::journal), that it was written for the jobs scheduled (what `run` would
    /// otherwise fail every job with).
    ///
    /// # Errors
    /// [`RunnerError::ZeroConcurrency`], [`RunnerError::DuplicateResource`], [`RunnerError::UnusedResource`],
    /// [`RunnerError::InvalidLimits`]; with a journal, [`JournalError::OtherJobSet`](crate::JournalError::OtherJobSet)
    /// in `RunnerError::Journal`.
    pub fn check(&mut self) -> Result<(), RunnerError> {
        self.limiter()?;
        #[cfg(feature = "journal")]
        self.check_job_set()?;
        Ok(())
    }

    /// Adds `job` to the batch and returns its index. Fails at once when the job costs more
    /// than a resource's whole quota (exactly the quota is fine), or the configuration is
    /// invalid. (A cost extractor that panics here is not an error yet: each attempt of the job
    /// fails with the panic's message.)
    ///
    /// # Errors
    /// [`RunnerError::ExceedsQuota`], [`RunnerError::ZeroConcurrency`],
    /// [`RunnerError::DuplicateResource`], [`RunnerError::UnusedResource`],
    /// [`RunnerError::InvalidLimits`].
    pub fn schedule(&mut self, job: J) -> Result<usize, RunnerError> {
        self.schedule_record(JobRecord::new(job))
    }

    /// Schedules `record` after the jobs sent before it.
    pub(super) fn schedule_record(
        &mut self,
        record: JobRecord<J, T, E>,
    ) -> Result<usize, RunnerError> {
        let feed = Arc::clone(&self.feed);
        let mut sent = feed.lock();
        self.take_sent(&mut sent);
        let scheduled = self.admit(record).map_err(|(err, _)| err);
        sent.next_index = self.jobs.len();
        scheduled
    }

    /// Schedules the jobs sent through [`JobSender`]s, in order; one that cannot be scheduled
    /// finishes at once with the error. Returns their indices.
    fn take_sent(&mut self, sent: &mut FeedState<J>) -> std::ops::Range<usize> {
        let first = self.jobs.len();
        for (key, job) in sent.take_sent() {
            #[allow(unused_mut)]
            let mut record = JobRecord::new(job);
            #[cfg(feature = "journal")]
            {
                record.key = key;
            }
            #[cfg(not(feature = "journal"))]
            let _ = key;
            if let Err((err, mut record)) = self.admit(record) {
                record
                    .errors
                    .push(Arc::new(AttemptError::Misconfigured(err)));
                record.finished = true;
                self.jobs.push(record);
            }
        }
        first..self.jobs.len()
    }

    /// Adds `record` after checking it can run and, with a journal, looking it up there.
    #[allow(clippy::result_large_err)]
    fn admit(
        &mut self,
        record: JobRecord<J, T, E>,
    ) -> Result<usize, (RunnerError, JobRecord<J, T, E>)> {
        if let Err(err) = self.limiter() {
            return Err((err, record));
        }
        for resource in &self.resources {
            // A cost extractor that panics is not checked here: the attempt fails with the panic.
            let Ok(cost) = catch_unwind(AssertUnwindSafe(|| resource.reserved(&record.job))) else {
                continue;
            };
            let quota = resource.rate().capacity().min(resource.rate().quantity());
            if cost > quota {
                let err = RunnerError::ExceedsQuota {
                    resource: resource.name.clone(),
                    cost,
                    quota,
                };
                return Err((err, record));
            }
        }
        #[cfg(feature = "journal")]
        let record = {
            let mut record = record;
            if let Err(err) = self.look_up(self.jobs.len(), &mut record) {
                return Err((err.into(), record));
            }
            record
        };
        if !record.finished {
            self.unfinished += 1;
        }
        self.jobs.push(record);
        Ok(self.jobs.len() - 1)
    }

    /// A sender that schedules jobs into this runner from other threads, during a run; `run()`
    /// then returns only once every sender is closed (see [`JobSender`]).
    pub fn job_sender(&self) -> JobSender<J> {
        JobSender::new(&self.feed)
    }

    /// Schedules every job of `jobs`, in order, and returns the range of their indices. Stops
    /// at the first job that cannot be scheduled (the ones before it stay scheduled).
    ///
    /// # Errors
    /// As [`schedule`](Self::schedule).
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x + 1));
    /// assert_eq!(runner.schedule_all(0..3)?, 0..3);
    /// assert_eq!(runner.run().results, vec![Some(1), Some(2), Some(3)]);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn schedule_all(
        &mut self,
        jobs: impl IntoIterator<Item = J>,
    ) -> Result<std::ops::Range<usize>, RunnerError> {
        let first = self.jobs.len();
        for job in jobs {
            self.schedule(job)?;
        }
        Ok(first..self.jobs.len())
    }

    /// Jobs scheduled and not finished.
    pub fn pending(&self) -> usize {
        self.unfinished
    }

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
        let record = &mut self.jobs[index];
        record
            .errors
            .push(Arc::new(AttemptError::Misconfigured(err.clone())));
        record.finished = true;
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
        let work = Work {
            call: Arc::clone(&self.call),
            retry: self.retry.clone(),
            resources: self.resources.clone(),
            counted_at_start: self
                .resources
                .iter()
                .filter(|resource| resource.counted_at_start)
                .map(|resource| resource.name.clone())
                .collect(),
            validators: self.validators.clone(),
            response_hook: self.response_hook.clone(),
            adaptive: self.adaptive.clone(),
            limiter,
            queue: WorkQueue::new(self.clock.clone(), pending, workers, self.probe),
            interrupt: self.interrupt.clone(),
        };
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
            let mut senders_open = false;
            if !stopping {
                let taken = {
                    let feed = Arc::clone(&self.feed);
                    let mut sent = feed.lock();
                    senders_open = sent.open();
                    self.take_sent(&mut sent)
                };
                for index in taken {
                    if self.jobs[index].finished {
                        self.hand_over(index, each); // resumed, or refused at once
                    } else {
                        let job = Arc::clone(&self.jobs[index].job);
                        work.queue.push_back(index, job, Nanos::ZERO);
                    }
                }
            }
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
                            Event::Attempted {
                                index,
                                outcome,
                                waited,
                                ended,
                            } => {
                                let attempt = (outcome, waited, ended);
                                if self.take_attempt(work, index, attempt, &mut tally) {
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

    /// Counts one attempt and records its outcome; whether the job finished.
    fn take_attempt(
        &mut self,
        work: &Work<'_, J, T, E>,
        index: usize,
        (outcome, waited, ended): (Outcome<T, E>, Option<(String, Duration)>, Nanos),
        tally: &mut Tally,
    ) -> bool {
        tally.attempts += 1;
        if let Some((resource, wait)) = waited {
            *tally.waited.entry(resource).or_default() += wait;
        }
        if self.jobs[index].attempts > 0 {
            tally.retries += 1;
        }
        if let Verdict::RetryAfter(_) = outcome.verdict {
            tally.rate_limited += 1;
        }
        self.record(work, index, outcome, ended, tally)
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
        let (results, errors) = if self.streaming {
            // Every finished job was handed over (and forgotten); the batch ends with the stream.
            if self.pending() == 0 && !sent.holds_jobs() && !sent.open() {
                sent.new_batch();
                self.jobs = JobTable::default();
                self.resumed_forgotten = 0;
                #[cfg(feature = "journal")]
                if let Some(journal) = &mut self.journal {
                    journal.new_batch();
                }
            }
            (Vec::new(), Vec::new())
        } else if self.pending() == 0 && !sent.holds_jobs() && !sent.open() {
            sent.new_batch();
            // The batch is complete (no job to come either): hand everything over and empty the
            // schedule.
            #[cfg(feature = "journal")]
            if let Some(journal) = &mut self.journal {
                journal.new_batch();
            }
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

    /// The limiter for the resources, made on first use and kept across runs.
    fn limiter(&mut self) -> Result<MultiLimiter, RunnerError> {
        if self.max_concurrent == 0 {
            return Err(RunnerError::ZeroConcurrency);
        }
        #[cfg(feature = "redis")]
        super::shared::forget_if_moved(&mut self.limiter, self.shared.as_ref());
        if let Some(limiter) = &self.limiter {
            return Ok(limiter.clone());
        }
        for (index, resource) in self.resources.iter().enumerate() {
            if self.resources[..index]
                .iter()
                .any(|earlier| earlier.name == resource.name)
            {
                return Err(RunnerError::DuplicateResource(resource.name.clone()));
            }
            if !resource.counts_something() {
                return Err(RunnerError::UnusedResource(resource.name.clone()));
            }
        }
        // One cap for every wait a server asks for: a hold it announces through the response
        // hook is capped like a requested retry-after.
        let limits = self.resources.iter().fold(
            Limits::new().max_hold_set_by(self.retry.max_retry_after, "Retry::max_retry_after"),
            |limits, resource| resource.add_to(limits),
        );
        let limiter =
            MultiLimiter::build(limits, self.clock.clone()).map_err(RunnerError::InvalidLimits)?;
        #[cfg(feature = "redis")]
        let limiter = super::shared::share(limiter, &self.shared)?;
        self.limiter = Some(limiter.clone());
        Ok(limiter)
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

/// A worker: takes jobs, reserves their quota, waits until it allows the call, calls.
fn work_loop<J, T, E>(worker: usize, work: &Work<'_, J, T, E>, events: &Sender<Event<T, E>>) {
    while let Some((index, job)) = work.queue.next_job() {
        // A slot of the adaptive concurrency limit, held for the call.
        let _slot = work.adaptive.as_deref().map(AdaptiveSemaphore::acquire);
        let costs = catch_unwind(AssertUnwindSafe(|| {
            work.resources
                .iter()
                .map(|resource| (resource.name.as_str(), resource.reserved(&job)))
                .collect::<Vec<(&str, u64)>>()
        }));
        let asked = work.limiter.clock().now();
        let reserved = costs
            .map_err(|panic| AttemptError::Panicked(panic_message(panic.as_ref())))
            .and_then(|costs| work.limiter.reserve(&costs).map_err(AttemptError::Quota));
        let permit = match reserved {
            Ok(permit) => permit,
            Err(err) => {
                work.queue.attempt_ended();
                let verdict = super::shared::quota_verdict(&err);
                let outcome = Outcome::new(Err(err), verdict);
                if events
                    .send(Event::Attempted {
                        index,
                        outcome,
                        waited: None,
                        ended: work.limiter.clock().now(),
                    })
                    .is_err()
                {
                    break;
                }
                continue;
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
            work.queue.push_front(index, job);
            continue;
        }
        let waited = if went { None } else { permit.waited_for() }.map(|resource| {
            let ready_at = permit.ready_at().unwrap_or(asked);
            (
                resource.to_owned(),
                ready_at.saturating_sub(asked).as_duration(),
            )
        });
        work.interrupt.call_in_flight(true);
        let outcome = attempt(work, &job, &permit);
        let ended = work.limiter.clock().now();
        work.interrupt.call_in_flight(false);
        drop(permit);
        work.queue.attempt_ended();
        if events
            .send(Event::Attempted {
                index,
                outcome,
                waited,
                ended,
            })
            .is_err()
        {
            break;
        }
    }
    events.send(Event::WorkerExited).ok();
}

/// One attempt: the call, the response hook, the classifier, the billing and the validators,
/// any of which may panic: a panic fails the attempt with its message (billed its per-job usage
/// only).
fn attempt<J, T, E>(work: &Work<'_, J, T, E>, job: &J, permit: &Permit) -> Outcome<T, E> {
    match catch_unwind(AssertUnwindSafe(|| call_and_bill(work, job, permit))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            // The per-job extractor itself may be what panicked: then the reservation stays.
            catch_unwind(AssertUnwindSafe(|| bill(work, job, permit, None))).ok();
            let message = panic_message(panic.as_ref());
            Outcome::new(Err(AttemptError::Panicked(message)), Verdict::Retry)
        }
    }
}

/// Calls, tells the response hook, classifies a failure and bills the usage: a call the server
/// refused (a requested wait) nothing, a call that failed otherwise its per-job usage (its
/// estimate comes back), one that returned its actual usage; usage counts from the instant the
/// call completed. Then applies the validators.
fn call_and_bill<J, T, E>(work: &Work<'_, J, T, E>, job: &J, permit: &Permit) -> Outcome<T, E> {
    let returned = (work.call)(job, &Attempt::new(permit, &work.counted_at_start));
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
                refund(work, permit);
            } else {
                bill(work, job, permit, None);
            }
            return Outcome {
                result: Err(AttemptError::Call(err)),
                verdict,
                classifier_panic,
            };
        }
    };
    bill(work, job, permit, Some(&result));
    if work.validators.iter().all(|valid| valid(&result)) {
        Outcome::new(Ok(result), Verdict::Fail)
    } else {
        Outcome::new(Err(AttemptError::ValidationFailed), Verdict::Retry)
    }
}

/// Settles every resource whose usage the attempt's outcome decides, counted from now (a
/// resource counted at the start keeps its charge from the start).
fn bill<J, T, E>(work: &Work<'_, J, T, E>, job: &J, permit: &Permit, result: Option<&T>) {
    for resource in work
        .resources
        .iter()
        .filter(|resource| !resource.counted_at_start)
    {
        permit
            .settle(&resource.name, resource.billed(job, result))
            .ok();
    }
}

/// Gives back everything the attempt reserved: the server did not count the call.
fn refund<J, T, E>(work: &Work<'_, J, T, E>, permit: &Permit) {
    for resource in &work.resources {
        permit.settle(&resource.name, 0).ok();
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

impl<J, T, E> Drop for Runner<'_, J, T, E> {
    /// Senders of a streaming runner no longer wait for room: no run will take their jobs.
    fn drop(&mut self) {
        self.feed.set_window(None);
    }
}

impl<J, T, E> fmt::Debug for Runner<'_, J, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("resources", &self.resources)
            .field("max_concurrent", &self.max_concurrent)
            .field("adaptive", &self.adaptive)
            .field("retry", &self.retry)
            .field("jobs", &self.jobs.len())
            .field("pending", &self.unfinished)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::Runner;

    /// `progress` exists with and without the `progress` feature (without it, nothing is drawn):
    /// `cargo test --lib` without features compiles and runs this.
    #[test]
    fn progress_can_be_asked_for_with_or_without_the_feature() {
        let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x + 1)).progress(true);
        runner.schedule(1).unwrap();
        assert_eq!(runner.run().into_parts().0, vec![Some(2)]);
    }

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
