//! `tollgate mock-server`: the loopback OpenAI-compatible provider, until Ctrl-C.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use clap::ArgMatches;
use tollgate_mock_provider::{MockConfig, MockProvider, Stats};

use crate::cli_error::CliError;
use crate::stop_signals::StopSignals;

/// The provider `args` (mock-server's, as `command_line` defines them) ask for.
///
/// # Errors
/// [`CliError::MockProvider`] for a `--window` that is no duration.
pub fn settings(args: &ArgMatches) -> Result<MockConfig, CliError> {
    let window = *args.get_one::<f64>("window").expect("has a default");
    Ok(MockConfig {
        requests_per_window: args.get_one::<u64>("rpm").copied(),
        tokens_per_window: args.get_one::<u64>("tpm").copied(),
        window: Duration::try_from_secs_f64(window).map_err(|err| {
            CliError::MockProvider(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("--window {window}: {err}"),
            ))
        })?,
        latency: Duration::from_millis(*args.get_one::<u64>("latency").expect("has a default")),
        port: *args.get_one::<u16>("port").expect("has a default"),
        hang_first: *args.get_one::<u64>("hang-first").expect("has a default"),
        ..MockConfig::default()
    })
}

/// Runs `tollgate mock-server` as `config` says: prints the URL on stdout, serves until Ctrl-C
/// (or SIGTERM, SIGHUP), then prints the provider's counts on stderr.
///
/// # Errors
/// [`CliError::MockProvider`] when the provider cannot start (a port in use),
/// [`CliError::Signals`] when the stop signals cannot be caught.
pub fn mock_server(config: &MockConfig) -> Result<(), CliError> {
    let (stop, stopped) = mpsc::channel();
    let stop = std::sync::Mutex::new(stop);
    StopSignals::install(
        move |_| {
            stop.lock().map(|stop| stop.send(()).ok()).ok();
        },
        |_| {},
    )?;
    let mut provider = MockProvider::start(config.clone()).map_err(CliError::MockProvider)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", provider.url())
        .and_then(|()| stdout.flush())
        .map_err(|source| CliError::Write {
            path: "-".into(),
            source,
        })?;
    eprintln!(
        "tollgate mock-server: {} requests and {} tokens per {:?} window, {:?} latency; \
         POST {}; Ctrl-C to stop",
        quota(config.requests_per_window),
        quota(config.tokens_per_window),
        config.window,
        config.latency,
        provider.chat_completions_url(),
    );
    stopped.recv().ok();
    let stats = provider.stats();
    provider.stop();
    eprintln!("tollgate mock-server: {}", describe(&stats));
    Ok(())
}

fn quota(per_window: Option<u64>) -> String {
    per_window.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// The provider's counts in a sentence.
pub fn describe(stats: &Stats) -> String {
    format!(
        "{} requests: {} accepted, {} refused with a 429 ({} over the requests quota, {} over \
         the tokens quota), {} invalid",
        stats.requests,
        stats.accepted,
        stats.rejected,
        stats.rejected_requests,
        stats.rejected_tokens,
        stats.invalid,
    )
}
