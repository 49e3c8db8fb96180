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

/// Reads every non-empty line of `path`, or of stdin for `None` or `-`. Lines that hold only
/// whitespace are skipped (as xargs does); a `\r` before the `\n` is dropped.
///
/// # Errors
/// [`CliError::Input`] when the file cannot be opened or a line is not UTF-8.
pub fn read_input_lines(path: Option<&Path>) -> Result<Vec<InputLine>, CliError> {
    let stdin = Path::new("-");
    let path = path.unwrap_or(stdin);
    let failed = |source: io::Error| CliError::Input {
        path: path.to_path_buf(),
        source,
    };
    let reader: Box<dyn BufRead> = if path == stdin {
        Box::new(io::stdin().lock())
    } else {
        Box::new(BufReader::new(File::open(path).map_err(failed)?))
    };
    non_empty_lines(reader).map_err(failed)
}

/// The name a summary gives the input.
pub fn input_name(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from("-"), Path::to_path_buf)
}

fn non_empty_lines(reader: impl BufRead) -> io::Result<Vec<InputLine>> {
    let mut lines = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line =
            line.map_err(|err| io::Error::new(err.kind(), format!("line {}: {err}", index + 1)))?;
        let text = line.strip_suffix('\r').unwrap_or(&line);
        if !text.trim().is_empty() {
            lines.push(InputLine {
                number: index + 1,
                text: text.to_owned(),
            });
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_skipped_and_numbers_kept() {
        let lines = non_empty_lines("a\n\n  \nb\r\nc".as_bytes()).unwrap();
        let numbered: Vec<(usize, &str)> = lines
            .iter()
            .map(|line| (line.number, line.text.as_str()))
            .collect();
        assert_eq!(numbered, vec![(1, "a"), (4, "b"), (5, "c")]);
    }

    #[test]
    fn a_line_that_is_not_utf8_names_its_number() {
        let err = non_empty_lines(&b"ok\n\xff\xfe\n"[..]).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }
}
