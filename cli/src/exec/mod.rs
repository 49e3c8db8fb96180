//! `tollgate exec`: a command per input line, like xargs, holding a rate.

mod command_run;
mod command_template;
mod ordered_output;

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ArgMatches;
use tollgate::{AttemptError, Rate, Resource, Retry, Runner, Verdict};

use crate::cli_error::CliError;
use crate::input_lines::{input_name, read_input_lines, InputLine};
use crate::run_outcome::RunOutcome;
use command_run::{run_command, CommandFailure};
use command_template::CommandTemplate;
use ordered_output::{OrderedOutput, OutputOrder};

/// A line whose command failed every attempt.
struct Failure {
    line: usize,
    message: String,
    attempts: u32,
}

/// Runs `tollgate exec` as `args` say.
///
/// # Errors
/// [`CliError`] when the input cannot be read, the output cannot be written, or Ctrl-C cannot
/// be caught.
pub fn exec(args: &ArgMatches) -> Result<RunOutcome, CliError> {
    let rate = *args.get_one::<Rate>("rate").expect("--rate is required");
    let concurrency = *args.get_one::<u64>("concurrency").expect("has a default");
    let retries = *args.get_one::<u32>("retries").expect("has a default");
    let order = if args.get_flag("as-completed") {
        OutputOrder::Completion
    } else {
        OutputOrder::Input
    };
    let input = args.get_one::<PathBuf>("input").map(PathBuf::as_path);
    let words = args
        .get_many::<String>("command")
        .expect("COMMAND is required");
    let template = CommandTemplate::new(words.cloned().collect());
    let lines = read_input_lines(input)?;

    // An exact window holds "at most N per period" however the starts fall; a rate given with a
    // burst asks for even spacing, which GCRA gives.
    let starts = Resource::new("starts", rate).per_job(|_| 1);
    let starts = if rate.capacity() == rate.quantity() {
        starts
    } else {
        starts.smoothed()
    };
    let mut runner = Runner::new(move |line: &String| run_command(&template, line))
        .resource(starts)
        .max_concurrent(usize::try_from(concurrency).unwrap_or(usize::MAX))
        .retry(
            Retry::exponential(retries).classify(|failure: &CommandFailure| {
                if failure.retryable() {
                    Verdict::Retry
                } else {
                    Verdict::Fail
                }
            }),
        )
        // A bar drawn on the terminal that also shows the commands' output would be torn by it.
        .progress(!io::stdout().is_terminal());
    runner.schedule_all(lines.iter().map(|line| line.text.clone()))?;
    runner
        .interrupt_handle()
        .on_ctrl_c()
        .map_err(|err| CliError::CtrlC(err.to_string()))?;

    let mut output = OrderedOutput::new(order, io::stdout(), io::stderr());
    let mut finished = vec![false; lines.len()];
    let mut failures = Vec::new();
    let report = runner.run_each(|done| {
        finished[done.index] = true;
        let produced = match (done.result, done.errors.last()) {
            (Some(output), _) => output.clone(),
            (None, last) => {
                failures.push(Failure {
                    line: lines[done.index].number,
                    message: last.map_or_else(String::new, |err| err.to_string()),
                    attempts: done.attempts,
                });
                last.and_then(|err| match &**err {
                    AttemptError::Call(CommandFailure::Exited { output, .. }) => {
                        Some(output.clone())
                    }
                    _ => None,
                })
                .unwrap_or_default()
            }
        };
        output.finished(done.index, produced);
    });
    output.finish().map_err(|source| CliError::Write {
        path: PathBuf::from("-"),
        source,
    })?;

    let done = finished.iter().filter(|done| **done).count();
    eprintln!(
        "tollgate exec: {done} of {} commands finished in {:.1} s: {} succeeded, {} failed \
         ({} attempts, {} retries)",
        lines.len(),
        report.elapsed.as_secs_f64(),
        done - failures.len(),
        failures.len(),
        report.attempts,
        report.retries,
    );
    for failure in &failures {
        eprintln!(
            "  line {}: {} (after {} attempts)",
            failure.line, failure.message, failure.attempts
        );
    }
    if report.interrupted {
        report_interruption(input, &lines, &finished, report.elapsed)?;
    }
    Ok(RunOutcome::of(failures.len(), report.interrupted))
}

/// Writes the lines not finished to a file next to the input and says how to resume.
fn report_interruption(
    input: Option<&Path>,
    lines: &[InputLine],
    finished: &[bool],
    elapsed: Duration,
) -> Result<(), CliError> {
    let remaining_path = remaining_path(input);
    let remaining: String = lines
        .iter()
        .zip(finished)
        .filter(|(_, done)| !**done)
        .map(|(line, _)| format!("{}\n", line.text))
        .collect();
    fs::write(&remaining_path, remaining).map_err(|source| CliError::Write {
        path: remaining_path.clone(),
        source,
    })?;
    let left = finished.iter().filter(|done| !**done).count();
    eprintln!(
        "tollgate exec: interrupted after {:.1} s; the {left} lines of {} not finished are in \
         {path}; to resume, run the same command with --input {path}",
        elapsed.as_secs_f64(),
        input_name(input).display(),
        path = remaining_path.display(),
    );
    Ok(())
}

/// Where the lines not finished go: `FILE.remaining` next to the input file, or
/// `tollgate-exec.remaining` in the current directory for stdin.
fn remaining_path(input: Option<&Path>) -> PathBuf {
    match input {
        Some(path) if path != Path::new("-") => {
            let mut name = path.as_os_str().to_owned();
            name.push(".remaining");
            PathBuf::from(name)
        }
        _ => PathBuf::from("tollgate-exec.remaining"),
    }
}
