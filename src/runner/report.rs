use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::AttemptError;

/// The errors of one job's failed attempts, in order.
pub type AttemptErrors<E> = Vec<Arc<AttemptError<E>>>;

/// What [`Runner::run`](crate::Runner::run) returns: the result of every job of the batch in
/// schedule order, every attempt's error, and counts.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunReport<T, E> {
    /// `results[i]` is `Some` once job `i` succeeded.
    pub results: Vec<Option<T>>,
    /// `errors[i]` lists the errors of job `i`'s failed attempts, in order (across runs).
    pub errors: Vec<AttemptErrors<E>>,
    /// Calls started during this run.
    pub attempts: u64,
    /// Of those, the calls that were retries.
    pub retries: u64,
    /// Wall time of this run.
    pub elapsed: Duration,
    /// Time calls waited for each resource's quota, summed over calls, by resource.
    pub waited: BTreeMap<String, Duration>,
    /// How long new calls were paused, in all, because the server asked for a wait
    /// ([`Verdict::RetryAfter`](crate::Verdict::RetryAfter)).
    pub paused: Duration,
    /// Attempts the server refused with a requested wait (429s, when the classifier maps them to
    /// [`Verdict::RetryAfter`](crate::Verdict::RetryAfter)); they were refunded.
    pub rate_limited: u64,
    /// Whether the run was interrupted (some jobs may be unfinished; they stay scheduled).
    pub interrupted: bool,
}

/// A job that finished during a run (succeeded, or failed every attempt the policy allows), as
/// [`Runner::run_each`](crate::Runner::run_each) hands it over the moment it finishes.
#[derive(Debug)]
#[non_exhaustive]
pub struct Finished<'a, T, E> {
    /// The job's index (its place in schedule order).
    pub index: usize,
    /// Its result, if an attempt succeeded.
    pub result: Option<&'a T>,
    /// Every failed attempt's error, in order.
    pub errors: &'a [Arc<AttemptError<E>>],
    /// Attempts made, over every run.
    pub attempts: u32,
}

impl<T, E> RunReport<T, E> {
    /// `(results, errors)`.
    pub fn into_parts(self) -> (Vec<Option<T>>, Vec<AttemptErrors<E>>) {
        (self.results, self.errors)
    }
}
