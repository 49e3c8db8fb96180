//! An in-process fake of a rate-limited API, shared by `examples/batch.rs` and the Runner tests.
//!
//! Thread-safe. It enforces requests and points per window (an exact sliding window), records a
//! request's usage when it arrives, answers "429" with the wait until room frees when a request
//! would go over quota, sleeps a latency, and can fail at random, deterministically: whether the
//! n-th call for a key fails depends only on (seed, key, n), however threads interleave.

#![allow(dead_code)] // each user of this module uses a part of it

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tollgate::presets::{RateLimitHeaders, Signal};
use tollgate::Verdict;

/// The fake's quotas and behaviour.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub requests_per_window: u64,
    pub points_per_window: u64,
    pub window: Duration,
    pub latency: Duration,
    /// Probability that a call fails (after its usage was recorded).
    pub failure_rate: f64,
    pub seed: u64,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            requests_per_window: u64::MAX,
            points_per_window: u64::MAX,
            window: Duration::from_secs(1),
            latency: Duration::ZERO,
            failure_rate: 0.0,
            seed: 7,
        }
    }
}

/// The fake's answers when a call does not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// HTTP 429: over the `exhausted` quota ("requests" or "tokens"); room frees after
    /// `retry_after`.
    TooManyRequests {
        retry_after: Duration,
        exhausted: &'static str,
    },
    /// HTTP 503: a random failure.
    Unavailable,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::TooManyRequests { retry_after, .. } => {
                write!(f, "429 Too Many Requests, retry after {retry_after:?}")
            }
            ApiError::Unavailable => f.write_str("503 Service Unavailable"),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The HTTP response the fake answers with: status, headers and body, in OpenAI's format.
    pub fn response(&self) -> (u16, Vec<(String, String)>, String) {
        match self {
            ApiError::TooManyRequests {
                retry_after,
                exhausted,
            } => {
                let ms = retry_after.as_millis();
                let headers = vec![
                    ("retry-after-ms".to_owned(), ms.to_string()),
                    (format!("x-ratelimit-remaining-{exhausted}"), "0".to_owned()),
                    (format!("x-ratelimit-reset-{exhausted}"), format!("{ms}ms")),
                ];
                let body =
                    format!("Rate limit reached for {exhausted}. Please try again in {ms}ms.");
                (429, headers, body)
            }
            ApiError::Unavailable => (503, Vec::new(), "Service Unavailable".to_owned()),
        }
    }

    /// The response's rate-limit headers, read with `tollgate::presets`.
    pub fn headers(&self) -> RateLimitHeaders {
        RateLimitHeaders::parse(self.response().1)
    }

    /// What the response calls for, classified with `tollgate::presets`.
    pub fn verdict(&self) -> Verdict {
        let (status, _, body) = self.response();
        Signal::classify(status, &self.headers(), &body)
            .map_or(Verdict::Retry, |signal| signal.verdict())
    }
}

/// What the fake has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiStats {
    pub calls: u64,
    pub rejected: u64,
    pub failed: u64,
    /// The most requests / points it ever held in one window.
    pub peak_requests: u64,
    pub peak_points: u64,
}

pub struct FakeApi {
    config: FakeConfig,
    state: Mutex<ApiState>,
}

#[derive(Default)]
struct ApiState {
    /// `(arrival, points)` of the requests in the current window.
    log: VecDeque<(Instant, u64)>,
    attempts_by_key: HashMap<u64, u64>,
    stats: ApiStats,
}

impl FakeApi {
    pub fn new(config: FakeConfig) -> FakeApi {
        FakeApi {
            config,
            state: Mutex::new(ApiState::default()),
        }
    }

    /// A request for `key` using `points`.
    pub fn call(&self, key: u64, points: u64) -> Result<u64, ApiError> {
        let fails = {
            let mut state = self.state.lock().unwrap();
            let now = Instant::now();
            let window = self.config.window;
            while state.log.front().is_some_and(|(at, _)| *at + window <= now) {
                state.log.pop_front();
            }
            state.stats.calls += 1;
            let requests = state.log.len() as u64 + 1;
            let used: u64 = state.log.iter().map(|(_, p)| p).sum::<u64>() + points;
            let exhausted = if requests > self.config.requests_per_window {
                Some("requests")
            } else if used > self.config.points_per_window {
                Some("tokens")
            } else {
                None
            };
            if let Some(exhausted) = exhausted {
                state.stats.rejected += 1;
                let retry_after = state.log.front().map_or(Duration::ZERO, |(at, _)| {
                    (*at + window).saturating_duration_since(now)
                });
                return Err(ApiError::TooManyRequests {
                    retry_after,
                    exhausted,
                });
            }
            state.log.push_back((now, points));
            state.stats.peak_requests = state.stats.peak_requests.max(requests);
            state.stats.peak_points = state.stats.peak_points.max(used);
            let attempt = state.attempts_by_key.entry(key).or_insert(0);
            *attempt += 1;
            let fails = unit_hash(self.config.seed, key, *attempt) < self.config.failure_rate;
            if fails {
                state.stats.failed += 1;
            }
            fails
        };
        std::thread::sleep(self.config.latency);
        if fails {
            Err(ApiError::Unavailable)
        } else {
            Ok(points)
        }
    }

    pub fn stats(&self) -> ApiStats {
        self.state.lock().unwrap().stats
    }
}

/// A deterministic number in [0, 1) from (seed, key, attempt): splitmix64.
fn unit_hash(seed: u64, key: u64, attempt: u64) -> f64 {
    let mut x = seed
        ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ attempt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}
