//! `tollgate exec`: a command per input line, like xargs, holding a rate.
//!
//! The input is read as the run consumes it and each command's output written as soon as its
//! turn comes: the Runner streams ([`Runner::streaming`]), so memory is bounded by its window
//! of lines whatever the input's size or speed. Each line done is recorded in a journal (next
//! to the input, or `tollgate-exec-HASH.journal` for stdin) before its output is written: rerunning
//! the same command after any stop skips the lines done.

mod children;
mod command_run;
mod command_template;
mod line_job;
mod ordered_output;
mod settings;
mod spool;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use tollgate::{
    AttemptError, InterruptHandle, JobSender, Rate, Resource, Retry, Runner, RunnerError, Verdict,
};

use crate::cli_error::CliError;
use crate::counted::counted;
use crate::input_lines::InputLines;
use crate::run_outcome::RunOutcome;
use crate::stop_signals::{StopSignal, StopSignals};
use children::{Children, Sent};
use command_run::{CommandFailure, CommandRunner};
use line_job::{journal_key, LineJob, Ran};
use ordered_output::OrderedOutput;
pub use settings::{parse_duration, ExecSettings};

/// The failures listed by line in the summary; later ones are counted only.
const FAILURES_LISTED: usize = 20;

/// A line whose command failed every attempt.
struct Failure {
    line: usize,
    message: String,
    attempts: u32,
}

/// Runs `tollgate exec` as `settings` say.
///
/// # Errors
/// [`CliError`] when the input cannot be read, the output cannot be written, the journal
/// cannot be opened, or the stop signals cannot be caught.
pub fn exec(settings: &ExecSettings) -> Result<RunOutcome, CliError> {
    let mut input_lines = InputLines::open(settings.input.as_deref())?;
    let children = Arc::new(Children::default());
    let command = CommandRunner {
        template: settings.template.clone(),
        children: Arc::clone(&children),
        timeout: settings.timeout,
        memory_per_stream: settings.memory_per_stream(),
    };
    // A start counts from the instant its process runs: on a busy machine a burst of spawns
    // takes a while, and a quota counted from the grant would let the next window's starts
    // overlap the last of them.
    let mut runner = Runner::new_with_attempt(move |job: &LineJob, attempt| {
        command.run(&job.0.bytes, || attempt.sent()).map(Ran)
    })
    .resource(starts(settings.rate))
    .max_concurrent(settings.concurrency)
    .retry(
        Retry::exponential(settings.retries).classify(|failure: &CommandFailure| {
            if failure.retryable() {
                Verdict::Retry
            } else {
                Verdict::Fail
            }
        }),
    )
    .streaming(settings.window())
    // A bar drawn on the terminal that also shows the commands' output would be torn by it.
    .progress(!io::stdout().is_terminal());
    // Only a journal of an earlier run has lines to check the first ones against.
    let earlier_journal = settings.journal.as_ref().is_some_and(|path| path.exists());
    if let Some(journal) = &settings.journal {
        runner = runner.journal(journal).map_err(CliError::Journal)?;
    }
    let read = Arc::new(AtomicUsize::new(0));
    if earlier_journal {
        // The first lines (a read-ahead's worth) are scheduled before the run, so that a
        // journal of another command or input is refused before it would be run over (and
        // deleted once every line succeeded), as a journal of an interrupted run is resumed.
        for line in input_lines.by_ref().take(settings.window()) {
            let line = line?;
            let key = journal_key(&settings.template, &line);
            read.fetch_add(1, Ordering::SeqCst);
            runner
                .schedule_keyed(key, LineJob(line))
                .map_err(CliError::Runner)?;
        }
    }
    // A configuration the runner refuses would refuse every line sent to it, one by one.
    runner.check().map_err(|err| match err {
        RunnerError::Journal(err) => CliError::Journal(err),
        err => CliError::Runner(err),
    })?;
    let signals = stop_on_signals(runner.interrupt_handle(), Arc::clone(&children))?;

    let reader = read_into(
        input_lines,
        runner.job_sender(),
        settings.clone(),
        Arc::clone(&read),
    );
    let mut output = OrderedOutput::new(settings.order, io::stdout(), io::stderr());
    let mut tally = Tally::default();
    // Once the output is closed (`| head -1`), the outputs to come would be thrown away: the
    // run stops as on a first Ctrl-C (what runs finishes and is recorded), and says why.
    let output_closed = runner.interrupt_handle();
    let report = runner.run_each(|done| {
        tally.done += 1;
        tally.resumed += usize::from(done.resumed);
        let produced = match (done.result, done.errors.last()) {
            (Some(Ran(output)), _) => (!done.resumed).then(|| Arc::clone(output)),
            (None, last) => {
                tally.failed += 1;
                if tally.failures.len() < FAILURES_LISTED {
                    tally.failures.push(Failure {
                        line: done.job.0.number,
                        message: last.map_or_else(String::new, |err| err.to_string()),
                        attempts: done.attempts,
                    });
                }
                last.and_then(|err| match &**err {
                    AttemptError::Call(failure) => failure.output().cloned(),
                    _ => None,
                })
            }
        };
        output.finished(done.index, produced);
        if output.failed() {
            output_closed.interrupt();
        }
    });
    // Read now: once the runner is gone, a reader left behind is no longer held back.
    let read = read.load(Ordering::SeqCst);
    // A closed output still gets the summary and the journal's message on stderr.
    let written = output.finish().map_err(|source| CliError::Write {
        path: PathBuf::from("-"),
        source,
    });
    drop(runner); // closes the journal

    // Unless interrupted, the run ended once the reader closed its sender: it has ended too.
    // (Interrupted, it may still wait for stdin or for room: it is left behind.)
    if !report.interrupted {
        reader.join().unwrap_or(Ok(()))?;
    }
    eprintln!(
        "tollgate exec: {} of {read} commands finished in {:.1} s: {} succeeded, {} failed{} ({}, {})",
        tally.done,
        report.elapsed.as_secs_f64(),
        tally.done - tally.failed,
        tally.failed,
        match tally.resumed {
            0 => String::new(),
            resumed => format!("; {} done in an earlier run (from the journal)", lines(resumed)),
        },
        counted(report.attempts, "attempt"),
        counted(report.retries, "retry"),
    );
    report_failures(&mut tally);
    let stopped = report.interrupted.then(|| signals.received()).flatten();
    if let Some(failure) = &report.journal_failure {
        eprintln!("tollgate exec: {failure}; stopped");
    }
    let stopped_early = report.interrupted || written.is_err();
    match (&settings.journal, stopped_early || tally.failed > 0) {
        (Some(journal), true) => {
            eprintln!(
            "tollgate exec: {}: the lines done are recorded in {}; to {}, run the same command \
             again{}: it skips them (--no-journal runs every line)",
            match stopped {
                Some(signal) => format!("stopped by {}", signal.name()),
                None if written.is_err() => "stopped: its output is closed".to_owned(),
                None if report.interrupted => "stopped".to_owned(),
                None => format!("{} failed", lines(tally.failed)),
            },
            journal.display(),
            if stopped_early { "resume" } else { "retry the failed lines" },
            if settings.input.is_none() { " on the same input" } else { "" },
        )
        }
        (Some(journal), false) => {
            // Every line is done: the next run of the same command is a new one.
            std::fs::remove_file(journal).ok();
        }
        (None, true) if stopped_early => eprintln!(
            "tollgate exec: stopped without a journal (--no-journal): a rerun runs every line again"
        ),
        (None, _) => {}
    }
    written?;
    Ok(RunOutcome::of(tally.failed, stopped))
}

/// What `run_each` saw.
#[derive(Default)]
struct Tally {
    done: usize,
    failed: usize,
    resumed: usize,
    /// The first failures, for the summary.
    failures: Vec<Failure>,
}

/// The quota of command starts: a start is what it counts, from the instant the command starts
/// (a long command holds a concurrency slot, not the quota).
fn starts(rate: Rate) -> Resource<LineJob, Ran> {
    Resource::new("starts", rate)
        .per_job(|_| 1)
        .counted_at_start()
}

/// On a first stop signal: no command starts any more, the signal is passed on to the commands
/// running (as a terminal's Ctrl-C would reach them) and the run waits for them; on a second,
/// they are killed and `exec` ends at once (what finished is in the journal already).
fn stop_on_signals(
    interrupt: InterruptHandle,
    children: Arc<Children>,
) -> Result<StopSignals, CliError> {
    let killed = Arc::clone(&children);
    StopSignals::install(
        move |signal: StopSignal| {
            interrupt.interrupt();
            // Counted before the signal is passed on: the commands it ends are what it waits for.
            let running = interrupt.calls_in_flight();
            children.send_all(Sent::Forwarded(signal));
            match running {
                0 => eprintln!("tollgate exec: {}: stopping", signal.name()),
                running => eprintln!(
                    "tollgate exec: {}: stopping; waiting for {} still running (passed {} on \
                     to them); press Ctrl-C again to stop now",
                    signal.name(),
                    counted(running as u64, "command"),
                    signal.name(),
                ),
            }
        },
        move |_| killed.send_all(Sent::Kill),
    )
}

/// Reads `lines` on a thread of their own and sends each to the run, keyed for the journal (the
/// send waits while the run's window is full); the sender closes when the input ends (or cannot
/// be read: the error is the thread's result). `read` counts the lines sent.
fn read_into(
    lines: InputLines,
    sender: JobSender<LineJob>,
    settings: ExecSettings,
    read: Arc<AtomicUsize>,
) -> JoinHandle<Result<(), CliError>> {
    thread::spawn(move || {
        for line in lines {
            let line = line?;
            let key = journal_key(&settings.template, &line);
            read.fetch_add(1, Ordering::SeqCst);
            sender.schedule_keyed(key, LineJob(line));
        }
        sender.close();
        Ok(())
    })
}

/// Lists the first lines whose command failed every attempt, in line order.
fn report_failures(tally: &mut Tally) {
    tally.failures.sort_by_key(|failure| failure.line);
    for failure in &tally.failures {
        eprintln!(
            "  line {}: {} (after {})",
            failure.line,
            failure.message,
            counted(u64::from(failure.attempts), "attempt")
        );
    }
    if tally.failed > tally.failures.len() {
        eprintln!("  and {} more", tally.failed - tally.failures.len());
    }
}

/// "1 line", "2 lines".
fn lines(count: usize) -> String {
    counted(count as u64, "line")
}
