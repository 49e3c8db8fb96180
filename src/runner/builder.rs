//! The Runner's builder: the public [`Runner`] type, its settings, and the quota limiter they
//! make.

use std::fmt;
use std::sync::Arc;

use super::job_record::JobRecord;
use super::job_sender::Feed;
use super::job_table::JobTable;
#[cfg(feature = "journal")]
use super::journal::Journal;
use super::{Attempt, InterruptHandle, Resource, Retry, RunnerError};
use crate::{AdaptiveSemaphore, Clock, LimitError, Limits, MultiLimiter};

/// Places a runner's limiter, built in memory, on a state store.
pub(super) type Place = dyn Fn(MultiLimiter) -> Result<MultiLimiter, LimitError> + Send + Sync;

/// The function the runner calls for each job.
pub(super) type Call<'a, J, T, E> =
    Arc<dyn Fn(&J, &Attempt<'_>) -> Result<T, E> + Send + Sync + 'a>;
/// A check a result must pass ([`Runner::validate`]).
pub(super) type Validator<'a, T> = Arc<dyn Fn(&T) -> bool + Send + Sync + 'a>;
/// What is told every call's outcome ([`Runner::on_response`]).
pub(super) type ResponseHook<'a, T, E> =
    Arc<dyn Fn(Result<&T, &E>, &MultiLimiter) + Send + Sync + 'a>;

/// Runs many calls of one function on a thread pool, as fast as the quotas allow and never
/// faster, and returns every result in schedule order.
///
/// - Quotas are [`Resource`]s, enforced together by one [`MultiLimiter`] (all or none), kept
///   across runs so usage history carries over. A worker waiting for quota sleeps until its
///   instant; it never polls.
/// - Failed attempts (errors, panics, results rejected by a [`validate`](Self::validate)r) are
///   retried per the [`Retry`] policy; a server-requested wait
///   ([`Verdict::RetryAfter`](crate::Verdict::RetryAfter)) pauses every new call start for that
///   long.
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
    pub(super) call: Call<'a, J, T, E>,
    pub(super) resources: Vec<Arc<Resource<J, T>>>,
    pub(super) validators: Vec<Validator<'a, T>>,
    pub(super) response_hook: Option<ResponseHook<'a, T, E>>,
    pub(super) adaptive: Option<Arc<AdaptiveSemaphore>>,
    /// Where the limiter's state is placed when not in memory ([`Runner::placed_by`]).
    pub(super) place: Option<Arc<Place>>,
    pub(super) retry: Retry<E>,
    pub(super) max_concurrent: usize,
    pub(super) progress: bool,
    pub(super) probe: bool,
    pub(super) clock: Clock,
    pub(super) limiter: Option<MultiLimiter>,
    pub(super) jobs: JobTable<JobRecord<J, T, E>>,
    /// Jobs of `jobs` not finished.
    pub(super) unfinished: usize,
    /// Streaming mode: jobs are forgotten once handed over.
    pub(super) streaming: bool,
    /// Jobs taken from the journal and forgotten (streaming mode) in this batch.
    pub(super) resumed_forgotten: usize,
    pub(super) interrupt: InterruptHandle,
    /// Jobs sent by [`JobSender`](crate::JobSender)s.
    pub(super) feed: Arc<Feed<J>>,
    #[cfg(feature = "journal")]
    pub(super) journal: Option<Journal<J, T, E>>,
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

    /// A runner calling `call` for each job, with the [`Attempt`] in progress: a call tells the
    /// Runner when its answer began ([`Attempt::answered`]), so that its usage counts from
    /// then rather than from its completion (the whole gain on a streamed answer), and a call
    /// that starts its real work some time after it is called tells it when
    /// ([`Attempt::sent`]), so that resources [counted at the
    /// start](Resource::counted_at_start) count from then.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new_with_attempt(|x: &u32, attempt| {
    ///     attempt.answered(); // the answer's headers are in; its body follows
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
            place: None,
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
    /// rejected result is a [`AttemptError::ValidationFailed`](crate::AttemptError::ValidationFailed)
    /// attempt (retried; its usage is still billed).
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
    /// high (the call also says when the answer's headers came, [`Attempt::answered`]: usage
    /// counts from then, not from the end of the body):
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
    /// let call = move |prompt: &String, attempt: &tollgate::Attempt<'_>| {
    ///     let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{prompt}"}}]}}"#);
    ///     let mut response = agent
    ///         .post(&url)
    ///         .config().http_status_as_error(false).build() // keep a 429 and its headers
    ///         .send(body.as_str())
    ///         .map_err(|_| (Signal::Transient, RateLimitHeaders::default()))?;
    ///     attempt.answered(); // the status and headers are in; the body is read next
    ///     let text = response.body_mut().read_to_string().unwrap_or_default();
    ///     match Signal::classify_http(response.status(), response.headers(), &text) {
    ///         (None, headers) => Ok(headers),
    ///         (Some(signal), headers) => Err((signal, headers)),
    ///     }
    /// };
    /// let mut runner = Runner::new_with_attempt(call)
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
    /// server-requested wait ([`Verdict::RetryAfter`](crate::Verdict::RetryAfter)) is a
    /// backpressure signal to it.
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
    /// [`run_each`](Self::run_each) has handed it over, and a [`JobSender`](crate::JobSender)
    /// blocks while the job it sends would be `window` places or more past the oldest job not yet
    /// handed over. The runner then holds at most `window` jobs (sent, queued, in flight, or
    /// finished and waiting for an earlier one's turn in a consumer's ordered output), whatever
    /// the stream's length; indices stay those of the whole stream. A `window` of 0 counts as 1.
    ///
    /// Results are taken as they come, through `run_each`: the
    /// [`RunReport`](crate::RunReport)'s `results` and `errors` are empty. Jobs scheduled with
    /// [`schedule`](Self::schedule) on the runner's own thread are never held back (it cannot
    /// block itself), only forgotten. With a [journal](Self::journal), give each job its key
    /// ([`JobSender::schedule_keyed`](crate::JobSender::schedule_keyed)): duplicate keys are then
    /// checked among the jobs held, and jobs without one cost a counter per distinct job for the
    /// batch.
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

    /// Places the limiter the runner makes on a [state store](crate::state) with `place`
    /// (called with the limiter built in memory) from the next run on: a store's constructor
    /// calls it (as `Runner::shared_on`); unused when no store behind a feature is compiled.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn placed_by(
        mut self,
        place: impl Fn(MultiLimiter) -> Result<MultiLimiter, LimitError> + Send + Sync + 'static,
    ) -> Self {
        self.place = Some(Arc::new(place));
        self.limiter = None;
        self
    }

    /// The limiter for the resources, made on first use and kept across runs.
    pub(super) fn limiter(&mut self) -> Result<MultiLimiter, RunnerError> {
        if self.max_concurrent == 0 {
            return Err(RunnerError::ZeroConcurrency);
        }
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
        let limiter = match &self.place {
            Some(place) => place(limiter).map_err(RunnerError::InvalidLimits)?,
            None => limiter,
        };
        self.limiter = Some(limiter.clone());
        Ok(limiter)
    }
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
    use super::Runner;

    /// `progress` exists with and without the `progress` feature (without it, nothing is drawn):
    /// `cargo test --lib` without features compiles and runs this.
    #[test]
    fn progress_can_be_asked_for_with_or_without_the_feature() {
        let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x + 1)).progress(true);
        runner.schedule(1).unwrap();
        assert_eq!(runner.run().into_parts().0, vec![Some(2)]);
    }
}
