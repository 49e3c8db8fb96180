//! The command `exec` runs for each line: its words, with `{}` standing for the line.

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

    /// The words for `line`: every `{}` replaced by it, or it added at the end.
    pub fn words_for(&self, line: &str) -> Vec<String> {
        let mut words: Vec<String> = self
            .words
            .iter()
            .map(|word| word.replace(PLACEHOLDER, line))
            .collect();
        if self.appends_line {
            words.push(line.to_owned());
        }
        words
    }

    /// The process to start for `line` (run directly, not through a shell).
    pub fn command_for(&self, line: &str) -> Command {
        let words = self.words_for(line);
        let mut command = Command::new(&words[0]);
        command.args(&words[1..]);
        command
    }

    /// The program's name, for messages.
    pub fn program(&self) -> &str {
        &self.words[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(words: &[&str]) -> CommandTemplate {
        CommandTemplate::new(words.iter().map(|word| (*word).to_owned()).collect())
    }

    #[test]
    fn every_placeholder_takes_the_line() {
        let words = template(&["cp", "{}", "backup/{}.bak"]).words_for("a b");
        assert_eq!(words, vec!["cp", "a b", "backup/a b.bak"]);
    }

    #[test]
    fn without_a_placeholder_the_line_comes_last() {
        assert_eq!(
            template(&["echo", "-n"]).words_for("x"),
            vec!["echo", "-n", "x"]
        );
    }
}
