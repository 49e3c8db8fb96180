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
    /// The file cannot be opened or created as a journal: unreadable, or not a journal (another
    /// kind of file, an empty file, a journal of another format). A damaged journal is
    /// [`Corrupt`](JournalError::Corrupt).
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
    /// The file is damaged: an entry (its key or its content) fails its checksum, or the store
    /// failed on damaged data (it reported corruption, or panicked: caught, and nothing is
    /// printed). Found when the journal is opened (every entry is checked then), when a job is
    /// looked up, or when finished jobs are committed; after it, the journal refuses every
    /// later read and commit with the same error.
    Corrupt {
        /// The journal's file.
        path: PathBuf,
        /// The damaged entry's key, as stored (a damaged key is shown damaged), when the damage
        /// is in one entry; `None` when the store's own structures are damaged.
        key: Option<String>,
        /// The job's index in the batch, when the damage was found looking that job up.
        index: Option<usize>,
        /// What was found: "its checksum fails", or what the store reported.
        reason: String,
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
    /// is paid for whose result cannot be kept. (Damaged data is
    /// [`Corrupt`](JournalError::Corrupt).)
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
            JournalError::Corrupt {
                path,
                key,
                index,
                reason,
            } => {
                let path = path.display();
                match (index, key) {
                    (Some(index), Some(key)) => write!(
                        f,
                        "the entry of job {index} (key {key:?}) in the journal {path} is damaged"
                    ),
                    (None, Some(key)) => write!(
                        f,
                        "the entry stored under the key {key:?} in the journal {path} is damaged"
                    ),
                    (_, None) => write!(f, "the journal {path} is damaged"),
                }?;
                write!(f, " ({reason}); delete the journal to start over")
            }
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
