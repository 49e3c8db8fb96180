//! What a command writes to one stream, kept in memory up to a limit and in an unnamed
//! temporary file beyond it: a command whose output is huge costs disk, not memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// One stream's bytes: the first `limit` in memory, the rest in a temporary file (already
/// removed from its directory on unix, so nothing is left behind even by a `kill -9`).
#[derive(Debug, Default)]
pub struct Spool {
    head: Vec<u8>,
    rest: Option<File>,
}

impl Spool {
    /// Reads `stream` to its end, keeping at most `limit` bytes in memory.
    ///
    /// # Errors
    /// The stream cannot be read, or the temporary file cannot be made or written.
    pub fn capture(mut stream: impl Read, limit: usize) -> io::Result<Spool> {
        let mut spool = Spool::default();
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let read = match stream.read(&mut buffer) {
                Ok(0) => return Ok(spool),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            let bytes = &buffer[..read];
            let room = limit.saturating_sub(spool.head.len()).min(read);
            spool.head.extend_from_slice(&bytes[..room]);
            if room < read {
                if spool.rest.is_none() {
                    spool.rest = Some(unnamed_file()?);
                }
                if let Some(rest) = &mut spool.rest {
                    rest.write_all(&bytes[room..])?;
                }
            }
        }
    }

    /// Whether the stream wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.rest.is_none()
    }

    /// Writes every byte to `out`, in order.
    ///
    /// # Errors
    /// `out` cannot be written, or the temporary file read.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.head)?;
        if let Some(mut rest) = self.rest.as_ref() {
            rest.seek(SeekFrom::Start(0))?;
            io::copy(&mut rest, out)?;
        }
        Ok(())
    }

    /// The bytes, read back whole (for tests and short outputs).
    #[cfg(test)]
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_to(&mut bytes).unwrap();
        bytes
    }

    /// A spool holding `bytes` in memory.
    #[cfg(test)]
    pub fn of(bytes: &[u8]) -> Spool {
        Spool {
            head: bytes.to_vec(),
            rest: None,
        }
    }
}

/// A new temporary file, open for reading and writing, with no name left in the directory.
fn unnamed_file() -> io::Result<File> {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "tollgate-exec-{}-{}.out",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // Unix keeps an open file that has no name; elsewhere the file stays until removed by hand.
    if cfg!(unix) {
        fs::remove_file(&path)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_past_the_limit_goes_to_a_file_and_comes_back_whole() {
        let written: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
        let spool = Spool::capture(written.as_slice(), 1_000).unwrap();
        assert_eq!(spool.head.len(), 1_000);
        assert!(spool.rest.is_some());
        assert_eq!(spool.bytes(), written);
        assert_eq!(spool.bytes(), written, "read back twice");
    }

    #[test]
    fn a_short_output_stays_in_memory() {
        let spool = Spool::capture(&b"hello"[..], 1_000).unwrap();
        assert!(spool.rest.is_none());
        assert_eq!(spool.bytes(), b"hello");
        assert!(Spool::capture(&b""[..], 10).unwrap().is_empty());
    }
}
