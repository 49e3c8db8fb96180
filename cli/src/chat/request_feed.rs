//! Reads the requests file line by line and schedules each request as it is read; a line that is
//! not a request is refused by its number (on stderr and in the output) and the others still go.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};
use tollgate::{JournalError, RunnerError};

use super::chat_job::ChatJob;
use super::request_line::RequestLine;
use super::with_error;
use crate::cli_error::CliError;
use crate::input_lines::InputLine;

/// What the reading found.
#[derive(Debug, Default)]
pub struct ReadCounts {
    /// Non-empty lines read.
    pub requests: usize,
    /// Of those, lines that are not requests.
    pub malformed: usize,
    /// Lines not sent: malformed, or refused when scheduled.
    pub not_sent: usize,
    /// Why reading stopped before the end of the input, if it did.
    pub unreadable: Option<CliError>,
}

/// [`ReadCounts`] shared with the thread that reads.
#[derive(Debug, Default)]
pub struct SharedCounts(Mutex<ReadCounts>);

impl SharedCounts {
    /// Why reading stopped before the end, if it did (taken).
    pub fn take_failure(&self) -> Option<CliError> {
        lock(&self.0).unreadable.take()
    }

    /// The counts so far.
    pub fn take(&self) -> ReadCounts {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// Turns input lines into scheduled requests.
pub struct RequestFeed {
    input: PathBuf,
    model: Option<String>,
    /// Output lines of the requests not sent, for the writer.
    not_sent: mpsc::Sender<Value>,
    stopping: Arc<AtomicBool>,
    counts: Arc<SharedCounts>,
    /// The index of the next request line (counting malformed lines), in the output.
    next_index: usize,
}

impl RequestFeed {
    /// How many lines are scheduled before the run starts, so that the journal can be checked
    /// against them.
    pub const CHECKED_FIRST: usize = 1024;

    /// A feed of the lines of `input` (for messages), with `model` set in requests that name
    /// none; the output lines of requests not sent go to `not_sent`; reading ends once
    /// `stopping` is set.
    pub fn new(
        input: PathBuf,
        model: Option<String>,
        not_sent: mpsc::Sender<Value>,
        stopping: Arc<AtomicBool>,
    ) -> RequestFeed {
        RequestFeed {
            input,
            model,
            not_sent,
            stopping,
            counts: Arc::default(),
            next_index: 0,
        }
    }

    /// The counts of what was read.
    pub fn counts(&self) -> Arc<SharedCounts> {
        Arc::clone(&self.counts)
    }

    /// Reads `lines` until they end, reading fails or the run stops, and schedules each
    /// request with `schedule(key, job)` (the key: its custom_id).
    pub fn feed_from(
        &mut self,
        lines: impl Iterator<Item = Result<InputLine, CliError>>,
        mut schedule: impl FnMut(Option<String>, ChatJob) -> Result<(), RunnerError>,
    ) {
        for line in lines {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            match line {
                Ok(line) => self.feed(&line, &mut schedule),
                Err(err) => {
                    lock(&self.counts.0).unreadable = Some(err);
                    return;
                }
            }
        }
    }

    fn next_index(&mut self) -> usize {
        lock(&self.counts.0).requests += 1;
        self.next_index += 1;
        self.next_index - 1
    }

    fn feed(
        &mut self,
        line: &InputLine,
        schedule: &mut impl FnMut(Option<String>, ChatJob) -> Result<(), RunnerError>,
    ) {
        let index = self.next_index();
        let parsed = line
            .text()
            .map_err(|err| format!("not UTF-8 text ({err} of line {})", line.number))
            .and_then(|text| {
                RequestLine::parse(text, self.model.as_deref()).map_err(|err| err.to_string())
            });
        let request = match parsed {
            Ok(request) => request,
            Err(err) => {
                let mut identity = Map::new();
                identity.insert("index".to_owned(), Value::from(index));
                identity.insert("line".to_owned(), Value::from(line.number));
                lock(&self.counts.0).malformed += 1;
                self.refuse(identity, &err);
                return;
            }
        };
        let request_identity = request.identity(index, line.number);
        // A custom_id names the request in the journal; without one, its body does.
        let key = request.custom_id.map(|id| match id {
            Value::String(id) => id,
            id => id.to_string(),
        });
        let job = ChatJob {
            body: request.body,
            identity: request_identity,
        };
        // Kept to refuse the request with, should scheduling fail.
        let identity = job.identity.clone();
        match schedule(key, job) {
            Ok(()) => {}
            Err(RunnerError::Journal(err)) if journal_fails_the_run(&err) => {
                lock(&self.counts.0).unreadable = Some(CliError::Journal(err));
                self.stopping.store(true, Ordering::SeqCst);
            }
            Err(err) => self.refuse(identity, &err.to_string()),
        }
    }

    /// Says on stderr that the request `identity` is not sent, and why, and writes its output
    /// line.
    fn refuse(&self, identity: Map<String, Value>, message: &str) {
        let line = identity
            .get("line")
            .map_or_else(String::new, |line| format!(":{line}"));
        eprintln!(
            "tollgate chat: {}{line}: {message}; not sent",
            self.input.display()
        );
        lock(&self.counts.0).not_sent += 1;
        self.not_sent
            .send(with_error(identity, message, None, 0))
            .ok();
    }
}

/// Whether `err`, met while a request is scheduled or run, is the journal's own failure (damaged,
/// unreadable, in use: every request is concerned, the run stops with it) rather than the
/// request's (a custom_id given twice, say: that request alone is refused).
pub fn journal_fails_the_run(err: &JournalError) -> bool {
    !matches!(
        err,
        JournalError::DuplicateKey(_)
            | JournalError::Unencodable { .. }
            | JournalError::Undecodable { .. }
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
