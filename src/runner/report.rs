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
    /// How long this run took, on the runner's clock: wall time, or the mock time that passed
    /// under [`with_clock`](crate::Runner::with_clock)`(Clock::mock())`.
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
    /// Jobs whose result was taken from the [journal](crate::Runner::journal) (finished in an
    /// earlier run), not called again.
    pub resumed: usize,
    /// Why the journal failed during the run, which then stopped: the jobs finished before stay
    /// recorded, the results after are in the report but not in the journal.
    #[cfg(feature = "journal")]
    #[cfg_attr(docsrs, doc(cfg(feature = "journal")))]
    pub journal_failure: Option<crate::JournalError>,
}

/// A job that finished during a run (succeeded, or failed every attempt the policy allows), as
/// [`Runner::run_each`](crate::Runner::run_each) hands it over the moment it finishes.
#[derive(Debug)]
#[non_exhaustive]
pub struct Finished<'a, J, T, E> {
    /// The job's index (its place in schedule order).
    pub index: usize,
    /// The job.
    pub job: &'a J,
    /// Its result, if an attempt succeeded.
    pub result: Option<&'a T>,
    /// Every failed attempt's error, in order.
    pub errors: &'a [Arc<AttemptError<E>>],
    /// Attempts made, over every run.
    pub attempts: u32,
    /// It finished in an earlier run and its result was taken from the
    /// [journal](crate::Runner::journal) (handed over at the start of the run).
    pub resumed: bool,
}

impl<T, E> RunReport<T, E> {
    /// `(results, errors)`.
    pub fn into_parts(self) -> (Vec<Option<T>>, Vec<AttemptErrors<E>>) {
        (self.results, self.errors)
    }

    /// The jobs that succeeded: `(index, result)` in schedule order.
    pub fn successes(&self) -> impl Iterator<Item = (usize, &T)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(index, result)| Some((index, result.as_ref()?)))
    }

    /// The jobs without a result (failed for good, or unfinished after an interrupt):
    /// `(index, errors of their failed attempts)` in schedule order.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &AttemptErrors<E>)> {
        self.errors
            .iter()
            .enumerate()
            .filter(|(index, _)| self.results[*index].is_none())
    }

    /// Every result if every job succeeded, else the failures' indices and errors.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|x: &u32| if *x == 2 { Err("two") } else { Ok(x * 10) });
    /// runner.schedule_all(0..4)?;
    /// let failed = runner.run().into_successes().unwrap_err();
    /// assert_eq!(failed.iter().map(|(index, _)| *index).collect::<Vec<_>>(), vec![2]);
    ///
    /// runner.schedule_all(0..2)?;
    /// assert_eq!(runner.run().into_successes().unwrap(), vec![0, 10]);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    ///
    /// # Errors
    /// `(index, errors)` of every job without a result, in schedule order.
    #[allow(clippy::type_complexity)]
    pub fn into_successes(self) -> Result<Vec<T>, Vec<(usize, AttemptErrors<E>)>> {
        let mut successes = Vec::with_capacity(self.results.len());
        let mut failures = Vec::new();
        for (index, (result, errors)) in self.results.into_iter().zip(self.errors).enumerate() {
            match result {
                Some(result) => successes.push(result),
                None => failures.push((index, errors)),
            }
        }
        if failures.is_empty() {
            Ok(successes)
        } else {
            Err(failures)
        }
    }
}
