//! What the Runner sees of `exec`: a job per input line, a finished command as its journal
//! records it, and the key that names a line in the journal.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::command_run::CommandOutput;
use super::command_template::CommandTemplate;
use crate::input_lines::InputLine;

/// A line to run the command for (serialised as its bytes; the journal knows it by its
/// [`journal_key`]).
#[derive(Debug)]
pub struct LineJob(pub InputLine);

impl Serialize for LineJob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0.bytes)
    }
}

/// A command that succeeded, with what it wrote. The journal records only that it succeeded:
/// its output was written when it finished, so a rerun skips the line and writes nothing for it
/// (read back, it is an empty output).
#[derive(Clone, Debug, Default)]
pub struct Ran(pub Arc<CommandOutput>);

impl Serialize for Ran {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Ran {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ran, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(Ran::default())
    }
}

/// The key of `line` in the journal: its number and a hash of its bytes and of the command, so
/// that a line of another input or for another command is never taken for it.
pub fn journal_key(template: &CommandTemplate, line: &InputLine) -> String {
    let mut hash = command_hash(template);
    hash.write(&[0]);
    hash.write(&line.bytes);
    format!("line {} {:016x}", line.number, hash.0)
}

/// The journal of a run on stdin, in the current directory: named after the command, so that
/// runs of other commands in the same directory, at the same time, keep journals apart.
pub fn stdin_journal(template: &CommandTemplate) -> PathBuf {
    let hash = command_hash(template).0;
    PathBuf::from(format!("tollgate-exec-{:08x}.journal", hash >> 32))
}

fn command_hash(template: &CommandTemplate) -> Fnv1a64 {
    let mut hash = Fnv1a64::default();
    for word in template.words() {
        hash.write(word.as_bytes());
        hash.write(&[0]);
    }
    hash
}

/// FNV-1a over 64 bits: fixed by its specification, so a key is the same on every machine and
/// release.
struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(number: usize, bytes: &[u8]) -> InputLine {
        InputLine {
            number,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn the_hash_is_fnv1a_64_as_specified() {
        let mut hash = Fnv1a64::default();
        hash.write(b"a");
        assert_eq!(hash.0, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_key_tells_lines_numbers_and_commands_apart() {
        let echo = CommandTemplate::new(vec!["echo".into()]);
        let touch = CommandTemplate::new(vec!["touch".into()]);
        let key = journal_key(&echo, &line(3, b"x"));
        assert!(key.starts_with("line 3 "), "{key}");
        assert_eq!(key, journal_key(&echo, &line(3, b"x")));
        assert_ne!(key, journal_key(&echo, &line(4, b"x")));
        assert_ne!(key, journal_key(&echo, &line(3, b"y")));
        assert_ne!(key, journal_key(&touch, &line(3, b"x")));
    }
}
