//! `tollgate chat`: OpenAI-compatible chat requests from a JSONL file, within RPM and TPM
//! quotas, one JSON line out per request.

mod chat_error;
mod client;
mod json_lines;
mod request_line;
mod token_estimate;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ArgMatches;
use serde_json::{json, Map, Value};
use tollgate::{AttemptError, Rate, Resource, Retry, Runner, RunnerError};

use crate::cli_error::CliError;
use crate::input_lines::{read_input_lines, InputLine};
use crate::run_outcome::RunOutcome;
use crate::stop_signals::{StopSignal, StopSignals};
use chat_error::ChatError;
use client::{ChatClient, Completion};
use json_lines::JsonLines;
use request_line::RequestLine;
use token_estimate::TokenEstimate;

/// How `chat` sends its requests.
#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// The requests quota.
    pub requests: Rate,
    /// The tokens quota.
    pub tokens: Rate,
    /// The chat completions URL.
    pub endpoint: String,
    /// Sent as a bearer token, if any.
    pub api_key: Option<String>,
    /// The model of requests that name none.
    pub model: Option<String>,
    /// Completion tokens reserved for a request that sets no `max_tokens`.
    pub default_max_tokens: u64,
    /// Most requests in flight.
    pub concurrency: usize,
    /// Retries of a failed request.
    pub retries: u32,
    /// Whether to draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// The journal that records each answer before it is written, and gives it back on a
    /// rerun; `None`: no journal.
    pub journal: Option<PathBuf>,
}

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
    /// Requests sent (retries included).
    pub attempts: u64,
    /// Answers that were a 429 with a wait to honour.
    pub rate_limited: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The signal that stopped the run, if one did.
    pub stopped: Option<StopSignal>,
}

/// Runs `tollgate chat` as `args` say.
///
/// # Errors
/// [`CliError`] when the input cannot be read, stdout cannot be written, there is no API key
/// for a remote endpoint, or the stop signals cannot be caught.
pub fn chat(args: &ArgMatches) -> Result<RunOutcome, CliError> {
    let endpoint = args
        .get_one::<String>("endpoint")
        .expect("has a default")
        .clone();
    if !cfg!(feature = "https") && endpoint.starts_with("https://") {
        return Err(CliError::HttpsNotBuilt { endpoint });
    }
    let key_variable = args
        .get_one::<String>("api-key-env")
        .expect("has a default");
    let api_key = std::env::var(key_variable)
        .ok()
        .filter(|key| !key.is_empty());
    if api_key.is_none() && !is_loopback(&endpoint) {
        return Err(CliError::MissingApiKey {
            variable: key_variable.clone(),
        });
    }
    let source = args
        .get_one::<PathBuf>("requests-file")
        .expect("REQUESTS is required");
    let per_minute = |count: u64| Rate::new(count, Duration::from_secs(60));
    let settings = ChatSettings {
        requests: args
            .get_one::<u64>("rpm")
            .map(|rpm| per_minute(*rpm))
            .or_else(|| args.get_one::<Rate>("requests").copied())
            .expect("a requests quota is required"),
        tokens: args
            .get_one::<u64>("tpm")
            .map(|tpm| per_minute(*tpm))
            .or_else(|| args.get_one::<Rate>("tokens").copied())
            .expect("a tokens quota is required"),
        endpoint,
        api_key,
        model: args.get_one::<String>("model").cloned(),
        default_max_tokens: *args
            .get_one::<u64>("default-max-tokens")
            .expect("has a default"),
        concurrency: usize::try_from(*args.get_one::<u64>("concurrency").expect("has a default"))
            .unwrap_or(usize::MAX),
        retries: *args.get_one::<u32>("retries").expect("has a default"),
        // A bar drawn on the terminal that also shows the answers would be torn by them.
        progress: !io::stdout().is_terminal(),
        journal: journal_path(args, source),
    };
    let lines = read_input_lines(Some(source))?;
    let summary = run_chat(&settings, source, &lines, &mut io::stdout())?;
    eprintln!("tollgate chat: {}", describe(&summary));
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

/// The journal `args` ask for: `--journal FILE`; none with `--no-journal`; by default
/// `REQUESTS.journal`, next to the requests file (none for stdin).
fn journal_path(args: &ArgMatches, source: &Path) -> Option<PathBuf> {
    if args.get_flag("no-journal") {
        return None;
    }
    if let Some(path) = args.get_one::<PathBuf>("journal") {
        return Some(path.clone());
    }
    (source != Path::new("-")).then(|| {
        let mut name = source.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    })
}

/// Sends the requests of `lines` (read from `source`) as `settings` say and writes one JSON
/// line per request to `out`, each as soon as it is answered or has failed; a malformed line is
/// reported on stderr with its number and answered with an error line. Ctrl-C stops the run
/// (the requests in flight are answered).
///
/// # Errors
/// [`CliError`] when `out` cannot be written or the stop signals cannot be caught.
pub fn run_chat(
    settings: &ChatSettings,
    source: &Path,
    lines: &[InputLine],
    out: &mut dyn Write,
) -> Result<ChatSummary, CliError> {
    let estimate = TokenEstimate::new(settings.default_max_tokens);
    let client = ChatClient::new(
        settings.endpoint.clone(),
        settings.api_key.clone(),
        estimate,
    );
    let runner = Runner::new(move |body: &Value| client.send(body))
        .resource(Resource::new("requests", settings.requests).per_job(|_| 1))
        .resource(
            Resource::new("tokens", settings.tokens)
                .estimate(move |body: &Value| estimate.reserved(body))
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
        .max_concurrent(settings.concurrency)
        .progress(settings.progress);
    let mut runner = match &settings.journal {
        Some(path) => runner.journal(path).map_err(CliError::Journal)?,
        None => runner,
    };
    let interrupt = runner.interrupt_handle();
    let signals = StopSignals::install(move |_| interrupt.interrupt(), |_| {})?;

    let mut output = JsonLines::new(out);
    let mut summary = ChatSummary {
        requests: lines.len(),
        ..ChatSummary::default()
    };
    // The output identity of each scheduled request, by its index in the runner.
    let mut identities = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let not_sent =
            match RequestLine::parse(line.text().unwrap_or_default(), settings.model.as_deref()) {
                Err(err) => {
                    summary.malformed += 1;
                    let mut identity = Map::new();
                    identity.insert("index".to_owned(), Value::from(index));
                    identity.insert("line".to_owned(), Value::from(line.number));
                    (identity, err.to_string())
                }
                Ok(request) => {
                    let identity = request.identity(index, line.number);
                    // A custom_id names the request in the journal; without one, its body does.
                    let scheduled = match request.custom_id {
                        Some(Value::String(id)) => runner.schedule_keyed(id, request.body),
                        Some(id) => runner.schedule_keyed(id.to_string(), request.body),
                        None => runner.schedule(request.body),
                    };
                    match scheduled {
                        Ok(_) => {
                            identities.push(identity);
                            continue;
                        }
                        Err(err) => (identity, err.to_string()),
                    }
                }
            };
        let (identity, message) = not_sent;
        eprintln!(
            "tollgate chat: {}:{}: {message}; not sent",
            source.display(),
            line.number
        );
        summary.failed += 1;
        output.write(&with_error(identity, &message, None, 0));
    }

    // A journal written for another requests file: said once, and nothing is sent.
    if let Err(RunnerError::Journal(err)) = runner.check() {
        return Err(CliError::Journal(err));
    }
    let report = runner.run_each(|done| {
        let mut identity = identities[done.index].clone();
        let line = match (done.result, done.errors.last()) {
            (Some(completion), _) => {
                summary.answered += 1;
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
                with_error(identity, &message, status, done.attempts)
            }
        };
        output.write(&line);
    });
    output.finish().map_err(|source| CliError::Write {
        path: PathBuf::from("-"),
        source,
    })?;
    if let Some(failure) = report.journal_failure {
        return Err(CliError::Journal(failure));
    }
    summary.resumed = report.resumed;
    summary.attempts = report.attempts;
    summary.rate_limited = report.rate_limited;
    summary.elapsed = report.elapsed;
    summary.stopped = report.interrupted.then(|| signals.received()).flatten();
    Ok(summary)
}

/// A summary of a run, in one sentence.
fn describe(summary: &ChatSummary) -> String {
    let from_journal = match summary.resumed {
        0 => String::new(),
        resumed => format!(" ({resumed} from the journal)"),
    };
    format!(
        "{} requests in {:.1} s: {} answered{from_journal}, {} failed ({} malformed lines); {} \
         sent, {} answered 429",
        summary.requests,
        summary.elapsed.as_secs_f64(),
        summary.answered,
        summary.failed,
        summary.malformed,
        summary.attempts,
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

/// Whether `endpoint` is on this machine (no API key needed).
fn is_loopback(endpoint: &str) -> bool {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|loopback| host == *loopback || host.starts_with(&format!("{loopback}:")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_need_no_key() {
        assert!(is_loopback("http://127.0.0.1:8080/v1/chat/completions"));
        assert!(is_loopback("http://localhost/v1"));
        assert!(is_loopback("http://[::1]:9/x"));
        assert!(!is_loopback("https://api.openai.com/v1/chat/completions"));
        assert!(!is_loopback("https://localhost.evil.com/v1"));
    }
}
