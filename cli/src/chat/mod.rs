//! `tollgate chat`: OpenAI-compatible chat requests from a JSONL file, within RPM and TPM
//! quotas, one JSON line out per request.

mod calls_in_flight;
mod chat_error;
mod chat_job;
mod chat_settings;
mod client;
mod endpoint;
mod json_lines;
mod request_feed;
mod request_line;
mod run_limits;
mod token_estimate;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tollgate::{Attempt, AttemptError, Resource, Retry, Runner, RunnerError};

use crate::cli_error::CliError;
use crate::counted::counted;
use crate::input_lines::{InputLine, InputLines};
use crate::run_outcome::RunOutcome;
use crate::stop_signals::{StopSignal, StopSignals};
use calls_in_flight::CallsInFlight;
use chat_error::ChatError;
use chat_job::ChatJob;
pub use chat_settings::{ChatSettings, Concurrency, RequestTimeout};
use client::{ChatClient, Completion};
pub use endpoint::Endpoint;
use json_lines::JsonLines;
use request_feed::{journal_fails_the_run, RequestFeed};
use run_limits::RunLimits;
use token_estimate::TokenEstimate;

/// What a run of `chat` did.
#[derive(Clone, Debug, Default)]
pub struct ChatSummary {
    /// Requests read (non-empty lines, malformed ones included).
    pub requests: usize,
    /// Requests answered (those taken from the journal included).
    pub answered: usize,
    /// Of those, answers taken from the journal (answered in an earlier run).
    pub resumed: usize,
    /// Requests that failed every attempt, could not be read, or exceed a quota by themselves.
    pub failed: usize,
    /// Of those, lines that are not requests.
    pub malformed: usize,
    /// Requests that reached a server (retries included; not those that could not connect).
    pub sent: u64,
    /// Answers that were a 429 with a wait to honour.
    pub rate_limited: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// What held the run back, and for how long.
    pub limits: RunLimits,
    /// The signal that stopped the run, if one did.
    pub stopped: Option<StopSignal>,
}

/// Runs `tollgate chat` as `settings` say.
///
/// # Errors
/// [`CliError`] when the input cannot be read, stdout cannot be written, there is no API key
/// for a remote endpoint, or the stop signals cannot be caught.
pub fn chat(settings: &ChatSettings) -> Result<RunOutcome, CliError> {
    let lines = InputLines::open(Some(&settings.input))?;
    let summary = run_chat(settings, lines, &mut io::stdout())?;
    eprintln!("tollgate chat: {}", describe(&summary));
    if let Some(limits) = summary.limits.describe() {
        eprintln!("tollgate chat: {limits}");
    }
    if let Some(signal) = summary.stopped {
        match &settings.journal {
            Some(journal) => eprintln!(
                "tollgate chat: stopped by {}; the {} answers are written and kept in the journal \
                 {}: to resume, run the same command again (it sends only the requests not \
                 answered, and writes every answer)",
                signal.name(),
                summary.answered,
                journal.display()
            ),
            None => eprintln!(
                "tollgate chat: stopped by {} without a journal; the {} answers are written; the \
                 requests whose index is missing from the output were not answered: run them \
                 again",
                signal.name(),
                summary.answered
            ),
        }
    }
    Ok(RunOutcome::of(summary.failed, summary.stopped))
}

/// Sends the requests of `lines` (read as the run goes: the first requests are sent while the
/// rest is read) as `settings` say and writes one JSON line per request to `out`, each as soon as
/// it is answered or has failed; a malformed line is reported on stderr with its number and
/// answered with an error line. The first stop signal stops the run (the requests in flight are
/// answered), a second ends the process.
///
/// # Errors
/// [`CliError`] when the input cannot be read, `out` cannot be written, the journal is damaged
/// or was written for other requests, or the stop signals cannot be caught.
pub fn run_chat(
    settings: &ChatSettings,
    lines: impl Iterator<Item = Result<InputLine, CliError>> + Send + 'static,
    out: &mut (dyn Write + Send),
) -> Result<ChatSummary, CliError> {
    let estimate = TokenEstimate::new(settings.default_max_tokens);
    let workers = settings.concurrency.workers(settings.requests);
    let client = ChatClient::new(
        settings.endpoint.clone(),
        settings.api_key.clone(),
        estimate,
        settings.timeout,
        workers,
    );
    let flight = Arc::new(CallsInFlight::new(workers));
    let sent = AtomicU64::new(0);
    let unreachable_said = AtomicBool::new(false);
    let endpoint = settings.endpoint.clone();
    let call = |job: &ChatJob, attempt: &Attempt<'_>| {
        // Billed from when the answer came in, not from when the call was billed (after the
        // answer was parsed and its headers applied: each a wait for the limiter's lock).
        let answered = flight.track(|| client.send(&job.body, || attempt.answered()));
        match &answered {
            Err(err) if !err.reached => {
                if !unreachable_said.swap(true, Ordering::SeqCst) {
                    eprintln!(
                        "tollgate chat: cannot reach {endpoint}: {}; retrying each request up to \
                         the --retries",
                        err.message
                    );
                }
            }
            _ => {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        answered
    };
    let runner = Runner::new_with_attempt(call)
        .resource(Resource::new("requests", settings.requests).per_job(|_| 1))
        .resource(
            Resource::new("tokens", settings.tokens)
                .estimate(move |job: &ChatJob| estimate.reserved(&job.body))
                .actual(|completion: &Completion| completion.billed_tokens),
        )
        .on_response(|outcome, limiter| {
            let headers = match outcome {
                Ok(completion) => &completion.headers,
                Err(err) => &*err.headers,
            };
            // Families the server reports beyond requests and tokens have nothing to lower.
            headers.apply_to(limiter).ok();
        })
        .retry(Retry::exponential(settings.retries).classify(ChatError::verdict))
        .probe_first()
        .max_concurrent(workers)
        .streaming(RequestFeed::CHECKED_FIRST.max(2 * workers))
        .progress(settings.progress);
    // Only a journal of an earlier run has requests to check the first lines against.
    let earlier_journal = settings.journal.as_ref().is_some_and(|path| path.exists());
    let mut runner = match &settings.journal {
        Some(path) => runner.journal(path).map_err(CliError::Journal)?,
        None => runner,
    };
    let interrupt = runner.interrupt_handle();
    let stop_run = runner.interrupt_handle();
    let stopping = Arc::new(AtomicBool::new(false));
    let signals = {
        let (flight, stopping) = (Arc::clone(&flight), Arc::clone(&stopping));
        let timeout = settings.timeout;
        StopSignals::install(
            move |signal| {
                stopping.store(true, Ordering::SeqCst);
                interrupt.interrupt();
                eprintln!("tollgate chat: {}", waiting_for(signal, &flight, timeout));
            },
            |_| {},
        )?
    };

    let (malformed_lines, written_later) = mpsc::channel();
    let mut feed = RequestFeed::new(
        settings.input.clone(),
        settings.model.clone(),
        malformed_lines,
        stopping,
    );
    let mut lines = lines;
    // With an earlier journal, the first lines are scheduled before the run, so that a
    // journal written for other requests is told from one of an interrupted run (whose first
    // requests it holds) before anything is sent. Without one, none are: a slow pipe's first
    // request goes at once, and a stop signal is not held up by a read that waits for a line.
    let checked_first = if earlier_journal {
        RequestFeed::CHECKED_FIRST
    } else {
        0
    };
    feed.feed_from(lines.by_ref().take(checked_first), |key, job| {
        match key {
            Some(key) => runner.schedule_keyed(key, job),
            None => runner.schedule(job),
        }
        .map(drop)
    });
    match runner.check() {
        Ok(()) => {}
        Err(RunnerError::Journal(err)) => return Err(CliError::Journal(err)),
        Err(err) => return Err(CliError::Runner(err)),
    }
    let counts = feed.counts();
    if let Some(err) = counts.take_failure() {
        return Err(err); // a damaged journal, say: nothing is sent
    }
    let sender = runner.job_sender();
    // Detached: a stop does not wait for a read from a pipe that says nothing.
    std::thread::Builder::new()
        .name("tollgate-chat-input".into())
        .spawn(move || {
            feed.feed_from(lines, |key, job| {
                match key {
                    Some(key) => sender.schedule_keyed(key, job),
                    None => sender.schedule(job),
                };
                Ok(())
            });
        })
        .map_err(|err| CliError::Input {
            path: settings.input.clone(),
            source: err,
        })?;

    let mut output = JsonLines::new(out);
    let mut summary = ChatSummary::default();
    let mut journal_failure = None;
    let report = runner.run_each(|done| {
        for line in written_later.try_iter() {
            output.write(&line);
        }
        let identity = done.job.identity.clone();
        summary.resumed += usize::from(done.resumed);
        let line = match (done.result, done.errors.last()) {
            (Some(completion), _) => {
                summary.answered += 1;
                let mut identity = identity;
                identity.insert("response".to_owned(), completion.response.clone());
                Value::Object(identity)
            }
            (None, last) => {
                summary.failed += 1;
                let status = last.and_then(|err| match &**err {
                    AttemptError::Call(err) => err.status,
                    _ => None,
                });
                let message = last.map_or_else(String::new, |err| err.to_string());
                if let Some(AttemptError::Misconfigured(RunnerError::Journal(err))) =
                    last.map(|err| &**err)
                {
                    if journal_fails_the_run(err) {
                        journal_failure.get_or_insert_with(|| err.clone());
                        stop_run.interrupt();
                        return;
                    }
                }
                if done.attempts == 0 {
                    // Refused before it was sent (it exceeds a quota by itself).
                    eprintln!(
                        "tollgate chat: {}:{}: {message}; not sent",
                        settings.input.display(),
                        identity.get("line").unwrap_or(&Value::Null)
                    );
                }
                with_error(identity, &message, status, done.attempts)
            }
        };
        output.write(&line);
        if output.failed() {
            // The output is closed (`| head -1`): the answers to come would be paid for and
            // thrown away. The run stops as on a first Ctrl-C (what is in flight is recorded).
            stop_run.interrupt();
        }
    });
    if !report.interrupted {
        // Every line was read and fed: what it wrote is in the channel.
        for line in written_later.try_iter() {
            output.write(&line);
        }
    }
    output.finish().map_err(|source| CliError::Write {
        path: "-".into(),
        source,
    })?;
    if let Some(failure) = report.journal_failure.or(journal_failure) {
        return Err(CliError::Journal(failure));
    }
    let counts = counts.take();
    if let Some(err) = counts.unreadable {
        return Err(err);
    }
    summary.requests = counts.requests;
    summary.malformed = counts.malformed;
    summary.failed += counts.not_sent;
    summary.sent = sent.load(Ordering::Relaxed);
    summary.rate_limited = report.rate_limited;
    summary.elapsed = report.elapsed;
    summary.limits = RunLimits {
        concurrency: flight.limit(),
        at_concurrency: flight.full_for(),
        concurrency_given: matches!(settings.concurrency, Concurrency::Given(_)),
        waited: report.waited,
        paused: report.paused,
    };
    summary.stopped = report.interrupted.then(|| signals.received()).flatten();
    Ok(summary)
}

/// What the first stop signal waits for, and how to stop at once.
fn waiting_for(signal: StopSignal, flight: &CallsInFlight, timeout: RequestTimeout) -> String {
    let each = match timeout {
        RequestTimeout::Given(timeout) => format!(", each for at most {timeout:.0?}"),
        RequestTimeout::ByMaxTokens => String::new(),
    };
    match flight.running() {
        0 => format!("{}: stopping; no request in flight", signal.name()),
        running => format!(
            "{}: stopping; waiting for {running} request{} in flight{each}; press Ctrl-C again \
             to stop now",
            signal.name(),
            if running == 1 { "" } else { "s" },
        ),
    }
}
/// A summary of a run, in one sentence.
fn describe(summary: &ChatSummary) -> String {
    let from_journal = match summary.resumed {
        0 => String::new(),
        resumed => format!(" ({resumed} from the journal)"),
    };
    format!(
        "{} in {:.1} s: {} answered{from_journal}, {} failed ({}); {} sent, {} answered 429",
        counted(summary.requests as u64, "request"),
        summary.elapsed.as_secs_f64(),
        summary.answered,
        summary.failed,
        counted(summary.malformed as u64, "malformed line"),
        summary.sent,
        summary.rate_limited,
    )
}

/// An output line for a request that was not answered.
fn with_error(
    mut identity: Map<String, Value>,
    message: &str,
    status: Option<u16>,
    attempts: u32,
) -> Value {
    let mut error = json!({ "message": message, "attempts": attempts });
    if let Some(status) = status {
        error["status"] = Value::from(status);
    }
    identity.insert("error".to_owned(), error);
    Value::Object(identity)
}
