//! The Runner's methods that use its journal: attaching it, a keyed schedule, the look-up of
//! each job scheduled, the check that the journal is this job set's, and the commit of finished
//! jobs before they are handed over.

use std::fmt::Display;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::super::job_record::JobRecord;
use super::super::{AttemptError, Runner, RunnerError};
use super::{Journal, JournalError, Recorded};

#[cfg_attr(docsrs, doc(cfg(feature = "journal")))]
impl<J, T, E> Runner<'_, J, T, E>
where
    J: Send + Sync,
    T: Send,
    E: Send,
{
    /// Records each finished job in the journal at `path` (created if there is none), durably
    /// before the job is reported, and takes the jobs it already holds from it: a rerun after a
    /// crash (or a `kill -9`, or a reboot) with the same journal and the same jobs calls only the
    /// jobs not finished, and `run()` still returns the whole batch in schedule order, the
    /// journal's results in place ([`RunReport::resumed`](crate::RunReport::resumed) counts them).
    ///
    /// - A job is known by the key given to [`schedule_keyed`](Self::schedule_keyed), or else
    ///   by a stable hash of its JSON encoding (`serde_json`, every object's keys sorted, so a
    ///   map's iteration order does not matter) and its occurrence among identical jobs:
    ///   changing any serialised field of a job (a value, a field's name, a variant) makes it a
    ///   new job; its index, the other jobs and the Rust type's name do not matter.
    /// - A job that succeeded is recorded with its result; one that failed for good with its
    ///   errors' messages: a rerun runs it again (with a fresh retry budget), its earlier errors
    ///   kept first in its list as [`AttemptError::Journaled`].
    /// - Commits: the outcomes that arrive together are committed in one transaction, made
    ///   durable (fsync) before any of them is handed over; so a job reported (by `run_each`)
    ///   is never called again. A job whose outcome could not be recorded (its result cannot be
    ///   encoded, a commit failed) is not handed over, and the run stops
    ///   ([`RunReport::journal_failure`](crate::RunReport::journal_failure), `interrupted`).
    ///   A call in flight when the process dies has no record: the rerun sends it again (its
    ///   cost is paid twice).
    /// - Damage is an error, never a wrong result nor a finished job called again: each entry
    ///   carries a checksum over its key and its content, every entry is checked here, and a
    ///   damaged one is [`JournalError::Corrupt`] naming its key as stored. Damage the store
    ///   itself fails on (it may panic on a damaged page: the panic is caught, and the panic
    ///   hook prints nothing for it) is `Corrupt` too, here or later (from `schedule`, or as the
    ///   run's journal failure); from then on the journal refuses every read and commit.
    /// - Misuse is an error naming the file and the job: a file that is not a journal (an empty
    ///   file included) or open in another run ([`JournalError::Open`],
    ///   [`JournalError::InUse`], here);
    ///   a recorded result that no longer deserialises ([`JournalError::Undecodable`], from
    ///   `schedule`); a journal of another job set ([`JournalError::OtherJobSet`], from
    ///   [`check`](Self::check), or failing every job of the run). That check covers the jobs
    ///   scheduled when the run starts: jobs sent during the run by a [`JobSender`](crate::JobSender)
    ///   into a run that began with none are not checked (a first job missing from the journal
    ///   is also what a crash leaves, so no early verdict is safe).
    ///
    /// Attach the journal before scheduling (jobs already scheduled are looked up now).
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// # let dir = std::env::temp_dir().join(format!("tollgate-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("squares.journal");
    /// let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * x)).journal(&path)?;
    /// runner.schedule_all(0..4)?;
    /// assert_eq!(runner.run().resumed, 0);
    /// drop(runner);
    ///
    /// // The rerun (a new process, say) calls nothing: every result comes from the journal.
    /// let mut rerun = Runner::new(|_: &u64| Err::<u64, String>("not called".into())).journal(&path)?;
    /// rerun.schedule_all(0..4)?;
    /// let report = rerun.run();
    /// assert_eq!((report.resumed, report.attempts), (4, 0));
    /// assert_eq!(report.results, vec![Some(0), Some(1), Some(4), Some(9)]);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`JournalError::Open`], [`JournalError::InUse`], [`JournalError::Corrupt`]; for jobs
    /// already scheduled, as [`schedule`](Self::schedule).
    pub fn journal(mut self, path: impl AsRef<Path>) -> Result<Self, JournalError>
    where
        J: Serialize,
        T: Serialize + DeserializeOwned,
        E: Display,
    {
        self.journal = Some(Journal::open(path.as_ref())?);
        let scheduled = std::mem::take(&mut self.jobs);
        self.unfinished = 0;
        for mut record in scheduled {
            if !record.finished {
                self.look_up(self.jobs.len(), &mut record)?;
                if !record.finished {
                    self.unfinished += 1;
                }
            }
            self.jobs.push(record);
        }
        Ok(self)
    }

    /// [`schedule`](Self::schedule) with the key that names `job` in the
    /// [journal](Self::journal) (a request's id, a file's path): stable whatever the job's
    /// encoding. Keys are unique within a batch.
    ///
    /// ```
    /// use tollgate::Runner;
    ///
    /// let mut runner = Runner::new(|path: &String| Ok::<usize, String>(path.len()));
    /// runner.schedule_keyed("a", "a.txt".to_owned())?;
    /// assert_eq!(runner.run().results, vec![Some(5)]);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    ///
    /// # Errors
    /// As [`schedule`](Self::schedule); [`JournalError::DuplicateKey`] (in
    /// [`RunnerError::Journal`]) for a key already given in the batch.
    pub fn schedule_keyed(&mut self, key: impl Into<String>, job: J) -> Result<usize, RunnerError> {
        let mut record = JobRecord::new(job);
        record.key = Some(key.into());
        self.schedule_record(record)
    }

    /// Gives job `index` its key and takes its outcome from the journal, if it has one.
    pub(in crate::runner) fn look_up(
        &mut self,
        index: usize,
        record: &mut JobRecord<J, T, E>,
    ) -> Result<(), JournalError> {
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        let key = journal.key_for(index, &record.job, record.key.clone())?;
        let recorded = match journal.lookup(index, &key) {
            Ok(recorded) => recorded,
            Err(err) => {
                journal.release(&key);
                return Err(err);
            }
        };
        record.journal_key = Some(key);
        match recorded {
            Some(Recorded {
                result: Some(result),
                attempts,
                ..
            }) => {
                record.result = Some(result);
                record.attempts = attempts;
                record.finished = true;
                record.resumed = true;
            }
            Some(Recorded { errors, .. }) => {
                let earlier = errors
                    .into_iter()
                    .map(AttemptError::Journaled)
                    .map(Arc::new);
                record.errors.splice(0..0, earlier);
            }
            None => {}
        }
        Ok(())
    }

    /// Fails if the journal was written for another job set.
    pub(in crate::runner) fn check_job_set(&self) -> Result<(), RunnerError> {
        match &self.journal {
            Some(journal) => Ok(journal.check_job_set(self.jobs.len())?),
            None => Ok(()),
        }
    }

    /// Records the jobs at `finished` (indices) in the journal; returns those recorded, durable
    /// when this returns (all of them without a journal), and why the others were not.
    pub(in crate::runner) fn commit(
        &mut self,
        finished: Vec<usize>,
    ) -> (Vec<usize>, Option<JournalError>) {
        match &mut self.journal {
            Some(journal) => {
                let jobs = &self.jobs;
                journal.record(finished.iter().map(|index| (*index, &jobs[*index])))
            }
            None => (finished, None),
        }
    }
}
