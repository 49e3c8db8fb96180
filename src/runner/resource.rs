use std::fmt;

use crate::algorithm::{Algorithm, GcraVirtual};
use crate::{Counting, Limits, Rate, REQUESTS};

type JobCost<J> = Box<dyn Fn(&J) -> u64 + Send + Sync>;
type ResultCost<T> = Box<dyn Fn(&T) -> u64 + Send + Sync>;

/// A quota the [`Runner`](crate::Runner) respects: `rate` of some resource, and how much of it
/// each job uses.
///
/// - [`per_job`](Self::per_job): usage known from the job, reserved when the call starts.
/// - [`actual`](Self::actual): usage known only from the result; with
///   [`estimate`](Self::estimate), an upper estimate is reserved while the call runs (without
///   one the server may see more than the quota while calls are in flight).
///
/// Usage is **counted from the instant the call's answer began**, when the call says so
/// ([`Attempt::answered`](crate::Attempt::answered), for a call made with
/// [`Runner::new_with_attempt`](crate::Runner::new_with_attempt)), **else from the instant it
/// completes** (unless [`counted_at_start`](Self::counted_at_start)): what was reserved is held
/// in flight from the call's grant (used at every instant, however long the call runs), then
/// replaced by what the attempt is billed. A server stamps a call when
/// it arrives, which is never later than the start of its answer, so the quota as the server
/// gives it needs no margin; the price is that each use counts for the time between the server's
/// stamp and that instant too (all of a streamed answer's body when counted from the
/// completion). A call that returned
/// is billed its per-job plus actual usage (its estimate without an `actual`); a call that failed
/// its per-job usage only; a call the server refused (a [`Verdict::RetryAfter`](crate::Verdict))
/// nothing at all.
///
/// A rate means what it means everywhere ([`Rate::burst`]): **at most `burst` at once,
/// `quantity` per period**. Quotas are counted as an exact sliding window of the rate's period
/// (the way the providers and the Python `rate_limited` package count), paced with GCRA at
/// `quantity / period` when the rate's burst is below its quantity, so
/// `Rate::per_second(20).burst(1)` starts a call every 50 ms, never more than 20 in any second.
/// [`smoothed`](Self::smoothed) counts with GCRA alone instead, and
/// [`counted_with`](Self::counted_with) with any [`Algorithm`]. A burst above the quantity can
/// only be honoured by GCRA: on a window it is a [`RateError::BurstOnWindow`](crate::RateError)
/// (reported as [`RunnerError::InvalidLimits`](crate::RunnerError)).
///
/// ```
/// use tollgate::{Rate, Resource};
///
/// struct Reply { total_tokens: u64 }
/// let requests = Resource::<String, Reply>::new("requests", Rate::per_minute(3_500)).per_job(|_| 1);
/// let tokens = Resource::new("tokens", Rate::per_minute(90_000))
///     .estimate(|prompt: &String| prompt.len() as u64 / 4 + 256)
///     .actual(|reply: &Reply| reply.total_tokens);
/// # let _ = (requests, tokens);
/// ```
pub struct Resource<J, T> {
    pub(super) name: String,
    rate: Rate,
    counting: Counting,
    per_job: Option<JobCost<J>>,
    estimate: Option<JobCost<J>>,
    actual: Option<ResultCost<T>>,
    /// Usage counted from the call's start (see [`counted_at_start`](Self::counted_at_start)).
    pub(super) counted_at_start: bool,
}

impl<J, T> Resource<J, T> {
    /// A resource named `name` with quota `rate`, which jobs use none of until told otherwise,
    /// except [`REQUESTS`](crate::REQUESTS) (`"requests"`): one per job unless
    /// [`per_job`](Self::per_job) says otherwise (the rule of every limiter).
    pub fn new(name: impl Into<String>, rate: Rate) -> Resource<J, T> {
        Resource {
            name: name.into(),
            rate,
            counting: Counting::SlidingWindow,
            per_job: None,
            estimate: None,
            actual: None,
            counted_at_start: false,
        }
    }

    /// Each job uses `cost(job)`, reserved when its call starts.
    pub fn per_job(mut self, cost: impl Fn(&J) -> u64 + Send + Sync + 'static) -> Self {
        self.per_job = Some(Box::new(cost));
        self
    }

    /// Reserve `estimate(job)` while the call runs (settled with [`actual`](Self::actual)).
    pub fn estimate(mut self, estimate: impl Fn(&J) -> u64 + Send + Sync + 'static) -> Self {
        self.estimate = Some(Box::new(estimate));
        self
    }

    /// Each call that returns uses `actual(result)`, counted from when its answer began (or it
    /// completed; see the type's documentation).
    pub fn actual(mut self, actual: impl Fn(&T) -> u64 + Send + Sync + 'static) -> Self {
        self.actual = Some(Box::new(actual));
        self
    }

    /// Count usage **from the instant the call starts**, for quotas on starts (a command
    /// launched, a job submitted) rather than on work a server stamps: what the call reserved at
    /// its start (its per-job usage and estimate) stays billed from that instant (or from the
    /// instant a call made with [`Runner::new_with_attempt`](crate::Runner::new_with_attempt)
    /// says its real work started: [`Attempt::sent`](crate::Attempt::sent)), whatever the
    /// call's outcome and however long it runs (an [`actual`](Self::actual) is not applied). A
    /// call the server refused (a [`Verdict::RetryAfter`](crate::Verdict)) is still refunded.
    ///
    /// ```
    /// use tollgate::{Rate, Resource};
    ///
    /// // At most 10 command starts per second, however long each command then runs.
    /// let starts = Resource::<String, ()>::new("starts", Rate::per_second(10))
    ///     .per_job(|_| 1)
    ///     .counted_at_start();
    /// # let _ = starts;
    /// ```
    pub fn counted_at_start(mut self) -> Self {
        self.counted_at_start = true;
        self
    }

    /// Count the quota with GCRA alone (one unit every `period / quantity`, up to the rate's
    /// burst at once) instead of an exact window. With a burst above the quantity, the only
    /// counting that honours it.
    pub fn smoothed(self) -> Self {
        self.counted_with::<GcraVirtual>()
    }

    /// Count the quota with algorithm `A` instead of an exact window: any [`Algorithm`], the
    /// crate's or yours, as [`Limits::rate_with`] counts a resource
    /// (`counted_with::<GcraVirtual>()` is [`smoothed`](Self::smoothed),
    /// `counted_with::<SlidingWindow>()` the default). The rate is given to
    /// [`Algorithm::new`]; its error is a [`RunnerError::InvalidLimits`](crate::RunnerError)
    /// when the run starts.
    ///
    /// ```
    /// use tollgate::algorithm::TokenBucket;
    /// use tollgate::{Rate, Resource};
    ///
    /// let credits = Resource::<String, ()>::new("credits", Rate::per_second(40))
    ///     .per_job(|prompt| prompt.len() as u64)
    ///     .counted_with::<TokenBucket>();
    /// # let _ = credits;
    /// ```
    pub fn counted_with<A: Algorithm>(mut self) -> Self {
        self.counting = Counting::with::<A>();
        self
    }

    /// The quota.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Whether any job can use this resource: it has a cost, or counts one request per job (an
    /// `actual` alone counts nothing on a resource counted at the start, which bills only what
    /// was reserved).
    pub(super) fn counts_something(&self) -> bool {
        self.per_job.is_some()
            || self.estimate.is_some()
            || (self.actual.is_some() && !self.counted_at_start)
            || self.name == REQUESTS
    }

    /// What a job reserves when its call starts: its per-job usage and its estimate.
    pub(super) fn reserved(&self, job: &J) -> u64 {
        let estimate = self.estimate.as_ref().map_or(0, |estimate| estimate(job));
        self.per_job_cost(job).saturating_add(estimate)
    }

    /// The per-job usage: `per_job(job)`, else one for [`REQUESTS`] (the one rule for
    /// requests, as in [`MultiLimiter::acquire`](crate::MultiLimiter::acquire)), else 0.
    fn per_job_cost(&self, job: &J) -> u64 {
        match &self.per_job {
            Some(cost) => cost(job),
            None => u64::from(self.name == REQUESTS),
        }
    }

    /// What an attempt is billed once its outcome is known, counted from the instant the call's
    /// answer began, or completed (a server stamps a call when it arrives, which is never
    /// later): a call that
    /// returned, its per-job usage plus its actual usage (or its estimate, without an `actual`);
    /// a call that failed, its per-job usage only.
    pub(super) fn billed(&self, job: &J, result: Option<&T>) -> u64 {
        let used = match (result, &self.actual, &self.estimate) {
            (Some(result), Some(actual), _) => actual(result),
            (Some(_), None, Some(estimate)) => estimate(job),
            _ => 0,
        };
        self.per_job_cost(job).saturating_add(used)
    }

    pub(super) fn add_to(&self, limits: Limits) -> Limits {
        limits.counted(self.name.clone(), self.rate, self.counting)
    }
}

impl<J, T> fmt::Debug for Resource<J, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("counting", &self.counting)
            .field("per_job", &self.per_job.is_some())
            .field("estimate", &self.estimate.is_some())
            .field("actual", &self.actual.is_some())
            .field("counted_at_start", &self.counted_at_start)
            .finish()
    }
}
