//! The command line: every subcommand, flag, help text and example (clap's builder API).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, Command};
use tollgate::Rate;
use tollgate_mock_provider::MockConfig;

use crate::chat::{ChatSettings, Endpoint};
use crate::cli_error::CliError;
use crate::exec::ExecSettings;
use crate::proxy::ProxySettings;
use crate::quota_flags::{INPUT_TOKENS_QUOTA, OUTPUT_TOKENS_QUOTA, REQUESTS_QUOTA, TOKENS_QUOTA};

/// Where `chat` sends requests unless `--endpoint` says otherwise.
pub const DEFAULT_ENDPOINT: &str = "https://api.openai.com/v1/chat/completions";

const ABOUT: &str =
    "Run commands or LLM API requests as fast as their quotas allow, and never faster.";

const LONG_ABOUT: &str = "\
Run commands or LLM API requests as fast as their quotas allow, and never faster.

tollgate reads one job per input line and runs the jobs on a pool of threads, holding every
quota you give it (requests per second, tokens per minute, ...), retrying failures with
backoff. While it runs, a progress bar (done/total, rate, ETA, what it waits for) is drawn on
stderr when stderr is a terminal and stdout is not (the output goes to a file or a pipe); a
plain summary goes to stderr at the end.";

const AFTER_HELP: &str = "\
Examples:
  tollgate demo
  seq 1 100 | tollgate exec --rate 10/s -- curl -sf https://example.com/items/{}
  tollgate chat --rpm 500 --tpm 30000 requests.jsonl > answers.jsonl
  tollgate mock-server --rpm 60 --tpm 40000
  tollgate proxy --upstream https://api.openai.com --rpm 500 --tpm 30000 --api-key-env OPENAI_API_KEY

Exit status: 0 when every job succeeded, 1 when some failed, 2 for bad arguments or input
that cannot be read, 130 when interrupted (Ctrl-C).";

/// The whole command line.
/// What the command line asks for: a subcommand with its settings, parsed once (the run code
/// reads typed values, never a flag by its name).
pub enum Invocation {
    /// `tollgate exec`.
    Exec(ExecSettings),
    /// `tollgate chat`.
    Chat(ChatSettings),
    /// `tollgate mock-server`.
    MockServer(MockConfig),
    /// `tollgate proxy`.
    Proxy(ProxySettings),
    /// `tollgate demo`.
    Demo,
}

/// Parses the process's arguments (clap exits with its usage message, status 2, on bad ones).
///
/// # Errors
/// [`CliError`] for values clap lets through that the settings refuse.
pub fn parse() -> Result<Invocation, CliError> {
    let args = tollgate().get_matches();
    Ok(match args.subcommand() {
        Some(("exec", args)) => Invocation::Exec(ExecSettings::from_args(args)),
        Some(("chat", args)) => Invocation::Chat(ChatSettings::from_args(args)?),
        Some(("mock-server", args)) => Invocation::MockServer(crate::mock_server::settings(args)?),
        Some(("proxy", args)) => Invocation::Proxy(ProxySettings::from_args(args)?),
        Some(("demo", _)) => Invocation::Demo,
        _ => unreachable!("clap requires a known subcommand"),
    })
}

pub fn tollgate() -> Command {
    Command::new("tollgate")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(wrapped(LONG_ABOUT))
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(exec())
        .subcommand(chat())
        .subcommand(mock_server())
        .subcommand(proxy())
        .subcommand(demo())
}

fn exec() -> Command {
    Command::new("exec")
        .about("Run a command per input line, like xargs, holding a rate")
        .long_about(wrapped(
            "Run a command per input line, like xargs, holding a rate.\n\n\
             Each non-empty line of the input (stdin, or --input FILE) becomes one run of \
             COMMAND, started as soon as the line is read (the input may be an endless pipe), with every {} in its arguments replaced by the line (without any {}, the \
             line is added as the last argument). The command runs directly, not through a \
             shell: to use shell syntax, pass the line as a parameter, as in \
             `sh -c 'grep -c x \"$1\"' _ {}`.\n\n\
             Starts are held to --rate: never more than the rate's quantity in any window of \
             its period (\"10/s\": at most 10 starts in any second; with a burst, as in \
             \"10/s, burst 1\", starts are spread evenly instead). A command that exits \
             non-zero is retried with exponential backoff. Each command's stdout and stderr \
             are kept together and written in input order (the default) or as each completes. \
             A summary of the failures goes to stderr.\n\n\
             Starts are counted when the command starts: a long command holds a --concurrency \
             slot, not the rate. --timeout kills a command (and every process it started) \
             that runs longer; it counts as a failure and is retried.\n\n\
             The input is read as the commands run (a bounded read-ahead), a line is passed as \
             its bytes (UTF-8 or not), and an output is written as soon as its turn comes.\n\n\
             Resuming: each line done is recorded in a journal (FILE.journal next to --input \
             FILE, or tollgate-exec-HASH.journal in the current directory for stdin, HASH naming the command, unless \
             --journal or --no-journal say otherwise) before its output is written. Whatever \
             stops a run (Ctrl-C, SIGTERM, SIGHUP, a crash, kill -9), the same command again, \
             on the same input, skips the lines done and runs the others: each line is done \
             once, except the commands running at a kill -9 (run again). The journal is \
             removed once every line has succeeded; after failures it is kept, and the same \
             command again retries only the failed lines.\n\n\
             Ctrl-C, SIGTERM and SIGHUP stop starting commands, pass the signal on to the \
             commands running (each runs in a process group of its own) and wait for them; a \
             second signal kills them and leaves at once."),
        )
        .after_help(
            "Examples:\n  \
             seq 1 100 | tollgate exec --rate 10/s -- curl -sf -o {}.html https://example.com/items/{}\n  \
             tollgate exec --rate 60/min --concurrency 4 --input urls.txt -- wget -q {}\n  \
             tollgate exec --rate \"5/s, burst 1\" --as-completed --input hosts.txt -- ping -c1 {}\n\n\
             Exit status: 0 when every command succeeded, 1 when some failed, 2 for bad \
             arguments or an unreadable input, 130 / 143 / 129 when stopped by SIGINT / \
             SIGTERM / SIGHUP.",
        )
        .arg(rate_arg("rate").required(true).help(
            "Most command starts per period: \"10/s\", \"600/min\", \"40/10s\", \"10/s, burst 1\"",
        ))
        .arg(concurrency_arg("16"))
        .arg(retries_arg("3", "Retries of a command that exits non-zero"))
        .arg(
            Arg::new("input")
                .long("input")
                .short('i')
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Read the lines from FILE instead of stdin"),
        )
        .arg(
            Arg::new("keep-order")
                .long("keep-order")
                .action(ArgAction::SetTrue)
                .help("Write each command's output in input order (the default)"),
        )
        .arg(
            Arg::new("as-completed")
                .long("as-completed")
                .action(ArgAction::SetTrue)
                .conflicts_with("keep-order")
                .help("Write each command's output as soon as it completes"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("DURATION")
                .value_parser(crate::exec::parse_duration)
                .help("Kill a command running longer (500ms, 30s, 2m): a failure, retried"),
        )
        .arg(
            Arg::new("journal")
                .long("journal")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Where the lines done are recorded to resume from (default: FILE.journal)"),
        )
        .arg(
            Arg::new("no-journal")
                .long("no-journal")
                .action(ArgAction::SetTrue)
                .conflicts_with("journal")
                .help("Keep no journal: a stopped run cannot resume"),
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .required(true)
                .num_args(1..)
                .last(true)
                .allow_hyphen_values(true)
                .help("The command and its arguments, after --; {} is replaced by the line"),
        )
}

fn chat() -> Command {
    let command = Command::new("chat")
        .about("Send OpenAI-compatible chat requests from a JSONL file within RPM and TPM quotas")
        .long_about(wrapped(
            "Send OpenAI-compatible chat requests from a JSONL file within RPM and TPM quotas.\n\n\
             Each non-empty line of REQUESTS is one chat completions request body (the format \
             of the OpenAI cookbook's api_request_parallel_processor.py). Its \"metadata\" and \
             \"custom_id\" fields, if any, are not sent: they are copied to its output line. \
             Each request reserves an estimate of its tokens before it is sent ((2 x words + \
             max_tokens) x n) and is settled to the usage the server reports (at least the \
             prompt plus max_tokens, which OpenAI counts at arrival). The server's \
             x-ratelimit-* headers lower the quotas when they are below the ones given, and a \
             429's retry-after pauses every new request.\n\n\
             stdout gets one JSON line per request, as each completes: {\"index\", \"line\", \
             \"custom_id\"?, \"metadata\"?, \"response\"} or, for a request that failed or could \
             not be read, {..., \"error\": {\"message\", \"status\"?, \"attempts\"}}. index \
             counts the non-empty lines from 0; line is the line number in the file. A \
             malformed line is reported on stderr with its line number; the rest still run.\n\n\
             Resuming: each answer is recorded in a journal (REQUESTS.journal, next to the \
             file, unless --journal or --no-journal say otherwise; none for stdin) durably \
             before it is written. Run the same command again after Ctrl-C, a crash or a kill: \
             the requests already answered are not sent again, and every request still gets \
             its output line. A request is known in the journal by its custom_id, or else by \
             its body. After a finished run the journal answers the same command again without \
             sending anything: delete it, or pass --no-journal, to send the requests again.\n\n\
             The API key is read from the environment variable OPENAI_API_KEY (or the one \
             --api-key-env names) and sent as a bearer token; a loopback endpoint needs none."),
        )
        .after_help(
            "Examples:\n  \
             export OPENAI_API_KEY=sk-...\n  \
             tollgate chat --rpm 500 --tpm 30000 --model gpt-4o-mini requests.jsonl > answers.jsonl\n  \
             # interrupted? the same command again resumes from requests.jsonl.journal\n  \
             tollgate chat --requests 20/s --tokens 2000/s --endpoint http://127.0.0.1:8080/v1/chat/completions requests.jsonl\n\n\
             A line of requests.jsonl:\n  \
             {\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 64, \"metadata\": {\"row\": 1}}\n\n\
             Exit status: 0 when every request was answered, 1 when some failed or were \
             malformed, 2 for bad arguments, an unreadable input or a damaged journal, 130 when \
             interrupted (Ctrl-C), 143 when terminated (SIGTERM), 129 on SIGHUP.",
        )
        .arg(
            Arg::new("requests-file")
                .value_name("REQUESTS")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The JSONL file of requests (- for stdin)"),
        );
    TOKENS_QUOTA
        .add_to(REQUESTS_QUOTA.add_to(command, true), true)
        .arg(
            Arg::new("endpoint")
                .long("endpoint")
                .value_name("URL")
                .value_parser(|url: &str| Endpoint::parse(url))
                .default_value(DEFAULT_ENDPOINT)
                .help("The chat completions URL (http:// or https://)"),
        )
        .arg(
            Arg::new("model")
                .long("model")
                .value_name("MODEL")
                .help("The model of requests that name none"),
        )
        .arg(
            Arg::new("api-key-env")
                .long("api-key-env")
                .value_name("NAME")
                .default_value("OPENAI_API_KEY")
                .help("The environment variable that holds the API key"),
        )
        .arg(default_max_tokens_arg())
        .arg(
            Arg::new("journal")
                .long("journal")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Where answers are kept to resume from (default: REQUESTS.journal)"),
        )
        .arg(
            Arg::new("no-journal")
                .long("no-journal")
                .action(ArgAction::SetTrue)
                .conflicts_with("journal")
                .help("Keep no journal: an interrupted run cannot resume"),
        )
        // No default: without one, chat follows the requests quota.
        .arg(concurrency_arg("").default_value(None).help(
            "Most requests in flight at once (default: what the requests quota needs at a \
             latency of up to a minute, 16 to 1024)",
        ))
        .arg(request_timeout_arg(
            "Give up an attempt after DURATION (\"90s\", \"5m\"; retried); default: 60 s + 25 ms \
             per completion token the request allows, at most 10 min",
        ))
        .arg(retries_arg(
            "5",
            "Retries of a request that failed (429s, 5xx, timeouts)",
        ))
}

fn mock_server() -> Command {
    Command::new("mock-server")
        .about("Serve a loopback OpenAI-compatible provider with quotas and 429s, for testing")
        .long_about(wrapped(
            "Serve a loopback OpenAI-compatible provider with quotas and 429s, for testing.\n\n\
             POST /v1/chat/completions answers a completion with deterministic usage after the \
             latency; quotas are counted in a strict sliding window at each request's arrival \
             (a request costs its prompt, words x 4/3, plus its max_tokens), and a request over \
             a quota gets a 429 with retry-after and x-ratelimit-* headers. GET /stats answers \
             the counts as JSON.\n\n\
             Prints its URL on stdout and serves on 127.0.0.1 until Ctrl-C, then prints what it \
             answered and refused on stderr."),
        )
        .after_help(
            "Examples:\n  \
             tollgate mock-server --rpm 60 --tpm 40000 --latency 200\n  \
             tollgate mock-server --rpm 20 --tpm 2000 --window 1 --port 8080\n  \
             # then, in another terminal:\n  \
             tollgate chat --requests 20/s --tokens 2000/s --endpoint http://127.0.0.1:8080/v1/chat/completions requests.jsonl",
        )
        .arg(
            Arg::new("rpm")
                .long("rpm")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .help("Requests accepted per window (default: unlimited)"),
        )
        .arg(
            Arg::new("tpm")
                .long("tpm")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .help("Tokens accepted per window (default: unlimited)"),
        )
        .arg(
            Arg::new("window")
                .long("window")
                .value_name("SECONDS")
                .value_parser(value_parser!(f64))
                .default_value("60")
                .help("The quota window in seconds (fractions allowed); 60: --rpm and --tpm are per minute"),
        )
        .arg(
            Arg::new("latency")
                .long("latency")
                .value_name("MS")
                .value_parser(value_parser!(u64))
                .default_value("0")
                .help("Milliseconds before each successful answer"),
        )
        .arg(
            Arg::new("port")
                .long("port")
                .value_name("P")
                .value_parser(value_parser!(u16))
                .default_value("0")
                .help("The port on 127.0.0.1 (0: a free one)"),
        )
        .arg(
            Arg::new("hang-first")
                .long("hang-first")
                .value_name("N")
                .value_parser(value_parser!(u64))
                .default_value("0")
                .help("Never answer the first N accepted requests (a server that hangs)"),
        )
}

fn proxy() -> Command {
    let command = Command::new("proxy")
        .about("Serve a local HTTP proxy that holds every program's LLM requests within one quota")
        .long_about(wrapped(
            "Serve a local HTTP proxy that holds every program's LLM requests within one quota.\n\n\
             Point a program's OPENAI_BASE_URL (or ANTHROPIC_BASE_URL) at the URL printed on the \
             first line of stdout (add /v1 for OpenAI's SDKs): every request it sends is \
             forwarded to --upstream, each in its turn, in one first-come first-served line \
             within the quotas given. A request reserves one request and its estimated tokens \
             (prompt words x 2 + max_tokens x n; embeddings: input only) before it is \
             forwarded, and is settled to the usage of the answer. Streamed answers (\"stream\": \
             true) pass through as they arrive; the proxy asks for the final usage chunk \
             (stream_options.include_usage) and hides it from a client that did not ask. A 429 \
             from the upstream is refunded and retried inside the proxy after its retry-after, \
             up to --retries times: clients see a 429 only then. The upstream's x-ratelimit-* \
             and anthropic-ratelimit-* headers lower the quotas given when they are higher than \
             the server's (the first request goes alone to learn them). POST \
             /v1/chat/completions, /v1/completions, /v1/responses and /v1/messages count tokens; \
             /v1/embeddings input tokens; any other path one request.\n\n\
             Security: listens on 127.0.0.1 unless --listen names another address; forwards \
             only to --upstream (the Host header and absolute URLs of a request never choose \
             the destination); the client's Authorization and x-api-key headers are forwarded \
             untouched, or replaced by the key of --api-key-env; keys and query strings are \
             never logged; request heads larger than 64 KiB get 431, bodies larger than \
             --max-body-bytes 413; a client whose request head is not complete within \
             --header-timeout is dropped before it reserves anything.\n\n\
             GET /tollgate/stats answers the queue, the quotas' use, the 429s absorbed and the \
             waits as JSON. One line per request goes to stderr (--log, or RUST_LOG). Ctrl-C or \
             SIGTERM stops accepting, finishes the requests in flight and exits (130 / 143); a \
             second signal exits at once.\n\n\
             With --redis URL --name NAME (a build with the redis feature), every proxy naming \
             the same limiter on the same Redis shares one quota: a fleet within one API key."),
        )
        .after_help(
            "Examples:\n  \
             export OPENAI_API_KEY=sk-...\n  \
             tollgate proxy --upstream https://api.openai.com --rpm 500 --tpm 30000 --api-key-env OPENAI_API_KEY\n  \
             # in other terminals, every program, unchanged:\n  \
             OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=unused python agent.py\n  \
             curl http://127.0.0.1:8787/tollgate/stats\n  \
             tollgate proxy --upstream https://api.anthropic.com --rpm 50 --input-tpm 40000 --output-tpm 8000\n\n\
             Exit status: 2 for bad arguments or an address that cannot be listened on, 130 / \
             143 / 129 when stopped by SIGINT / SIGTERM / SIGHUP.",
        )
        .arg(
            Arg::new("upstream")
                .long("upstream")
                .value_name("URL")
                .required(true)
                .value_parser(|url: &str| Endpoint::parse(url))
                .help(
                    "The provider's base URL, where every request goes (its path appended): \
                     https://api.openai.com, https://api.anthropic.com",
                ),
        );
    let command = [
        REQUESTS_QUOTA,
        TOKENS_QUOTA,
        INPUT_TOKENS_QUOTA,
        OUTPUT_TOKENS_QUOTA,
    ]
    .into_iter()
    .fold(command, |command, quota| quota.add_to(command, false));
    command
        .arg(
            concurrency_arg("")
                .default_value(None)
                .help("Most requests forwarded at once (default: no limit but the quotas)"),
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR")
                .value_parser(value_parser!(SocketAddr))
                .default_value(DEFAULT_LISTEN)
                .help(
                    "The address to listen on, IP:PORT (port 0: a free one); another than \
                     127.0.0.1 or [::1] lets other machines in",
                ),
        )
        .arg(
            Arg::new("api-key-env")
                .long("api-key-env")
                .value_name("NAME")
                .help(
                    "Send the key in this environment variable upstream instead of the client's \
                     (as x-api-key when the client sent one or the path is /v1/messages, else \
                     as a bearer token): clients need none",
                ),
        )
        .arg(
            Arg::new("redis")
                .long("redis")
                .value_name("URL")
                .requires("name")
                .help("Share the quotas on this Redis with every proxy of the same --name"),
        )
        .arg(
            Arg::new("name")
                .long("name")
                .value_name("NAME")
                .requires("redis")
                .help("The name of the shared limiter on --redis (one per API key)"),
        )
        .arg(default_max_tokens_arg())
        .arg(retries_arg(
            "5",
            "Retries of a request the upstream refused with a 429, inside the proxy",
        ))
        .arg(request_timeout_arg(
            "Answer 504 when the upstream has not answered within DURATION; default: 60 s + 25 ms \
             per completion token the request allows, at most 10 min",
        ))
        .arg(
            Arg::new("header-timeout")
                .long("header-timeout")
                .value_name("DURATION")
                .value_parser(crate::exec::parse_duration)
                .default_value("10s")
                .help("Drop a client whose request head (or body) does not arrive within DURATION"),
        )
        .arg(
            Arg::new("max-body-bytes")
                .long("max-body-bytes")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .default_value("33554432")
                .help("Answer 413 to a request body larger than N bytes (default 32 MiB)"),
        )
        .arg(
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..=65536))
                .default_value("1024")
                .help("Most client connections at once (a thread each); more get 503"),
        )
        .arg(
            Arg::new("log")
                .long("log")
                .value_name("LEVEL")
                .value_parser(["off", "error", "warn", "info", "debug", "trace"])
                .help("What goes to stderr: info (default, or RUST_LOG's) is a line per request"),
        )
}

/// Where `proxy` listens unless `--listen` says otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

fn demo() -> Command {
    Command::new("demo")
        .about("Run 200 chat requests against a loopback mock provider and compare with the ideal")
        .long_about(wrapped(
            "Run 200 chat requests against a loopback mock provider and compare with the ideal.\n\n\
             Starts the mock provider on 127.0.0.1 with a requests and a tokens quota per 2 s \
             window (a compressed minute), sends a sample of 200 chat requests through the same \
             code as `tollgate chat` with a progress bar, then prints the wall time against the \
             ideal time the server's quotas allow, and how many requests the server refused \
             with a 429."),
        )
        .after_help("Example:\n  cargo run --release -p tollgate-cli -- demo")
}

/// `text` with each paragraph's lines filled to [`HELP_WIDTH`] columns (clap wraps help only
/// with its `wrap_help` feature, which would build a terminal-size dependency).
fn wrapped(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|paragraph| {
            let mut lines = vec![String::new()];
            for word in paragraph.split_whitespace() {
                let line = lines.last_mut().expect("never empty");
                if !line.is_empty() && line.len() + 1 + word.len() > HELP_WIDTH {
                    lines.push(word.to_owned());
                } else {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(word);
                }
            }
            lines.join("\n")
        })
        .collect();
    paragraphs.join("\n\n")
}

/// The width of the long help's paragraphs.
const HELP_WIDTH: usize = 92;

/// A flag whose value is a quota's [`Rate`] (`"10/s"`, `"40/10s"`).
pub(crate) fn rate_arg(name: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name("RATE")
        .value_parser(parse_quota)
}

/// A rate the tools count as exact windows: a burst above the quantity cannot be honoured (a
/// window of N per period never lets more than N go at once).
fn parse_quota(text: &str) -> Result<Rate, String> {
    let rate = text.parse::<Rate>().map_err(|err| err.to_string())?;
    rate.validate().map_err(|err| err.to_string())?;
    if rate.capacity() > rate.quantity() {
        return Err(format!(
            "burst {} is above the quantity {}: at most {} go in any window of {:?}; give a \
             burst of at most {} (\"{}/{:?}, burst 1\" spreads them evenly)",
            rate.capacity(),
            rate.quantity(),
            rate.quantity(),
            rate.period(),
            rate.quantity(),
            rate.quantity(),
            rate.period(),
        ));
    }
    Ok(rate)
}

fn concurrency_arg(default: &'static str) -> Arg {
    Arg::new("concurrency")
        .long("concurrency")
        .short('j')
        .value_name("N")
        .value_parser(value_parser!(u64).range(1..=4096))
        .default_value(default)
        .help("Most jobs running at once")
}

fn default_max_tokens_arg() -> Arg {
    Arg::new("default-max-tokens")
        .long("default-max-tokens")
        .value_name("N")
        .value_parser(value_parser!(u64))
        .default_value("1024")
        .help("Completion tokens to reserve for a request that sets no max_tokens")
}

/// `--timeout DURATION` of one request (`chat`, `proxy`), with what it does in `help`.
fn request_timeout_arg(help: &'static str) -> Arg {
    Arg::new("timeout")
        .long("timeout")
        .value_name("DURATION")
        .value_parser(crate::exec::parse_duration)
        .help(help)
}

fn retries_arg(default: &'static str, help: &'static str) -> Arg {
    Arg::new("retries")
        .long("retries")
        .value_name("N")
        .value_parser(value_parser!(u32))
        .default_value(default)
        .help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        tollgate().debug_assert();
    }

    #[test]
    fn paragraphs_are_filled_to_the_width() {
        let text = wrapped(&format!("{}\n\nshort  text", "word ".repeat(40)));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|line| line.len() <= HELP_WIDTH));
        assert_eq!(lines[lines.len() - 2..], ["", "short text"]);
    }
}
