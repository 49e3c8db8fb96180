//! `tollgate proxy`: a local HTTP/1.1 proxy that holds every program's LLM requests within one
//! quota, on blocking threads (no async runtime).
//!
//! - [`connections`]: the listener and the bounded pool of connection threads.
//! - [`client_request`] / [`client_response`]: reading requests (size limits, timeouts) and
//!   writing answers (chunked as they come).
//! - [`exchange`]: one request's trip: reserve, forward, absorb 429s, pass on, settle, log.
//! - [`request_cost`]: what a request reserves and is billed, per route. [`quota_line`]: the
//!   one line requests wait in (the limiter's queue; on Redis, a local line asking for now).
//! - [`upstream`]: the forwarder to the one upstream (ureq; hop-by-hop headers, keys).
//! - [`answer_stream`]: the answer's body passed on as it arrives, its usage read on the way.
//! - [`refusals`]: 429s refunded and retried within a budget.
//! - [`quota_learning`]: quotas lowered by the upstream's rate-limit headers.
//! - [`stats`]: `/tollgate/stats`. [`log_lines`]: one line per request. [`drain`]: stopping.

mod answer_stream;
mod client_request;
mod client_response;
mod connections;
mod drain;
mod exchange;
mod log_lines;
mod proxy_settings;
mod quota_learning;
mod quota_line;
mod refusals;
mod request_cost;
mod stats;
mod upstream;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tollgate::MultiLimiter;

use crate::cli_error::CliError;
use crate::run_outcome::RunOutcome;
use client_request::RequestLimits;
use connections::{accept_until_stopped, ConnectionPool};
use exchange::Proxy;
pub use proxy_settings::ProxySettings;
use quota_learning::QuotaLearning;
use quota_line::QuotaLine;
use stats::{ProxyStats, STATS_PATH};
use upstream::Upstream;

/// Runs `tollgate proxy` as `settings` say: prints its URL on stdout, serves until a stop
/// signal, then finishes the requests in flight.
///
/// # Errors
/// [`CliError`] when the address cannot be listened on, the quotas are invalid or Redis cannot
/// be reached, or the stop signals cannot be caught.
pub fn proxy(settings: &ProxySettings) -> Result<RunOutcome, CliError> {
    settings.log.install();
    let limiter = limiter(settings)?;
    let listener = TcpListener::bind(settings.listen).map_err(|source| CliError::Listen {
        address: settings.listen,
        source,
    })?;
    let listening = listener.local_addr().map_err(|source| CliError::Listen {
        address: settings.listen,
        source,
    })?;
    let proxy = Arc::new(Proxy {
        resources: settings.quotas.iter().map(|(name, _)| *name).collect(),
        learning: QuotaLearning::new(!settings.quotas.is_empty()),
        line: QuotaLine::new(limiter, settings.shared.is_some()),
        upstream: Upstream::new(
            &settings.upstream,
            settings.api_key.clone(),
            settings.timeout,
            settings.max_connections,
        ),
        stats: ProxyStats::default(),
        retries: settings.retries,
        default_max_tokens: settings.default_max_tokens,
        stopping: AtomicBool::new(false),
    });
    let pool = ConnectionPool::new(settings.max_connections);
    let signals = drain::stop_on_signals(&proxy, &pool, listening)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "http://{listening}")
        .and_then(|()| stdout.flush())
        .map_err(|source| CliError::Write {
            path: "-".into(),
            source,
        })?;
    eprintln!("tollgate proxy: {}", describe(settings, listening));
    if !listening.ip().is_loopback() {
        eprintln!(
            "tollgate proxy: listening on {listening}, not on loopback: whoever reaches this \
             address can spend the quota{}",
            if settings.api_key.is_some() {
                " and the key of --api-key-env"
            } else {
                ""
            }
        );
    }
    let limits = RequestLimits {
        header_timeout: settings.header_timeout,
        max_body_bytes: settings.max_body_bytes,
    };
    accept_until_stopped(&listener, &pool, &proxy, limits);
    drop(listener);
    pool.close_and_wait();
    let count = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    eprintln!(
        "tollgate proxy: stopped after {} requests; {} 429s from the upstream, {} of them \
         absorbed; {} waited for the quotas",
        count(&proxy.stats.requests),
        count(&proxy.stats.upstream_429),
        count(&proxy.stats.absorbed_429),
        count(&proxy.stats.waits),
    );
    Ok(RunOutcome::of(0, signals.received()))
}

/// The limiter of the quotas given: in memory, or shared on Redis.
fn limiter(settings: &ProxySettings) -> Result<MultiLimiter, CliError> {
    let limiter = MultiLimiter::new(settings.limits()).map_err(CliError::Limits)?;
    let Some(shared) = &settings.shared else {
        return Ok(limiter);
    };
    #[cfg(feature = "redis")]
    {
        let state = tollgate::redis::RedisState::open(&shared.url, &shared.name)
            .map_err(|err| CliError::Limits(tollgate::LimitError::Redis(err)))?;
        limiter.shared_on(state).map_err(CliError::Limits)
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (limiter, shared);
        Err(CliError::RedisNotBuilt)
    }
}

/// What the proxy does, in a sentence (the upstream without credentials or query).
fn describe(settings: &ProxySettings, listening: SocketAddr) -> String {
    let quotas: Vec<String> = settings
        .quotas
        .iter()
        .map(|(name, rate)| format!("{name} {rate}"))
        .collect();
    let quotas = if quotas.is_empty() {
        "no quota".to_owned()
    } else {
        quotas.join(", ")
    };
    let shared = settings.shared.as_ref().map_or_else(String::new, |shared| {
        format!(", shared on Redis as {:?}", shared.name)
    });
    format!(
        "forwarding http://{listening} to {} within {quotas}{shared}; stats at \
         http://{listening}{STATS_PATH}; Ctrl-C to stop",
        without_secrets(settings.upstream.as_str()),
    )
}

/// `url` without user information or query.
fn without_secrets(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_is_shown_without_credentials() {
        assert_eq!(
            without_secrets("https://user:sk-1@api.example.com/v1?key=sk-2"),
            "https://api.example.com/v1"
        );
        assert_eq!(without_secrets("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }
}
