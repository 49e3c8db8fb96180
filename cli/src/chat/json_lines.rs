//! The output of `chat`: one JSON object per line, each flushed as it is written.

use std::io::{self, Write};

use serde_json::Value;

/// Writes JSON lines, flushing each (a crash loses no line already reported), and keeps the
/// first write error (later lines are skipped) for [`finish`](Self::finish).
pub struct JsonLines<'w> {
    out: &'w mut dyn Write,
    failed: Option<io::Error>,
}

impl<'w> JsonLines<'w> {
    /// Lines written to `out`.
    pub fn new(out: &'w mut dyn Write) -> JsonLines<'w> {
        JsonLines { out, failed: None }
    }

    /// Writes `value` on a line of its own.
    pub fn write(&mut self, value: &Value) {
        if self.failed.is_some() {
            return;
        }
        let written = writeln!(self.out, "{value}").and_then(|()| self.out.flush());
        if let Err(err) = written {
            self.failed = Some(err);
        }
    }

    /// Whether a write failed (the output is closed, say): nothing more will be written.
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The first write error, if any.
    pub fn finish(self) -> io::Result<()> {
        self.failed.map_or(Ok(()), Err)
    }
}
