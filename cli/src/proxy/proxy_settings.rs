//! `proxy`'s flags, read once into a typed value.

use std::net::SocketAddr;
use std::time::Duration;

use clap::ArgMatches;
use tollgate::{Limits, Rate, INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS};

use super::log_lines::LogLevel;
use crate::chat::{Endpoint, RequestTimeout};
use crate::cli_error::CliError;
use crate::quota_flags::{INPUT_TOKENS_QUOTA, OUTPUT_TOKENS_QUOTA, REQUESTS_QUOTA, TOKENS_QUOTA};

/// How `proxy` listens, forwards and counts.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// The base URL every request goes to.
    pub upstream: Endpoint,
    /// The address listened on.
    pub listen: SocketAddr,
    /// The quotas, per resource name ([`REQUESTS`], [`TOKENS`], [`INPUT_TOKENS`],
    /// [`OUTPUT_TOKENS`]), in that order; only those given.
    pub quotas: Vec<(&'static str, Rate)>,
    /// Most requests forwarded at once.
    pub concurrency: Option<u64>,
    /// The Redis quota shared with other proxies, if any.
    pub shared: Option<SharedQuota>,
    /// The key sent upstream instead of the client's, if any.
    pub api_key: Option<String>,
    /// Completion tokens reserved for a request that sets no `max_tokens`.
    pub default_max_tokens: u64,
    /// Retries of a request the upstream refused with a 429.
    pub retries: u32,
    /// How long the upstream may take to answer.
    pub timeout: RequestTimeout,
    /// How long a client may take to send a request head, and then its body.
    pub header_timeout: Duration,
    /// The largest request body accepted.
    pub max_body_bytes: u64,
    /// Most client connections at once.
    pub max_connections: usize,
    /// What is logged to stderr.
    pub log: LogLevel,
}

/// A quota kept on Redis, shared by every proxy naming the same limiter there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedQuota {
    /// The Redis URL (`redis://127.0.0.1:6379/`).
    pub url: String,
    /// The limiter's name.
    pub name: String,
}

impl ProxySettings {
    /// Reads `args` (the `proxy` subcommand's), and the API key from the environment.
    ///
    /// # Errors
    /// [`CliError::MissingApiKey`] when `--api-key-env` names an unset variable,
    /// [`CliError::HttpsNotBuilt`] for an https upstream in a build without https.
    pub fn from_args(args: &ArgMatches) -> Result<ProxySettings, CliError> {
        let upstream = args
            .get_one::<Endpoint>("upstream")
            .expect("required")
            .clone();
        if !cfg!(feature = "https") && upstream.is_https() {
            return Err(CliError::HttpsNotBuilt {
                endpoint: upstream.to_string(),
            });
        }
        let api_key = match args.get_one::<String>("api-key-env") {
            Some(variable) => Some(
                std::env::var(variable)
                    .ok()
                    .filter(|key| !key.is_empty())
                    .ok_or_else(|| CliError::MissingApiKey {
                        variable: variable.clone(),
                    })?,
            ),
            None => None,
        };
        let quotas = [
            (REQUESTS, REQUESTS_QUOTA),
            (TOKENS, TOKENS_QUOTA),
            (INPUT_TOKENS, INPUT_TOKENS_QUOTA),
            (OUTPUT_TOKENS, OUTPUT_TOKENS_QUOTA),
        ]
        .into_iter()
        .filter_map(|(name, flags)| Some((name, flags.read(args)?)))
        .collect();
        let shared = args.get_one::<String>("redis").map(|url| SharedQuota {
            url: url.clone(),
            name: args.get_one::<String>("name").expect("required").clone(),
        });
        Ok(ProxySettings {
            upstream,
            listen: *args.get_one::<SocketAddr>("listen").expect("has a default"),
            quotas,
            concurrency: args.get_one::<u64>("concurrency").copied(),
            shared,
            api_key,
            default_max_tokens: *args
                .get_one::<u64>("default-max-tokens")
                .expect("has a default"),
            retries: *args.get_one::<u32>("retries").expect("has a default"),
            timeout: args
                .get_one::<Duration>("timeout")
                .map_or(RequestTimeout::ByMaxTokens, |given| {
                    RequestTimeout::Given(*given)
                }),
            header_timeout: *args
                .get_one::<Duration>("header-timeout")
                .expect("has a default"),
            max_body_bytes: *args
                .get_one::<u64>("max-body-bytes")
                .expect("has a default"),
            max_connections: usize::try_from(
                *args
                    .get_one::<u64>("max-connections")
                    .expect("has a default"),
            )
            .unwrap_or(usize::MAX),
            log: args
                .get_one::<String>("log")
                .map_or_else(LogLevel::from_environment, |level| {
                    LogLevel::parse(level).unwrap_or_default()
                }),
        })
    }

    /// The limits the quotas and `--concurrency` make: every quota an exact sliding window of
    /// its period, as providers count.
    pub fn limits(&self) -> Limits {
        let limits = self
            .quotas
            .iter()
            .fold(Limits::new(), |limits, (name, rate)| {
                limits.window(*name, *rate)
            });
        match self.concurrency {
            Some(calls) => limits.max_parallel(calls),
            None => limits,
        }
    }
}
