//! Writing each command's output in one piece, in input order or as the commands complete.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

use super::command_run::CommandOutput;

/// The order in which commands' outputs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputOrder {
    /// In input order: an output waits until every earlier line's command has finished.
    Input,
    /// As each command completes.
    Completion,
}

/// Writes each finished command's stdout and stderr, each in one piece, in its [`OutputOrder`].
/// In input order, the outputs held for an earlier line are at most the runner's streaming
/// window (each a few kilobytes in memory, the rest in a temporary file). The first write error
/// is kept (and later writes skipped) for [`finish`](Self::finish).
pub struct OrderedOutput<O: Write, E: Write> {
    order: OutputOrder,
    /// In input order, the first index not written yet.
    next: usize,
    /// Finished outputs waiting for an earlier index (`None`: a line with nothing to write).
    held: BTreeMap<usize, Option<Arc<CommandOutput>>>,
    stdout: O,
    stderr: E,
    failed: Option<io::Error>,
}

impl<O: Write, E: Write> OrderedOutput<O, E> {
    /// An output writing to `stdout` and `stderr` in `order`.
    pub fn new(order: OutputOrder, stdout: O, stderr: E) -> OrderedOutput<O, E> {
        OrderedOutput {
            order,
            next: 0,
            held: BTreeMap::new(),
            stdout,
            stderr,
            failed: None,
        }
    }

    /// The command of line `index` (in input order, from 0) finished with `output` (`None`:
    /// nothing to write, as for a line done in an earlier run).
    pub fn finished(&mut self, index: usize, output: Option<Arc<CommandOutput>>) {
        match self.order {
            OutputOrder::Completion => self.write(output.as_deref()),
            OutputOrder::Input => {
                self.held.insert(index, output);
                while let Some(output) = self.held.remove(&self.next) {
                    self.write(output.as_deref());
                    self.next += 1;
                }
            }
        }
    }

    /// Whether a write failed (the output is closed, say): nothing more will be written.
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Writes what is still held (after an interrupted run: the outputs that finished after a
    /// line that did not, still in input order) and returns the first write error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        for output in std::mem::take(&mut self.held).into_values() {
            self.write(output.as_deref());
        }
        self.failed.map_or(Ok(()), Err)
    }

    fn write(&mut self, output: Option<&CommandOutput>) {
        let Some(output) = output else { return };
        if self.failed.is_some() {
            return;
        }
        let written = write_flushed(&mut self.stdout, &output.stdout)
            .and_then(|()| write_flushed(&mut self.stderr, &output.stderr));
        if let Err(err) = written {
            self.failed = Some(err);
        }
    }
}

fn write_flushed(out: &mut impl Write, spool: &super::spool::Spool) -> io::Result<()> {
    if spool.is_empty() {
        return Ok(());
    }
    spool.write_to(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::super::spool::Spool;
    use super::*;

    fn said(text: &str) -> Option<Arc<CommandOutput>> {
        Some(Arc::new(CommandOutput {
            stdout: Spool::of(text.as_bytes()),
            stderr: Spool::default(),
        }))
    }

    fn written(order: OutputOrder, finishing: &[usize]) -> String {
        let mut stdout = Vec::new();
        let mut output = OrderedOutput::new(order, &mut stdout, io::sink());
        for &index in finishing {
            output.finished(index, said(&index.to_string()));
        }
        output.finish().unwrap();
        String::from_utf8(stdout).unwrap()
    }

    #[test]
    fn input_order_waits_for_earlier_lines() {
        assert_eq!(written(OutputOrder::Input, &[2, 0, 3, 1]), "0123");
    }

    #[test]
    fn completion_order_writes_at_once() {
        assert_eq!(written(OutputOrder::Completion, &[2, 0, 3, 1]), "2031");
    }

    #[test]
    fn what_follows_a_gap_is_written_at_the_end() {
        assert_eq!(written(OutputOrder::Input, &[3, 0, 2]), "023");
    }

    #[test]
    fn a_line_without_output_takes_its_turn() {
        let mut stdout = Vec::new();
        let mut output = OrderedOutput::new(OutputOrder::Input, &mut stdout, io::sink());
        output.finished(1, said("1"));
        output.finished(0, None);
        output.finish().unwrap();
        assert_eq!(stdout, b"1");
    }
}
