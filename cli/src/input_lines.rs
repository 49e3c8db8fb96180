//! The jobs' input: the non-empty lines of a file or of stdin, with their line numbers.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::cli_error::CliError;

/// A non-empty line of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLine {
    /// Its line number in the input, from 1.
    pub number: usize,
    /// The line, without its line ending.
    pub text: String,
}

/// The lines of an input, read as they come (from a pipe, as the writer writes them).
pub struct InputLines {
    path: PathBuf,
    lines: io::Lines<Box<dyn BufRead + Send>>,
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
            lines: reader.lines(),
            number: 0,
        }
    }
}

impl Iterator for InputLines {
    type Item = Result<InputLine, CliError>;

    /// The next non-empty line. Lines that hold only whitespace are skipped (as xargs does); a
    /// `\r` before the `\n` and a UTF-8 byte-order mark before the first line are dropped. A line that is not UTF-8 is a [`CliError::Input`]
    /// naming its number.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            self.number += 1;
            let line = match line {
                Ok(line) => line,
                Err(err) => {
                    let source = io::Error::new(err.kind(), format!("line {}: {err}", self.number));
                    return Some(Err(CliError::Input {
                        path: self.path.clone(),
                        source,
                    }));
                }
            };
            let text = line.strip_suffix('\r').unwrap_or(&line);
            // A byte-order mark (written by some Windows editors) is not part of the first line.
            let text = match self.number {
                1 => text.strip_prefix('\u{feff}').unwrap_or(text),
                _ => text,
            };
            if !text.trim().is_empty() {
                return Some(Ok(InputLine {
                    number: self.number,
                    text: text.to_owned(),
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
            .map(|line| (line.number, line.text.as_str()))
            .collect();
        assert_eq!(numbered, vec![(1, "a"), (4, "b"), (5, "c")]);
    }

    #[test]
    fn a_line_that_is_not_utf8_names_its_number() {
        let err = lines_of(b"ok\n\xff\xfe\n").nth(1).unwrap().unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read in: line 2:"),
            "{err}"
        );
    }
}
