//! Scheduling: how jobs enter a Runner's batch, from its own thread or sent by
//! [`JobSender`]s, each checked against the quotas (and, with a journal, looked up there).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::job_record::JobRecord;
use super::job_sender::FeedState;
use super::{JobSender, Runner, RunnerError};

impl<'a, J, T, E> Runner<'a, J, T, E>
where
    J: Send + Sync,
    T: Send,
    E: Send,
{
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
    pub(super) fn take_sent(&mut self, sent: &mut FeedState<J>) -> std::ops::Range<usize> {
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
                record.end_misconfigured(err);
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
}
