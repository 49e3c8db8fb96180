//! A damaged journal is a typed error naming the file, and the entry where one entry is damaged:
//! never a silent rerun of finished jobs, never a panic, and nothing printed by the panic hook
//! (the store, redb, panics on some damaged pages; the journal catches that quietly).
#![cfg(feature = "journal")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tollgate::{JournalError, Runner, RunnerError};

use crate::support::test_name;

/// A fresh directory for one test's journal.
fn journal_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-journal-damage-{}-{test}",
        std::process::id()
    ));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.journal")
}

/// A journal holding the keyed jobs `keys`, each finished with its key's length.
fn fill_keyed(path: &Path, keys: &[&str]) {
    let mut runner = Runner::new(|job: &String| Ok::<usize, String>(job.len()))
        .journal(path)
        .unwrap();
    for key in keys {
        runner.schedule_keyed(*key, (*key).to_owned()).unwrap();
    }
    assert!(runner.run().failures().next().is_none());
}

/// Replaces every copy of `from` in the file (the store may keep older copies of a page) by
/// `to`, of the same length; returns how many it replaced.
fn replace_everywhere(path: &Path, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let mut replaced = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        bytes[start..start + to.len()].copy_from_slice(to);
        replaced += 1;
        at = start + from.len();
    }
    std::fs::write(path, bytes).unwrap();
    replaced
}

/// Reruns the keyed jobs `keys` on the journal at `path`: the error it gives (from `journal`, a
/// `schedule_keyed`, or the run's journal failure), and how many jobs were called.
fn rerun_keyed(path: &Path, keys: &[&str]) -> (Option<JournalError>, u32) {
    let calls = AtomicU32::new(0);
    let runner = Runner::new(|job: &String| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<usize, String>(job.len())
    })
    .journal(path);
    let mut runner = match runner {
        Ok(runner) => runner,
        Err(err) => return (Some(err), 0),
    };
    for key in keys {
        match runner.schedule_keyed(*key, (*key).to_owned()) {
            Ok(_) => {}
            Err(RunnerError::Journal(err)) => return (Some(err), calls.load(Ordering::SeqCst)),
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let report = runner.run();
    let failure = report.journal_failure.clone();
    drop(runner);
    (failure, calls.load(Ordering::SeqCst))
}

#[test]
fn one_damaged_byte_in_a_stored_key_is_corrupt_naming_that_key_and_calls_nothing() {
    let keys = ["alpha", "bravo", "charlie"];
    for (damaged, to) in [("key/bravo", "key/bravx"), ("key/alpha", "kex/alpha")] {
        let path = journal_path(&format!("damaged-key-{to}"));
        fill_keyed(&path, &keys);
        assert!(replace_everywhere(&path, damaged.as_bytes(), to.as_bytes()) > 0);
        let (error, calls) = rerun_keyed(&path, &keys);
        assert_eq!(calls, 0, "a finished job was called again ({error:?})");
        match error {
            Some(JournalError::Corrupt {
                path: named, key, ..
            }) => {
                assert_eq!(named, path);
                assert_eq!(
                    key.as_deref(),
                    Some(to),
                    "the damaged entry's key, as stored"
                );
            }
            other => panic!("{damaged} stored as {to}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn one_damaged_byte_in_a_jobs_hash_key_is_corrupt_too() {
    let path = journal_path("damaged-hash-key");
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * x))
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..4).unwrap();
    runner.run();
    drop(runner);
    // The first hash key in the file: `hash/`, 32 hex digits (then its occurrence).
    let bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(5).position(|w| w == b"hash/").unwrap();
    let key = bytes[at..at + 37].to_vec();
    let mut damaged = key.clone();
    damaged[10] = if damaged[10] == b'0' { b'1' } else { b'0' };
    assert!(replace_everywhere(&path, &key, &damaged) > 0);

    let calls = AtomicU32::new(0);
    let opened = Runner::new(|x: &u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<u64, String>(x * x)
    })
    .journal(&path);
    let error = match opened {
        Err(err) => err,
        Ok(mut rerun) => match rerun.schedule_all(0..4) {
            Err(RunnerError::Journal(err)) => err,
            Err(other) => panic!("unexpected {other}"),
            Ok(_) => match rerun.run().journal_failure {
                Some(err) => err,
                None => panic!("rerun with a damaged key: no error, {calls:?} calls"),
            },
        },
    };
    assert!(
        matches!(&error, JournalError::Corrupt { key: Some(key), .. } if key.as_bytes().starts_with(&damaged)),
        "{error:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn an_empty_file_is_not_a_journal() {
    let path = journal_path("empty");
    std::fs::write(&path, b"").unwrap();
    match Runner::new(|x: &u64| Ok::<u64, String>(*x)).journal(&path) {
        Err(err @ JournalError::Open { .. }) => {
            assert!(err.to_string().contains("not a journal"), "{err}");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        Err(other) => panic!("expected Open, got {other:?}"),
        Ok(_) => panic!("an empty file was taken as a new journal"),
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "the file was written"
    );
}

/// Where [`damage_sweep_child`] finds the pristine journal it damages.
const SWEEP_VARIABLE: &str = "TOLLGATE_TEST_DAMAGE_SWEEP";

/// What a rerun on a damaged copy gave, in one word (an error's variant, and whether the store
/// failed on the damage).
fn sweep_outcome(path: &Path) -> String {
    let kind = |err: &dyn std::fmt::Debug| {
        let text = format!("{err:?}");
        let variant: String = text.chars().take_while(|c| c.is_alphanumeric()).collect();
        if text.contains("the store could not read its damaged data") {
            format!("{variant}(store)")
        } else {
            variant
        }
    };
    let mut runner = match Runner::new(|x: &u64| Ok::<u64, String>(x * x)).journal(path) {
        Ok(runner) => runner,
        Err(err) => return kind(&err),
    };
    if let Err(err) = runner.schedule_all(0..8) {
        return match err {
            RunnerError::Journal(err) => kind(&err),
            other => format!("schedule: {other}"),
        };
    }
    let report = runner.run();
    match &report.journal_failure {
        Some(err) => kind(err),
        None if report.results == (0..8).map(|x| Some(x * x)).collect::<Vec<_>>() => {
            "clean".to_owned()
        }
        None => format!("wrong results {:?}", report.results),
    }
}

/// The bytes to flip: every 97th of the file (headers, pages and free space alike), and densely
/// the page that holds the entries, where the store fails on most of the damage (its header and
/// key offsets first).
fn bytes_to_flip(pristine: &[u8]) -> Vec<usize> {
    const PAGE: usize = 4096;
    let entries = pristine.windows(5).position(|w| w == b"hash/").unwrap() / PAGE * PAGE;
    let mut at: Vec<usize> = (0..pristine.len()).step_by(97).collect();
    at.extend((entries..entries + 256).step_by(3));
    at.extend((entries + 256..entries + PAGE).step_by(13));
    at.sort_unstable();
    at.dedup();
    at
}

/// The child side of [`damaging_any_byte_is_a_typed_error_and_prints_no_panic`]: a no-op unless
/// run by it. Flips bytes of the pristine journal one at a time, prints each outcome.
#[test]
fn damage_sweep_child() {
    let Ok(pristine) = std::env::var(SWEEP_VARIABLE) else {
        return;
    };
    let pristine = std::fs::read(pristine).unwrap();
    let copy = journal_path("sweep-copy");
    for at in bytes_to_flip(&pristine) {
        let mut bytes = pristine.clone();
        bytes[at] = !bytes[at];
        std::fs::write(&copy, &bytes).unwrap();
        println!("OUTCOME {at} {}", sweep_outcome(&copy));
    }
}

#[test]
fn damaging_any_byte_is_a_typed_error_and_prints_no_panic() {
    let path = journal_path("sweep");
    let mut runner = Runner::new(|x: &u64| Ok::<u64, String>(x * x))
        .journal(&path)
        .unwrap();
    runner.schedule_all(0..8).unwrap();
    runner.run();
    drop(runner);
    let output = Command::new(std::env::current_exe().unwrap())
        .arg(test_name(module_path!(), "damage_sweep_child"))
        .args(["--exact", "--nocapture"])
        .env(SWEEP_VARIABLE, &path)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the sweep failed:\n{stderr}");
    let outcomes: Vec<(usize, String)> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("OUTCOME "))
        .map(|line| {
            let (at, outcome) = line.split_once(' ').unwrap();
            (at.parse().unwrap(), outcome.to_owned())
        })
        .collect();
    let mut tally = std::collections::BTreeMap::<&str, usize>::new();
    for (_, outcome) in &outcomes {
        *tally.entry(outcome.as_str()).or_default() += 1;
    }
    eprintln!("{} flipped bytes: {tally:?}", outcomes.len());
    assert!(outcomes.len() > 1_000, "{stdout}");
    // The store did fail on some of the damage: the quiet path is exercised.
    assert!(
        outcomes
            .iter()
            .any(|(_, outcome)| outcome.ends_with("(store)")),
        "{tally:?}"
    );
    for (at, outcome) in &outcomes {
        assert!(
            matches!(
                outcome.as_str(),
                "clean" | "Open" | "Corrupt" | "Corrupt(store)"
            ),
            "byte {at} flipped: {outcome} (Io is for disk errors)"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "the panic hook printed:\n{}",
        &stderr[..stderr.len().min(3_000)]
    );
}
