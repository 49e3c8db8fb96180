//! The Runner's journal: each finished job's key and outcome in an embedded store (redb),
//! committed durably before the job is reported, so that a rerun after a crash skips it.
//!
//! Here the [`Journal`] itself (open and check a file, key a job, look it up, record finished
//! jobs); `runner_methods.rs` the Runner's methods that use it; `entry.rs` an entry's checksum
//! and a job's hash; `store.rs` the store with its panics contained; `error.rs` its errors.

mod entry;
mod error;
mod runner_methods;
mod store;

pub use error::JournalError;

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use entry::{canonical_json, checked_entry, entry_checksum, fnv1a_128};
use store::{guarded, silence_store_panics, Store};

use super::job_record::JobRecord;
use super::AttemptError;

/// Finished jobs: key → the FNV-1a 128 checksum of the key, a zero byte and the entry (32 hex
/// digits), a space, and the entry: `{"result": …, "attempts": n}` or `{"errors": […],
/// "attempts": n}`. The checksum covers the key too, and every entry is checked when the journal
/// is opened, so a damaged key or entry is an error rather than a wrong result or a finished job
/// called again.
const FINISHED: TableDefinition<&str, &[u8]> = TableDefinition::new("finished_jobs");
/// What the file is: `format` → [`FORMAT`].
const ABOUT: TableDefinition<&str, &str> = TableDefinition::new("tollgate_journal");
/// 3: the checksum covers the key (2 covered the entry only).
const FORMAT: &str = "3";
/// The store's page cache (its default, 1 GiB, would let a long run's journal fill memory).
const CACHE_BYTES: usize = 16 << 20;

/// A job's outcome as a journal recorded it.
struct Recorded<T> {
    /// The result, if the job succeeded.
    result: Option<T>,
    /// Its failed attempts' messages, if it failed for good.
    errors: Vec<String>,
    attempts: u32,
}

/// An open journal, typed for one runner's jobs (`J`), results (`T`) and errors (`E`).
pub(super) struct Journal<J, T, E> {
    path: PathBuf,
    db: Store,
    /// The damage found since it was opened: every later read or commit fails with it, without
    /// going back to the store.
    damaged: Option<JournalError>,
    /// Finished jobs the file held when opened.
    recorded: u64,
    /// Scheduled jobs found in it.
    matched: usize,
    /// Keys given to the jobs scheduled so far.
    keys: HashSet<String>,
    /// How many jobs of each hash were scheduled (the n-th identical job gets its own key).
    occurrences: HashMap<u128, u32>,
    job_bytes: fn(&J) -> serde_json::Result<Vec<u8>>,
    encode: fn(&T) -> serde_json::Result<Value>,
    decode: fn(Value) -> serde_json::Result<T>,
    describe: fn(&AttemptError<E>) -> String,
}

impl<J, T, E> Journal<J, T, E> {
    /// Opens the journal at `path`, creating it if there is none, and checks every entry.
    fn open(path: &Path) -> Result<Journal<J, T, E>, JournalError>
    where
        J: Serialize,
        T: Serialize + DeserializeOwned,
        E: Display,
    {
        let path = path.to_path_buf();
        let opened = |reason: String| JournalError::Open {
            path: path.clone(),
            reason,
        };
        // The store would take an empty file as a new database: it is not a journal (a journal
        // is never empty once created). Opens in this process take turns from the check to the
        // store's creation, so a journal another thread is creating (empty for a moment) is
        // found in use, not empty.
        static OPENING: parking_lot::Mutex<()> = parking_lot::const_mutex(());
        let opening = OPENING.lock();
        if std::fs::metadata(&path).is_ok_and(|file| file.is_file() && file.len() == 0) {
            return Err(opened("the file is empty: not a journal".to_owned()));
        }
        silence_store_panics();
        let corrupt = |reason: String| corrupt_file(&path, reason);
        let db = guarded(|| {
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(&path)
        });
        drop(opening);
        let db =
            db.map_err(corrupt)?
                .map(Store::new)
                .map_err(|err| match redb::Error::from(err) {
                    redb::Error::DatabaseAlreadyOpen => JournalError::InUse { path: path.clone() },
                    redb::Error::Corrupted(reason) => corrupt(reason),
                    err => opened(err.to_string()),
                })?;
        let store_failed = |err: redb::Error| match err {
            redb::Error::Corrupted(reason) => corrupt(reason),
            err => opened(err.to_string()),
        };
        let recorded = guarded(|| Self::check_format(&db))
            .map_err(corrupt)?
            .map_err(store_failed)?
            .map_err(opened)?;
        if let Some(key) = guarded(|| Self::first_damaged_key(&db))
            .map_err(corrupt)?
            .map_err(store_failed)?
        {
            return Err(JournalError::Corrupt {
                path: path.clone(),
                key: Some(key),
                index: None,
                reason: CHECKSUM_FAILS.to_owned(),
            });
        }
        Ok(Journal {
            path: path.clone(),
            db,
            damaged: None,
            recorded,
            matched: 0,
            keys: HashSet::new(),
            occurrences: HashMap::new(),
            job_bytes: |job| serde_json::to_value(job).map(|job| canonical_json(&job)),
            encode: |result| serde_json::to_value(result),
            decode: serde_json::from_value,
            describe: |error| match error {
                AttemptError::Journaled(message) => message.clone(),
                error => error.to_string(),
            },
        })
    }

    /// Checks (or, in a new file, writes) what the file is; the finished jobs it holds. The
    /// inner error: the file is not a journal of this format.
    fn check_format(db: &Database) -> Result<Result<u64, String>, redb::Error> {
        let write = db.begin_write()?;
        let recorded = {
            let mut about = write.open_table(ABOUT)?;
            let format = about.get("format")?.map(|format| format.value().to_owned());
            let finished = write.open_table(FINISHED)?;
            let recorded = redb::ReadableTableMetadata::len(&finished)?;
            match format.as_deref() {
                Some(FORMAT) => {}
                Some(other) => {
                    return Ok(Err(format!(
                        "journal format {other}, expected {FORMAT} (written by another version)"
                    )))
                }
                None if recorded > 0 => return Ok(Err("not a tollgate journal".to_owned())),
                None => {
                    about.insert("format", FORMAT)?;
                }
            }
            recorded
        };
        write.commit()?;
        Ok(Ok(recorded))
    }

    /// The key of the first entry that fails its checksum (its key or its entry damaged), as
    /// stored.
    fn first_damaged_key(db: &Database) -> Result<Option<String>, redb::Error> {
        let read = db.begin_read()?;
        let finished = read.open_table(FINISHED)?;
        for entry in finished.iter()? {
            let (key, stored) = entry?;
            if checked_entry(key.value(), stored.value()).is_none() {
                return Ok(Some(key.value().to_owned()));
            }
        }
        Ok(None)
    }

    /// The key of job `index`: the one given, or a stable hash of the job's JSON encoding
    /// (FNV-1a, 128 bits) with its occurrence among identical jobs.
    fn key_for(
        &mut self,
        index: usize,
        job: &J,
        given: Option<String>,
    ) -> Result<String, JournalError> {
        let key = match given {
            Some(key) => format!("key/{key}"),
            None => {
                let bytes = (self.job_bytes)(job).map_err(|err| JournalError::Unencodable {
                    path: self.path.clone(),
                    index,
                    reason: err.to_string(),
                })?;
                let hash = fnv1a_128(&bytes);
                let occurrence = self.occurrences.entry(hash).or_default();
                *occurrence += 1;
                format!("hash/{hash:032x}/{occurrence}")
            }
        };
        if !self.keys.insert(key.clone()) {
            return Err(JournalError::DuplicateKey(key));
        }
        Ok(key)
    }

    /// Forgets a key given by [`key_for`](Self::key_for) to a job that was then not scheduled
    /// (or, streaming, was handed over and forgotten).
    pub(super) fn release(&mut self, key: &str) {
        self.keys.remove(key);
    }

    /// The schedule was emptied (a batch completed): the next jobs are a new batch.
    pub(super) fn new_batch(&mut self) {
        self.keys.clear();
        self.occurrences.clear();
    }

    /// What the journal recorded for job `index`, if anything.
    fn lookup(&mut self, index: usize, key: &str) -> Result<Option<Recorded<T>>, JournalError> {
        if let Some(damaged) = &self.damaged {
            return Err(damaged.clone());
        }
        if self.recorded == 0 {
            return Ok(None); // an empty journal (this process holds it: no one else writes to it)
        }
        let stored = guarded(|| -> Result<Option<Vec<u8>>, redb::Error> {
            let read = self.db.begin_read()?;
            let finished = read.open_table(FINISHED)?;
            let stored = finished.get(key)?.map(|bytes| bytes.value().to_vec());
            Ok(stored)
        });
        let Some(stored) = self.store_outcome(stored)? else {
            return Ok(None);
        };
        let Some(entry) = checked_entry(key, &stored) else {
            return Err(JournalError::Corrupt {
                path: self.path.clone(),
                key: Some(key.to_owned()),
                index: Some(index),
                reason: CHECKSUM_FAILS.to_owned(),
            });
        };
        let undecodable = |reason: String| JournalError::Undecodable {
            path: self.path.clone(),
            key: key.to_owned(),
            index,
            reason,
        };
        let mut entry: Value =
            serde_json::from_slice(entry).map_err(|err| undecodable(err.to_string()))?;
        let attempts = entry["attempts"]
            .as_u64()
            .unwrap_or(0)
            .min(u64::from(u32::MAX)) as u32;
        let result = match entry.get_mut("result").map(Value::take) {
            Some(value) => Some((self.decode)(value).map_err(|err| undecodable(err.to_string()))?),
            None => None,
        };
        let errors = entry["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|error| error.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        self.matched += 1;
        Ok(Some(Recorded {
            result,
            errors,
            attempts,
        }))
    }

    /// Fails if the journal holds finished jobs and none of the `scheduled` was among them.
    fn check_job_set(&self, scheduled: usize) -> Result<(), JournalError> {
        if self.recorded > 0 && self.matched == 0 && scheduled > 0 {
            return Err(JournalError::OtherJobSet {
                path: self.path.clone(),
                recorded: self.recorded,
                scheduled,
            });
        }
        Ok(())
    }

    /// Records the finished `jobs` in one transaction, durable when this returns. Returns the
    /// indices recorded, and why the others were not (a result that cannot be encoded is left
    /// out; a commit that fails records none).
    fn record<'r>(
        &mut self,
        jobs: impl Iterator<Item = (usize, &'r JobRecord<J, T, E>)>,
    ) -> (Vec<usize>, Option<JournalError>)
    where
        J: 'r,
        T: 'r,
        E: 'r,
    {
        let mut failure = None;
        let mut entries = Vec::new();
        for (index, job) in jobs {
            let entry = match &job.result {
                Some(result) => match (self.encode)(result) {
                    Ok(result) => json!({ "result": result, "attempts": job.attempts }),
                    Err(err) => {
                        failure.get_or_insert(JournalError::Unencodable {
                            path: self.path.clone(),
                            index,
                            reason: err.to_string(),
                        });
                        continue;
                    }
                },
                None => {
                    let errors: Vec<String> = job
                        .errors
                        .iter()
                        .map(|error| (self.describe)(error))
                        .collect();
                    json!({ "errors": errors, "attempts": job.attempts })
                }
            };
            let key = job.journal_key.as_deref().unwrap_or_default();
            let entry = entry.to_string();
            let stored = format!("{:032x} {entry}", entry_checksum(key, entry.as_bytes()));
            entries.push((index, key, stored));
        }
        if entries.is_empty() {
            return (Vec::new(), failure);
        }
        if let Some(damaged) = &self.damaged {
            return (Vec::new(), Some(damaged.clone()));
        }
        let committed = guarded(|| -> Result<(), redb::Error> {
            let write = self.db.begin_write()?;
            {
                let mut table = write.open_table(FINISHED)?;
                for (_, key, stored) in &entries {
                    table.insert(*key, stored.as_bytes())?;
                }
            }
            write.commit()?;
            Ok(())
        });
        match self.store_outcome(committed) {
            Ok(()) => {
                self.recorded += entries.len() as u64;
                (
                    entries.into_iter().map(|(index, _, _)| index).collect(),
                    failure,
                )
            }
            Err(err) => (Vec::new(), Some(err)),
        }
    }

    /// What a guarded call into the store gave: its value, or its failure as a journal error.
    /// Damage (the store panicked, or reported corruption) is [`JournalError::Corrupt`], kept so
    /// that every later call fails with it without going back to the store; any other failure is
    /// [`JournalError::Io`].
    fn store_outcome<R>(
        &mut self,
        outcome: Result<Result<R, redb::Error>, String>,
    ) -> Result<R, JournalError> {
        let damage = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(redb::Error::Corrupted(reason))) | Err(reason) => reason,
            Ok(Err(err)) => {
                return Err(JournalError::Io {
                    path: self.path.clone(),
                    reason: err.to_string(),
                })
            }
        };
        let damaged = corrupt_file(&self.path, damage);
        self.damaged = Some(damaged.clone());
        Err(damaged)
    }
}

/// Why an entry is reported damaged when its checksum fails.
const CHECKSUM_FAILS: &str = "its checksum fails";

/// Damage in the file that no one entry's checksum pins down (the store failed on it).
fn corrupt_file(path: &Path, reason: String) -> JournalError {
    JournalError::Corrupt {
        path: path.to_path_buf(),
        key: None,
        index: None,
        reason,
    }
}
