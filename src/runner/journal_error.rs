use std::error::Error;
use std::fmt;
use std::path::PathBuf;

/// Why a [`Runner`](crate::Runner)'s journal cannot be used (feature `journal`). Each names the
/// file, and the job where one is concerned: nothing is silently run again or dropped.
///
/// ```no_run
/// use tollgate::{JournalError, Runner};
///
/// match Runner::new(|x: &u32| Ok::<u32, String>(*x)).journal("run.journal") {
///     Err(JournalError::InUse { path }) => eprintln!("{} is used by another run", path.display()),
///     Err(err) => eprintln!("{err}"),
///     Ok(_runner) => {}
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "journal")))]
pub enum JournalError {
    /// The file cannot be opened or created as a journal: unreadable, not a journal, or corrupt.
    Open {
        /// The journal's file.
        path: PathBuf,
        /// What the store reported.
        reason: String,
    },
    /// Another process (or runner) has the journal open.
    InUse {
        /// The journal's file.
        path: PathBuf,
    },
    /// The journal holds finished jobs, none of which is among the jobs scheduled: it was
    /// written for another job set (or the jobs' encoding changed).
    OtherJobSet {
        /// The journal's file.
        path: PathBuf,
        /// Finished jobs it holds.
        recorded: u64,
        /// Jobs scheduled.
        scheduled: usize,
    },
    /// A recorded result no longer deserialises into the result type.
    Undecodable {
        /// The journal's file.
        path: PathBuf,
        /// The job's key.
        key: String,
        /// The job's index in the batch.
        index: usize,
        /// What serde reported.
        reason: String,
    },
    /// A recorded entry fails its checksum: the file was damaged.
    Corrupt {
        /// The journal's file.
        path: PathBuf,
        /// The job's key.
        key: String,
        /// The job's index in the batch.
        index: usize,
    },
    /// A job or a result cannot be encoded (serde refused it), so it cannot be recorded.
    Unencodable {
        /// The journal's file.
        path: PathBuf,
        /// The job's index in the batch.
        index: usize,
        /// What serde reported.
        reason: String,
    },
    /// Two jobs were scheduled with this key: one would take the other's result.
    DuplicateKey(String),
    /// Reading or committing failed (a full disk, an I/O error); the run stops so that no call
    /// is paid for whose result cannot be kept.
    Io {
        /// The journal's file.
        path: PathBuf,
        /// What the store reported.
        reason: String,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Open { path, reason } => write!(
                f,
                "cannot open the journal {}: {reason}; give a new path, or delete the file to start over",
                path.display()
            ),
            JournalError::InUse { path } => write!(
                f,
                "the journal {} is open in another run; wait for it or use another file",
                path.display()
            ),
            JournalError::OtherJobSet {
                path,
                recorded,
                scheduled,
            } => write!(
                f,
                "the journal {} holds {recorded} finished jobs, none of them among the {scheduled} scheduled: \
                 it was written for another job set; use another file, or delete it to start over",
                path.display()
            ),
            JournalError::Undecodable {
                path,
                key,
                index,
                reason,
            } => write!(
                f,
                "the result of job {index} (key {key:?}) in the journal {} no longer deserialises: {reason}; \
                 keep the result type compatible, or use a new journal",
                path.display()
            ),
            JournalError::Corrupt { path, key, index } => write!(
                f,
                "the entry of job {index} (key {key:?}) in the journal {} is damaged (its checksum \
                 fails); delete the journal to start over",
                path.display()
            ),
            JournalError::Unencodable {
                path,
                index,
                reason,
            } => write!(
                f,
                "job {index} or its result cannot be recorded in the journal {}: {reason}",
                path.display()
            ),
            JournalError::DuplicateKey(key) => write!(
                f,
                "two jobs are scheduled with the key {key:?}; give each job its own key"
            ),
            JournalError::Io { path, reason } => {
                write!(f, "the journal {} failed: {reason}", path.display())
            }
        }
    }
}

impl Error for JournalError {}
