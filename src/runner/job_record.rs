//! One job of a Runner's batch as the runner keeps it: the job, its outcome so far, and (with a
//! journal) its key.

use std::sync::Arc;

use super::{AttemptError, RunnerError};

/// A job of the batch and what became of it: its result or its attempts' errors, whether it
/// finished (here or in the journal) and was handed over.
pub(super) struct JobRecord<J, T, E> {
    pub(super) job: Arc<J>,
    pub(super) result: Option<T>,
    pub(super) errors: Vec<Arc<AttemptError<E>>>,
    pub(super) attempts: u32,
    pub(super) finished: bool,
    /// Handed over as finished (by `run_each`), in this process.
    pub(super) handed_over: bool,
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

    /// Ends the job with `err`, a configuration that cannot work: no silent no-op.
    pub(super) fn end_misconfigured(&mut self, err: RunnerError) {
        self.errors.push(Arc::new(AttemptError::Misconfigured(err)));
        self.finished = true;
    }
}
