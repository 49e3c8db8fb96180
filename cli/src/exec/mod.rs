//! `tollgate exec`: a command per input line, like xargs, holding a rate.

mod command_run;
mod command_template;
mod ordered_output;

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use clap::ArgMatches;
use tollgate::{AttemptError, JobSender, Rate, Resource, Retry, Runner, Verdict};

use crate::cli_error::CliError;
use crate::input_lines::{input_name, InputLine, InputLines};
use crate::run_outcome::RunOutcome;
use crate::stop_signals::StopSignals;
use command_run::{run_command, CommandFailure, CommandOutput};
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
    let input_lines = InputLines::open(input)?;

    let mut runner = Runner::new(move |line: &String| run_command(&template, line))
        .resource(starts(rate))
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
    let interrupt = runner.interrupt_handle();
    let signals = StopSignals::install(move |_| interrupt.interrupt(), |_| {})?;

    // Lines run as they are read (a pipe may bring them slowly); `read[i]` is job i's line.
    let read = ReadLines::default();
    let reader = read_into(input_lines, runner.job_sender(), read.clone());
    let mut output = OrderedOutput::new(order, io::stdout(), io::stderr());
    let mut finished = Vec::new();
    let mut failures = Vec::new();
    let report = runner.run_each(|done| {
        if finished.len() <= done.index {
            finished.resize(done.index + 1, false);
        }
        finished[done.index] = true;
        let produced = match (done.result, done.errors.last()) {
            (Some(output), _) => output.clone(),
            (None, last) => {
                failures.push(Failure {
                    line: read.lock()[done.index].number,
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

    // Unless interrupted, the run ended once the reader closed its sender: it has ended too.
    // (Interrupted, it may still wait for stdin: it is left behind.)
    if !report.interrupted {
        reader.join().unwrap_or(Ok(()))?;
    }
    let lines = read.lock().clone();
    finished.resize(lines.len(), false);
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
    report_failures(&mut failures);
    if report.interrupted {
        report_interruption(input, &lines, &finished, report.elapsed)?;
    }
    Ok(RunOutcome::of(
        failures.len(),
        report.interrupted.then(|| signals.received()).flatten(),
    ))
}

/// The quota of command starts: an exact window holds "at most N per period" however the starts
/// fall; a rate given with a burst asks for even spacing, which GCRA gives.
fn starts(rate: Rate) -> Resource<String, CommandOutput> {
    let starts = Resource::new("starts", rate).per_job(|_| 1);
    if rate.capacity() == rate.quantity() {
        starts
    } else {
        starts.smoothed()
    }
}

/// Lists the lines whose command failed every attempt, in line order.
fn report_failures(failures: &mut [Failure]) {
    failures.sort_by_key(|failure| failure.line);
    for failure in failures.iter() {
        eprintln!(
            "  line {}: {} (after {} attempts)",
            failure.line, failure.message, failure.attempts
        );
    }
}

/// The lines read so far, shared between the reading thread and the run.
#[derive(Clone, Default)]
struct ReadLines(Arc<Mutex<Vec<InputLine>>>);

impl ReadLines {
    fn lock(&self) -> MutexGuard<'_, Vec<InputLine>> {
        // A panic while holding the lock cannot leave the list half-pushed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads `lines` on a thread of their own, recording each in `read` and sending it to the run;
/// the sender closes when the input ends (or cannot be read: the error is the thread's result).
fn read_into(
    lines: InputLines,
    sender: JobSender<String>,
    read: ReadLines,
) -> JoinHandle<Result<(), CliError>> {
    thread::spawn(move || {
        for line in lines {
            let line = line?;
            let text = line.text.clone();
            read.lock().push(line);
            sender.schedule(text);
        }
        sender.close();
        Ok(())
    })
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
        "tollgate exec: interrupted after {:.1} s; the {left} lines of {} read and not \
         finished are in {path}; to resume, run the same command with --input {path}",
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
