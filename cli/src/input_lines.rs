//! The jobs' input: the non-empty lines of a file or of stdin, with their line numbers, read
//! as bytes one line at a time (an input of any size, or an endless pipe, holds one line in
//! memory).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::cli_error::CliError;

/// A non-empty line of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLine {
    /// Its line number in the input, from 1.
    pub number: usize,
    /// The line's bytes, without its line ending (not necessarily UTF-8).
    pub bytes: Vec<u8>,
}

impl InputLine {
    /// The line as text.
    ///
    /// # Errors
    /// The line is not UTF-8.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.bytes)
    }
}

/// The lines of an input, read as they come (from a pipe, as the writer writes them).
pub struct InputLines {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    number: usize,
}

impl InputLines {
    /// Opens `path`, or stdin for `None` or `-`.
    ///
    /// # Errors
    /// [`CliError::Input`] when the file cannot be opened.
    pub fn open(path: Option<&Path>) -> Result<InputLines, CliError> {
        let path = input_name(path);
        let reader: Box<dyn BufRead + Send> = if path == Path::new("-") {
            Box::new(BufReader::new(io::stdin()))
        } else {
            let file = File::open(&path).map_err(|source| CliError::Input {
                path: path.clone(),
                source,
            })?;
            Box::new(BufReader::new(file))
        };
        Ok(InputLines::from_reader(path, reader))
    }

    fn from_reader(path: PathBuf, reader: Box<dyn BufRead + Send>) -> InputLines {
        InputLines {
            path,
            reader,
            number: 0,
        }
    }
}

impl Iterator for InputLines {
    type Item = Result<InputLine, CliError>;

    /// The next non-empty line. Lines that hold only whitespace are skipped (as xargs does); a
    /// `\r` before the `\n` and a UTF-8 byte-order mark before the first line are dropped. A
    /// line that cannot be read is a [`CliError::Input`] naming its number.
    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Vec::new();
        loop {
            line.clear();
            self.number += 1;
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => {
                    let source = io::Error::new(err.kind(), format!("line {}: {err}", self.number));
                    return Some(Err(CliError::Input {
                        path: self.path.clone(),
                        source,
                    }));
                }
            }
            let bytes = line.strip_suffix(b"\n").unwrap_or(&line);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            // A byte-order mark (written by some Windows editors) is not part of the first line.
            let bytes = match self.number {
                1 => bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes),
                _ => bytes,
            };
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                return Some(Ok(InputLine {
                    number: self.number,
                    bytes: bytes.to_vec(),
                }));
            }
        }
    }
}

/// The name messages give the input: its path, or `-` for stdin.
pub fn input_name(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from("-"), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &'static [u8]) -> InputLines {
        InputLines::from_reader(PathBuf::from("in"), Box::new(bytes))
    }

    #[test]
    fn blank_lines_are_skipped_and_numbers_kept() {
        let lines: Vec<InputLine> = lines_of(b"a\n\n  \nb\r\nc").map(Result::unwrap).collect();
        let numbered: Vec<(usize, &str)> = lines
            .iter()
            .map(|line| (line.number, line.text().unwrap()))
            .collect();
        assert_eq!(numbered, vec![(1, "a"), (4, "b"), (5, "c")]);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_its_bytes_and_later_lines_follow() {
        let lines: Vec<InputLine> = lines_of(b"\xef\xbb\xbfok\n\xff\xfe\r\nnext\n")
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines[0].text(), Ok("ok"));
        assert_eq!(
            (lines[1].number, lines[1].bytes.as_slice()),
            (2, &b"\xff\xfe"[..])
        );
        assert!(lines[1].text().is_err());
        assert_eq!((lines[2].number, lines[2].text()), (3, Ok("next")));
    }
}
