//! `tollgate-mock-provider`: serves the mock provider on 127.0.0.1 until killed.
//!
//! Arguments are parsed by hand (no argument-parsing dependency); see `--help`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use tollgate_mock_provider::{MockConfig, MockProvider};

const NAME: &str = "tollgate-mock-provider";

const HELP: &str = "\
tollgate-mock-provider: a loopback mock of an OpenAI-compatible provider (and of Anthropic's
Messages API), with quotas counted in a strict sliding window at each request's arrival.

Usage: tollgate-mock-provider [OPTIONS]

Options:
  --rpm N            Requests accepted per window (RPM with the default 60 s window).
                     Default: unlimited.
  --tpm N            Tokens accepted per window (TPM with the default 60 s window). A request
                     counts at arrival its prompt estimate (words x 4/3, rounded up) plus its
                     max_tokens (or, without max_tokens, its completion length).
                     Default: unlimited.
  --input-tpm N      Input tokens accepted per window on /v1/messages (Anthropic's ITPM).
                     Default: unlimited.
  --output-tpm N     Output tokens accepted per window on /v1/messages (Anthropic's OTPM): a
                     request counts its max_tokens at arrival, settled to the tokens written
                     once answered. Default: unlimited.
  --window-secs S    The sliding window's length in seconds; fractions allowed (0.5).
                     Default: 60.
  --latency-ms MS    Delay before each 200 answer, in milliseconds, from the request's arrival;
                     refusals and errors are answered at once. Default: 0.
  --port P           Port to listen on, on 127.0.0.1. Default: 0 (a free port).
  --hang-first N     The first N accepted chat requests are never answered (the connection
                     stays open and silent): a server that accepts and hangs. Default: 0.
  -h, --help         Print this help and exit.
  -V, --version      Print the version and exit.

Options take their value as the next argument or after '=' (--rpm=60).

Prints the base URL (http://127.0.0.1:PORT) on a line of its own on stdout, then serves until
killed (Ctrl-C). A summary of the settings goes to stderr.

Endpoints:
  POST /v1/chat/completions   OpenAI-shaped completion with deterministic usage; over a quota,
                              429 with retry-after, retry-after-ms and x-ratelimit-* headers.
                              \"stream\": true streams server-sent events over the latency (a
                              usage chunk last if stream_options.include_usage is true).
  POST /v1/completions        The same for a prompt (text_completion), streamed or not.
  POST /v1/embeddings         Embeddings; only the input tokens count against --tpm.
  POST /v1/messages           Anthropic's Messages API, streamed or not: quotas --rpm,
                              --input-tpm and --output-tpm apart, anthropic-ratelimit-* headers.
  GET  /stats                 {\"requests\", \"accepted\", \"rejected\", \"rejected_requests\",
                              \"rejected_tokens\", \"invalid\"} as JSON.

Exit status: 0 after --help or --version, 1 if the port cannot be listened on, 2 for bad
arguments.
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Serve(MockConfig),
    Help,
    Version,
}

fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut config = MockConfig::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let option: &'static str = match flag.as_str() {
            "-h" | "--help" if inline.is_none() => return Ok(Command::Help),
            "-V" | "--version" if inline.is_none() => return Ok(Command::Version),
            "--rpm" => "--rpm",
            "--tpm" => "--tpm",
            "--input-tpm" => "--input-tpm",
            "--output-tpm" => "--output-tpm",
            "--window-secs" => "--window-secs",
            "--latency-ms" => "--latency-ms",
            "--port" => "--port",
            "--hang-first" => "--hang-first",
            _ if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option '{arg}'"))
            }
            _ => {
                return Err(format!(
                    "unexpected argument '{arg}' (this command takes options only)"
                ))
            }
        };
        if seen.contains(&option) {
            return Err(format!("{option} given more than once"));
        }
        seen.push(option);
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{option} needs a value"))?,
        };
        match option {
            "--rpm" => config.requests_per_window = Some(positive(option, &value)?),
            "--tpm" => config.tokens_per_window = Some(positive(option, &value)?),
            "--input-tpm" => config.input_tokens_per_window = Some(positive(option, &value)?),
            "--output-tpm" => config.output_tokens_per_window = Some(positive(option, &value)?),
            "--window-secs" => config.window = seconds(option, &value)?,
            "--latency-ms" => {
                config.latency = Duration::from_millis(
                    value
                        .parse()
                        .map_err(|_| invalid(option, &value, "a whole number of milliseconds"))?,
                )
            }
            "--port" => {
                config.port = value
                    .parse()
                    .map_err(|_| invalid(option, &value, "a port number, 0 to 65535"))?
            }
            "--hang-first" => {
                config.hang_first = value
                    .parse()
                    .map_err(|_| invalid(option, &value, "a whole number of requests"))?
            }
            _ => unreachable!("every option is handled"),
        }
    }
    Ok(Command::Serve(config))
}

fn invalid(option: &str, value: &str, expected: &str) -> String {
    format!("invalid value '{value}' for {option}: expected {expected}")
}

fn positive(option: &str, value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(invalid(
            option,
            value,
            "a whole number of at least 1 (leave the option out for no quota)",
        )),
    }
}

fn seconds(option: &str, value: &str) -> Result<Duration, String> {
    let expected = "a positive number of seconds, such as 60 or 0.5";
    let secs: f64 = value
        .parse()
        .map_err(|_| invalid(option, value, expected))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(window) if !window.is_zero() => Ok(window),
        _ => Err(invalid(option, value, expected)),
    }
}

fn describe(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(config)) => config,
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{NAME} {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{NAME}: {message}\nTry '{NAME} --help' for more information.");
            return ExitCode::from(2);
        }
    };
    let provider = match MockProvider::start(config) {
        Ok(provider) => provider,
        Err(error) => {
            eprintln!("{NAME}: cannot serve: {error}");
            return ExitCode::from(1);
        }
    };
    let config = provider.config();
    eprintln!(
        "{NAME}: serving POST /v1/chat/completions, /v1/completions, /v1/embeddings and \
         /v1/messages, and GET /stats; requests per window: {}, tokens per window: {} (Anthropic: \
         {} input, {} output), window: {:?}, latency: {:?}. Ctrl-C stops.",
        describe(config.requests_per_window),
        describe(config.tokens_per_window),
        describe(config.input_tokens_per_window),
        describe(config.output_tokens_per_window),
        config.window,
        config.latency,
    );
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", provider.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // Nobody reads stdout any more; keep serving all the same.
    }
    drop(stdout);
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn defaults() {
        assert_eq!(parse(&[]), Ok(Command::Serve(MockConfig::default())));
    }

    #[test]
    fn every_option() {
        let expected = MockConfig::default()
            .requests_per_window(60)
            .tokens_per_window(40_000)
            .input_tokens_per_window(30_000)
            .output_tokens_per_window(8_000)
            .window(Duration::from_millis(1_500))
            .latency(Duration::from_millis(250))
            .port(8080)
            .hang_first(3);
        let spaced = [
            "--rpm",
            "60",
            "--tpm",
            "40000",
            "--input-tpm",
            "30000",
            "--output-tpm",
            "8000",
            "--window-secs",
            "1.5",
            "--latency-ms",
            "250",
            "--port",
            "8080",
            "--hang-first",
            "3",
        ];
        assert_eq!(parse(&spaced), Ok(Command::Serve(expected.clone())));
        let joined = [
            "--rpm=60",
            "--tpm=40000",
            "--input-tpm=30000",
            "--output-tpm=8000",
            "--window-secs=1.5",
            "--latency-ms=250",
            "--port=8080",
            "--hang-first=3",
        ];
        assert_eq!(parse(&joined), Ok(Command::Serve(expected)));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["--rpm", "5", "-h"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        for option in [
            "--rpm",
            "--tpm",
            "--input-tpm",
            "--output-tpm",
            "--window-secs",
            "--latency-ms",
            "--port",
            "--hang-first",
        ] {
            assert!(HELP.contains(option), "{option} is not in the help");
        }
    }

    #[test]
    fn bad_arguments() {
        let cases: &[&[&str]] = &[
            &["--rpm"],
            &["--rpm", "0"],
            &["--rpm", "-3"],
            &["--rpm", "ten"],
            &["--tpm", "1.5"],
            &["--input-tpm", "0"],
            &["--output-tpm", "x"],
            &["--window-secs", "0"],
            &["--window-secs", "-1"],
            &["--window-secs", "NaN"],
            &["--window-secs", "inf"],
            &["--latency-ms", "1.5"],
            &["--hang-first", "-1"],
            &["--port", "65536"],
            &["--rpm", "5", "--rpm", "6"],
            &["--bogus"],
            &["-x"],
            &["serve"],
            &["--help=yes"],
        ];
        for args in cases {
            let error = parse(args).expect_err(&format!("{args:?}"));
            assert!(!error.is_empty());
        }
    }
}
