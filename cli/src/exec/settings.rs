//! `exec`'s flags, parsed once into typed settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ArgMatches;
use tollgate::Rate;

use super::command_template::CommandTemplate;
use super::line_job::stdin_journal;
use super::ordered_output::OutputOrder;

/// What `tollgate exec` was asked to do.
#[derive(Clone, Debug)]
pub struct ExecSettings {
    /// Most command starts per period.
    pub rate: Rate,
    /// Most commands running at once.
    pub concurrency: usize,
    /// Retries of a command that fails.
    pub retries: u32,
    /// The order outputs are written in.
    pub order: OutputOrder,
    /// The input file; `None` for stdin.
    pub input: Option<PathBuf>,
    /// The journal of lines done; `None` with `--no-journal`.
    pub journal: Option<PathBuf>,
    /// How long a command may run before it is killed.
    pub timeout: Option<Duration>,
    /// The command.
    pub template: CommandTemplate,
}

impl ExecSettings {
    /// The settings `args` (exec's, as `command_line` defines them) ask for.
    pub fn from_args(args: &ArgMatches) -> ExecSettings {
        let input = args
            .get_one::<PathBuf>("input")
            .filter(|path| path.as_path() != Path::new("-"))
            .cloned();
        let template = CommandTemplate::new(
            args.get_many::<String>("command")
                .expect("COMMAND is required")
                .cloned()
                .collect(),
        );
        let journal = if args.get_flag("no-journal") {
            None
        } else if let Some(path) = args.get_one::<PathBuf>("journal") {
            Some(path.clone())
        } else {
            Some(match &input {
                Some(path) => {
                    let mut name = path.as_os_str().to_owned();
                    name.push(".journal");
                    PathBuf::from(name)
                }
                None => stdin_journal(&template),
            })
        };
        let concurrency = *args.get_one::<u64>("concurrency").expect("has a default");
        ExecSettings {
            rate: *args.get_one::<Rate>("rate").expect("--rate is required"),
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            retries: *args.get_one::<u32>("retries").expect("has a default"),
            order: if args.get_flag("as-completed") {
                OutputOrder::Completion
            } else {
                OutputOrder::Input
            },
            input,
            journal,
            timeout: args.get_one::<Duration>("timeout").copied(),
            template,
        }
    }

    /// The most lines between the oldest not finished and the newest read: the read-ahead, and
    /// the most outputs held for their turn in input order.
    pub fn window(&self) -> usize {
        self.concurrency.saturating_mul(4).saturating_add(64)
    }

    /// The bytes of each command's stdout and of its stderr kept in memory (the rest goes to a
    /// temporary file): about 32 MB for a whole window of outputs.
    pub fn memory_per_stream(&self) -> usize {
        (32 << 20) / self.window().saturating_mul(2).max(1)
    }
}

/// A duration as `--timeout` takes it: a number with a unit, `ms`, `s`, `m` or `h` (`1.5s`,
/// `500ms`, `2m`), or plain seconds.
///
/// # Errors
/// A message saying what to write instead.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?}: write a duration such as 500ms, 30s, 2m or 1h"
            ))
        }
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write one such as 500ms, 30s, 2m"))?;
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive duration: write one such as 30s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3 days")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("s").is_err());
    }
}
