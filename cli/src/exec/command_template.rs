//! The command `exec` runs for each line: its words, with `{}` standing for the line.

use std::ffi::OsString;
use std::process::Command;

/// A command and its arguments; every `{}` in them stands for the input line. Without any `{}`,
/// the line is added as the last argument (as xargs and GNU parallel do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandTemplate {
    words: Vec<String>,
    appends_line: bool,
}

/// What stands for the input line in a template.
const PLACEHOLDER: &str = "{}";

impl CommandTemplate {
    /// The template of `words`: the program, then its arguments. `words` must not be empty
    /// (the command line requires a command).
    pub fn new(words: Vec<String>) -> CommandTemplate {
        let appends_line = !words.iter().any(|word| word.contains(PLACEHOLDER));
        CommandTemplate {
            words,
            appends_line,
        }
    }

    /// The words for `line` (its bytes, UTF-8 or not): every `{}` replaced by it, or it added
    /// at the end.
    pub fn words_for(&self, line: &[u8]) -> Vec<OsString> {
        let mut words: Vec<OsString> = self
            .words
            .iter()
            .map(|word| {
                let mut bytes = Vec::with_capacity(word.len() + line.len());
                for (position, part) in word.split(PLACEHOLDER).enumerate() {
                    if position > 0 {
                        bytes.extend_from_slice(line);
                    }
                    bytes.extend_from_slice(part.as_bytes());
                }
                os_string(bytes)
            })
            .collect();
        if self.appends_line {
            words.push(os_string(line.to_vec()));
        }
        words
    }

    /// The process to start for `line` (run directly, not through a shell).
    pub fn command_for(&self, line: &[u8]) -> Command {
        let words = self.words_for(line);
        let mut command = Command::new(&words[0]);
        command.args(&words[1..]);
        command
    }

    /// The program's name, for messages.
    pub fn program(&self) -> &str {
        &self.words[0]
    }

    /// The words as given, for telling one command's journal records from another's.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

/// Bytes as an argument: as they are on unix; elsewhere (where arguments are UTF-16) as text,
/// invalid sequences replaced.
#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(words: &[&str]) -> CommandTemplate {
        CommandTemplate::new(words.iter().map(|word| (*word).to_owned()).collect())
    }

    #[test]
    fn every_placeholder_takes_the_line() {
        let words = template(&["cp", "{}", "backup/{}.bak"]).words_for(b"a b");
        assert_eq!(words, vec!["cp", "a b", "backup/a b.bak"]);
    }

    #[test]
    fn without_a_placeholder_the_line_comes_last() {
        assert_eq!(
            template(&["echo", "-n"]).words_for(b"x"),
            vec!["echo", "-n", "x"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_line_that_is_not_utf8_is_passed_as_its_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let words = template(&["touch", "out/{}.txt"]).words_for(b"caf\xe9");
        assert_eq!(words[1].as_bytes(), b"out/caf\xe9.txt");
    }
}
