//! The Runner: many calls of one function on a thread pool, as fast as the quotas allow.
//!
//! Describe the quotas as [`Resource`]s, [`schedule`](Runner::schedule) jobs, and
//! [`run`](Runner::run): a blocking call that returns every result in schedule order and every
//! attempt's error, retrying per the [`Retry`] policy. An [`InterruptHandle`] (or Ctrl-C, with the
//! `ctrlc` feature) stops it early with what finished; the next `run` resumes.

mod attempt;
mod attempt_error;
mod builder;
mod coordinator;
mod interrupt;
mod job_record;
mod job_sender;
mod job_table;
#[cfg(feature = "journal")]
mod journal;
#[cfg(feature = "journal")]
mod journal_error;
#[cfg(feature = "journal")]
mod journal_store;
mod progress;
mod report;
mod resource;
mod retry;
mod schedule;
mod shared;
mod work_queue;
mod worker;

pub use attempt::Attempt;
pub use attempt_error::{AttemptError, RunnerError};
pub use builder::Runner;
pub use interrupt::InterruptHandle;
pub use job_sender::JobSender;
#[cfg(feature = "journal")]
pub use journal_error::JournalError;
pub use report::{AttemptErrors, Finished, RunReport};
pub use resource::Resource;
pub use retry::{Retry, Verdict};
