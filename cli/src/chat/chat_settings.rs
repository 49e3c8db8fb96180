//! `chat`'s flags, read once into a typed value.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ArgMatches;
use tollgate::Rate;

use super::endpoint::Endpoint;
use crate::cli_error::CliError;
use crate::quota_flags::{REQUESTS_QUOTA, TOKENS_QUOTA};

/// How `chat` sends its requests.
#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// The requests file; `-` for stdin.
    pub input: PathBuf,
    /// The requests quota.
    pub requests: Rate,
    /// The tokens quota.
    pub tokens: Rate,
    /// The chat completions URL.
    pub endpoint: Endpoint,
    /// Sent as a bearer token, if any.
    pub api_key: Option<String>,
    /// The model of requests that name none.
    pub model: Option<String>,
    /// Completion tokens reserved for a request that sets no `max_tokens`.
    pub default_max_tokens: u64,
    /// Most requests at once.
    pub concurrency: Concurrency,
    /// How long one attempt may take.
    pub timeout: RequestTimeout,
    /// Retries of a failed request.
    pub retries: u32,
    /// Whether to draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// The journal that records each answer before it is written, and gives it back on a
    /// rerun; `None`: no journal.
    pub journal: Option<PathBuf>,
}

/// How many requests may be in flight at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// `--concurrency N`: at most N.
    Given(usize),
    /// Enough that the quotas, not a count of threads, limit the run (see
    /// [`Concurrency::workers`]).
    FollowQuota,
}

impl Concurrency {
    /// In flight the quota needs at a latency of up to [`Self::LATENCY_COVERED`] (Little's law:
    /// in flight = rate x latency), without a `--concurrency`.
    pub const LATENCY_COVERED: Duration = Duration::from_secs(60);
    /// The fewest requests in flight [`FollowQuota`](Self::FollowQuota) allows.
    pub const MIN_WORKERS: usize = 16;
    /// The most requests in flight [`FollowQuota`](Self::FollowQuota) allows (a thread each).
    pub const MAX_WORKERS: usize = 1024;

    /// How many requests may be in flight under the requests quota `requests`: the number given,
    /// or the requests rate x [`LATENCY_COVERED`](Self::LATENCY_COVERED), between
    /// [`MIN_WORKERS`](Self::MIN_WORKERS) and [`MAX_WORKERS`](Self::MAX_WORKERS). Once the
    /// quota binds, the requests in flight settle by themselves at rate x the observed latency
    /// (the others wait for their quota), so workers beyond it cost an idle thread each, never a
    /// request.
    pub fn workers(self, requests: Rate) -> usize {
        match self {
            Concurrency::Given(workers) => workers,
            Concurrency::FollowQuota => {
                let period = requests.period().as_nanos().max(1);
                let needed = (u128::from(requests.quantity()) * Self::LATENCY_COVERED.as_nanos())
                    .div_ceil(period);
                usize::try_from(needed)
                    .unwrap_or(usize::MAX)
                    .clamp(Self::MIN_WORKERS, Self::MAX_WORKERS)
            }
        }
    }
}

/// How long one attempt (connecting, sending, waiting for and reading the answer) may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestTimeout {
    /// `--timeout DURATION`.
    Given(Duration),
    /// [`BASE`](Self::BASE) plus [`PER_COMPLETION_TOKEN`](Self::PER_COMPLETION_TOKEN) per
    /// completion token the request allows, at most [`MAX`](Self::MAX).
    ByMaxTokens,
}

impl RequestTimeout {
    /// Covers queueing at the provider and reading a long prompt.
    pub const BASE: Duration = Duration::from_secs(60);
    /// Generation at 40 tokens per second, slower than large models usually are.
    pub const PER_COMPLETION_TOKEN: Duration = Duration::from_millis(25);
    /// The OpenAI SDKs' own timeout: no answer takes longer.
    pub const MAX: Duration = Duration::from_secs(600);
    /// How long connecting may take (DNS, TCP, TLS), at most: a provider that is reachable
    /// connects within a second; an address nobody answers fails in this long, not in the
    /// system's two minutes.
    pub const CONNECT: Duration = Duration::from_secs(10);

    /// The timeout of a request that allows `completion_tokens` (its `max_tokens` x `n`).
    pub fn for_request(self, completion_tokens: u64) -> Duration {
        match self {
            RequestTimeout::Given(timeout) => timeout,
            RequestTimeout::ByMaxTokens => {
                let tokens = u32::try_from(completion_tokens).unwrap_or(u32::MAX);
                Self::BASE
                    .saturating_add(Self::PER_COMPLETION_TOKEN.saturating_mul(tokens))
                    .min(Self::MAX)
            }
        }
    }

    /// The connect timeout of a request whose whole timeout is `timeout`.
    pub fn connect(timeout: Duration) -> Duration {
        Self::CONNECT.min(timeout)
    }
}

impl ChatSettings {
    /// Reads `args` (the `chat` subcommand's), and the API key from the environment.
    ///
    /// # Errors
    /// [`CliError::MissingApiKey`] without a key for an endpoint not on this machine,
    /// [`CliError::HttpsNotBuilt`] for an https endpoint in a build without https.
    pub fn from_args(args: &ArgMatches) -> Result<ChatSettings, CliError> {
        let endpoint = args
            .get_one::<Endpoint>("endpoint")
            .expect("has a default")
            .clone();
        if !cfg!(feature = "https") && endpoint.is_https() {
            return Err(CliError::HttpsNotBuilt {
                endpoint: endpoint.to_string(),
            });
        }
        let key_variable = args
            .get_one::<String>("api-key-env")
            .expect("has a default");
        let api_key = std::env::var(key_variable)
            .ok()
            .filter(|key| !key.is_empty());
        if api_key.is_none() && !endpoint.is_loopback() {
            return Err(CliError::MissingApiKey {
                variable: key_variable.clone(),
            });
        }
        let input = args
            .get_one::<PathBuf>("requests-file")
            .expect("REQUESTS is required")
            .clone();
        Ok(ChatSettings {
            requests: REQUESTS_QUOTA
                .read(args)
                .expect("a requests quota is required"),
            tokens: TOKENS_QUOTA.read(args).expect("a tokens quota is required"),
            endpoint,
            api_key,
            model: args.get_one::<String>("model").cloned(),
            default_max_tokens: *args
                .get_one::<u64>("default-max-tokens")
                .expect("has a default"),
            concurrency: args
                .get_one::<u64>("concurrency")
                .map_or(Concurrency::FollowQuota, |given| {
                    Concurrency::Given(usize::try_from(*given).unwrap_or(usize::MAX))
                }),
            timeout: args
                .get_one::<Duration>("timeout")
                .map_or(RequestTimeout::ByMaxTokens, |given| {
                    RequestTimeout::Given(*given)
                }),
            retries: *args.get_one::<u32>("retries").expect("has a default"),
            // A bar drawn on the terminal that also shows the answers would be torn by them.
            progress: !io::stdout().is_terminal(),
            journal: journal_path(args, &input),
            input,
        })
    }
}

/// The journal `args` ask for: `--journal FILE`; none with `--no-journal`; by default
/// `REQUESTS.journal`, next to the requests file (none for stdin).
fn journal_path(args: &ArgMatches, input: &Path) -> Option<PathBuf> {
    if args.get_flag("no-journal") {
        return None;
    }
    if let Some(path) = args.get_one::<PathBuf>("journal") {
        return Some(path.clone());
    }
    (input != Path::new("-")).then(|| {
        let mut name = input.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_the_quota_covers_a_minute_of_latency_within_bounds() {
        let workers = |rate: &str| Concurrency::FollowQuota.workers(rate.parse().unwrap());
        assert_eq!(workers("6000/min"), Concurrency::MAX_WORKERS);
        assert_eq!(workers("500/min"), 500);
        assert_eq!(workers("2/s"), 120);
        assert_eq!(workers("10/min"), Concurrency::MIN_WORKERS);
        assert_eq!(
            Concurrency::Given(3).workers("6000/min".parse().unwrap()),
            3
        );
    }

    #[test]
    fn the_default_timeout_grows_with_the_completion_allowed() {
        let auto = RequestTimeout::ByMaxTokens;
        assert_eq!(auto.for_request(0), Duration::from_secs(60));
        assert_eq!(auto.for_request(1_024), Duration::from_millis(85_600));
        assert_eq!(auto.for_request(16_000), Duration::from_secs(460));
        assert_eq!(auto.for_request(u64::MAX), RequestTimeout::MAX);
        let given = RequestTimeout::Given(Duration::from_secs(2));
        assert_eq!(given.for_request(100_000), Duration::from_secs(2));
        assert_eq!(
            RequestTimeout::connect(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            RequestTimeout::connect(Duration::from_secs(90)),
            RequestTimeout::CONNECT
        );
    }
}
