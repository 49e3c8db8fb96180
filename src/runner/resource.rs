use std::fmt;

use crate::{Counting, Limits, Rate};

type JobCost<J> = Box<dyn Fn(&J) -> u64 + Send + Sync>;
type ResultCost<T> = Box<dyn Fn(&T) -> u64 + Send + Sync>;

/// A quota the [`Runner`](crate::Runner) respects: `rate` of some resource, and how much of it
/// each job uses.
///
/// - [`per_job`](Self::per_job): usage known from the job, billed when the call starts.
/// - [`actual`](Self::actual): usage known only from the result, billed when the call completes;
///   with [`estimate`](Self::estimate), an upper estimate is reserved while the call runs and
///   settled with the actual usage after (without one the server may see more than the quota
///   while calls are in flight).
///
/// Quotas are counted as an exact sliding window of the rate's period (the way the providers and
/// the Python `rate_limited` package count); [`smoothed`](Self::smoothed) spreads them with GCRA
/// instead. A server counts
/// a request from when it *arrives*, a little after tollgate lets it go, so where every last
/// request of a window counts, give the window a small margin (say `"3500/61s"` for 3,500 per
/// minute).
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
}

impl<J, T> Resource<J, T> {
    /// A resource named `name` with quota `rate`, which jobs use none of until told otherwise.
    pub fn new(name: impl Into<String>, rate: Rate) -> Resource<J, T> {
        Resource {
            name: name.into(),
            rate,
            counting: Counting::SlidingWindow,
            per_job: None,
            estimate: None,
            actual: None,
        }
    }

    /// Each job uses `cost(job)`, billed when its call starts.
    pub fn per_job(mut self, cost: impl Fn(&J) -> u64 + Send + Sync + 'static) -> Self {
        self.per_job = Some(Box::new(cost));
        self
    }

    /// Reserve `estimate(job)` while the call runs (settled with [`actual`](Self::actual)).
    pub fn estimate(mut self, estimate: impl Fn(&J) -> u64 + Send + Sync + 'static) -> Self {
        self.estimate = Some(Box::new(estimate));
        self
    }

    /// Each call uses `actual(result)`, billed when it completes.
    pub fn actual(mut self, actual: impl Fn(&T) -> u64 + Send + Sync + 'static) -> Self {
        self.actual = Some(Box::new(actual));
        self
    }

    /// Count the quota with GCRA (spread evenly, burst = the whole quota) instead of an exact
    /// window.
    pub fn smoothed(mut self) -> Self {
        self.counting = Counting::Gcra;
        self
    }

    /// The quota.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// What a job reserves when its call starts: its per-job usage and its estimate.
    pub(super) fn reserved(&self, job: &J) -> u64 {
        let estimate = self.estimate.as_ref().map_or(0, |estimate| estimate(job));
        self.per_job_cost(job).saturating_add(estimate)
    }

    fn per_job_cost(&self, job: &J) -> u64 {
        self.per_job.as_ref().map_or(0, |cost| cost(job))
    }

    /// What an attempt is billed once its outcome is known, when that changes the reservation:
    /// a call that returned `Some(result)` its per-job plus actual usage (when its usage is
    /// known only from the result); a failed call (`None`) its per-job usage only, when an
    /// estimate was reserved for it.
    pub(super) fn billed(&self, job: &J, result: Option<&T>) -> Option<u64> {
        match (result, &self.actual) {
            (Some(result), Some(actual)) => {
                Some(self.per_job_cost(job).saturating_add(actual(result)))
            }
            (None, _) if self.estimate.is_some() => Some(self.per_job_cost(job)),
            _ => None,
        }
    }

    pub(super) fn add_to(&self, limits: Limits) -> Limits {
        match self.counting {
            Counting::SlidingWindow => limits.window(self.name.clone(), self.rate),
            _ => limits.rate(self.name.clone(), self.rate),
        }
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
            .finish()
    }
}
