//! The Runner: many calls of one function on a thread pool, as fast as the quotas allow.
//!
//! Describe the quotas as [`Resource`]s, [`schedule`](Runner::schedule) jobs, and
//! [`run`](Runner::run): a blocking call that returns every result in schedule order and every
//! attempt's error, retrying per the [`Retry`] policy. An [`InterruptHandle`] (or Ctrl-C, with the
//! `ctrlc` feature) stops it early with what finished; the next `run` resumes.
//!
//! # For maintainers: the files by role
//!
//! - `builder.rs`: the public [`Runner`], its settings, and the
//!   [`MultiLimiter`](crate::MultiLimiter) they make (kept across runs). A new setting goes here
//!   (and into `Work::new` in `worker.rs` if the workers use it).
//! - `schedule.rs`: how jobs enter the batch (`schedule`, [`JobSender`]s' jobs), each checked
//!   against the quotas; `job_record.rs`: a job as the runner keeps it; `job_table.rs`: the jobs
//!   by index (a window of them when streaming); `job_sender.rs`: the [`JobSender`] and its feed.
//! - `coordinator.rs`: `run()`'s thread. It starts the workers, takes their attempts, decides
//!   what comes next for each job (done, retry after a backoff, pause for a server's wait),
//!   commits to the journal, hands finished jobs over, draws the progress, makes the
//!   [`RunReport`] (`report.rs`), its `elapsed` on the runner's clock.
//! - `worker.rs`: a worker thread. It reserves a job's quota, waits for its instant, makes the
//!   call with its [`Attempt`] (`attempt.rs`: what the call tells the Runner while it runs, such
//!   as when its answer began, which the bill counts from), bills the usage, and reports the
//!   outcome; any user
//!   closure may panic (`panic_message.rs` says what the panic said). `work_queue.rs`: the jobs
//!   ready for the workers, and the stop.
//! - `retry.rs` ([`Retry`], [`Verdict`]), `resource.rs` ([`Resource`]), `interrupt.rs`,
//!   `progress.rs`, `attempt_error.rs` (the errors), `quota_verdict.rs` (what a refused reservation means for the job).
//! - `journal/` (feature `journal`): the journal of finished jobs (`mod.rs`), and the Runner's
//!   methods that use it (`runner_methods.rs`: attach, keyed schedule, look-up at schedule time,
//!   commit before hand-over); its entries' checksums, its store and its errors.

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
mod panic_message;
mod progress;
mod quota_verdict;
mod report;
mod resource;
mod retry;
mod schedule;
mod work_queue;
mod worker;

pub use attempt::Attempt;
pub use attempt_error::{AttemptError, RunnerError};
pub use builder::Runner;
pub use interrupt::InterruptHandle;
pub use job_sender::JobSender;
#[cfg(feature = "journal")]
pub use journal::JournalError;
pub use report::{AttemptErrors, Finished, RunReport};
pub use resource::Resource;
pub use retry::{Retry, Verdict};
