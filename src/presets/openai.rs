use std::time::{Duration, SystemTime};

use super::durations::{decimal_nanos, nanos_to_duration, parse_go_duration};
use super::headers::{merge, Headers, RateLimitHeaders};
use super::ChatRequest;
use crate::{Limits, Rate, Resource};

/// OpenAI chat completions: requests per minute and tokens per minute, with the token
/// estimate of the Python `rate_limited` package:
/// `(2 × words in the messages + max_tokens) × n`, or `model_max_len × n` without `max_tokens`.
/// The whole TPM quota is budgeted by default: the Runner reserves the estimate while a call
/// runs and counts usage from its completion, so no margin is needed
/// ([`token_quota_share`](Self::token_quota_share) budgets less).
///
/// Azure OpenAI speaks the same protocol: see [`OpenAiChat::azure`].
///
/// ```
/// use tollgate::presets::{ChatRequest, OpenAiChat};
/// use tollgate::Runner;
///
/// struct Reply { total_tokens: u64 }
/// let chat = OpenAiChat::new(3_500, 90_000, 4_096);
/// let request = ChatRequest::new().message("user", "Please write a poem about pandas").max_tokens(256);
/// assert_eq!(chat.estimate(&request), 2 * 7 + 256);
///
/// let [requests, tokens] = chat.resources(|reply: &Reply| reply.total_tokens);
/// let runner = Runner::new(|_: &ChatRequest| Ok::<Reply, String>(Reply { total_tokens: 300 }))
///     .resource(requests)
///     .resource(tokens)
///     .max_concurrent(32);
/// # drop(runner);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenAiChat {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// Tokens per minute.
    pub tokens_per_minute: u64,
    /// The model's context length: the estimate when a request sets no `max_tokens`.
    pub model_max_len: u64,
    /// The share of the TPM quota to budget (default 1.0), validated by its setter.
    token_quota_share: f64,
    /// The quota window (default one minute).
    pub window: Duration,
}

impl OpenAiChat {
    /// The profile for these quotas and model context length.
    pub fn new(requests_per_minute: u64, tokens_per_minute: u64, model_max_len: u64) -> OpenAiChat {
        OpenAiChat {
            requests_per_minute,
            tokens_per_minute,
            model_max_len,
            token_quota_share: 1.0,
            window: Duration::from_secs(60),
        }
    }

    /// Azure OpenAI: a deployment's TPM quota also sets its RPM, 6 per 1,000 TPM.
    ///
    /// ```
    /// let azure = tollgate::presets::OpenAiChat::azure(120_000, 8_192);
    /// assert_eq!(azure.requests_per_minute, 720);
    /// ```
    pub fn azure(tokens_per_minute: u64, model_max_len: u64) -> OpenAiChat {
        // floor(tpm × 6 / 1,000) without overflowing for any tpm.
        OpenAiChat::new(
            tokens_per_minute / 1_000 * 6 + tokens_per_minute % 1_000 * 6 / 1_000,
            tokens_per_minute,
            model_max_len,
        )
    }

    /// Budget `share` of the TPM quota (in `(0, 1]`) instead of all of it.
    ///
    /// # Errors
    /// [`QuotaShareError`] for a share that is not a number, not above 0, above 1, or so small
    /// that not one token per window would be budgeted.
    ///
    /// ```
    /// use tollgate::presets::{OpenAiChat, QuotaShareError};
    ///
    /// let chat = OpenAiChat::new(3_500, 90_000, 4_096);
    /// assert_eq!(chat.token_quota(), 90_000);
    /// assert_eq!(chat.token_quota_share(0.95)?.token_quota(), 85_500);
    /// assert!(matches!(chat.token_quota_share(1.5), Err(QuotaShareError::AboveOne { .. })));
    /// # Ok::<(), QuotaShareError>(())
    /// ```
    pub fn token_quota_share(mut self, share: f64) -> Result<OpenAiChat, QuotaShareError> {
        let budget = self.tokens_per_minute as f64 * share;
        if !share.is_finite() {
            return Err(QuotaShareError::NotANumber { share });
        }
        if share <= 0.0 {
            return Err(QuotaShareError::NotPositive { share });
        }
        if share > 1.0 {
            return Err(QuotaShareError::AboveOne { share });
        }
        if budget < 1.0 {
            return Err(QuotaShareError::NoTokensLeft {
                share,
                tokens_per_minute: self.tokens_per_minute,
            });
        }
        self.token_quota_share = share;
        Ok(self)
    }

    /// The share of the TPM quota budgeted (1.0 unless set).
    pub fn quota_share(&self) -> f64 {
        self.token_quota_share
    }

    /// An upper estimate of the tokens `request` uses (`rate_limited`'s).
    pub fn estimate(&self, request: &ChatRequest) -> u64 {
        let per_completion = match request.max_tokens {
            Some(max_tokens) => 2 * request.word_count() + max_tokens,
            None => self.model_max_len,
        };
        per_completion.saturating_mul(request.completions())
    }

    /// The budgeted token quota per window.
    pub fn token_quota(&self) -> u64 {
        // The whole quota exactly (an f64 product rounds quotas above 2^53).
        if self.token_quota_share >= 1.0 {
            return self.tokens_per_minute;
        }
        (self.tokens_per_minute as f64 * self.token_quota_share) as u64
    }

    /// The Runner's resources: `"requests"` (one per call) and `"tokens"` (the estimate reserved
    /// while the call runs, `actual(reply)` billed when it returns).
    pub fn resources<J, T>(
        &self,
        actual: impl Fn(&T) -> u64 + Send + Sync + 'static,
    ) -> [Resource<J, T>; 2]
    where
        J: AsRef<ChatRequest>,
    {
        let profile = *self;
        [
            Resource::new("requests", Rate::new(self.requests_per_minute, self.window))
                .per_job(|_| 1),
            Resource::new("tokens", Rate::new(self.token_quota(), self.window))
                .estimate(move |job: &J| profile.estimate(job.as_ref()))
                .actual(actual),
        ]
    }

    /// The same quotas as [`Limits`] for a [`ModelLimiter`](crate::ModelLimiter) (estimate
    /// with [`estimate`](Self::estimate)).
    pub fn limits(&self) -> Limits {
        Limits::new()
            .rate("requests", Rate::new(self.requests_per_minute, self.window))
            .rate("tokens", Rate::new(self.token_quota(), self.window))
    }
}

/// Why [`OpenAiChat::token_quota_share`] refused a share: it must be a number in `(0, 1]`
/// leaving at least one token per window.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum QuotaShareError {
    /// NaN or infinite.
    NotANumber {
        /// The share given.
        share: f64,
    },
    /// 0 or below: nothing would ever be budgeted.
    NotPositive {
        /// The share given.
        share: f64,
    },
    /// Above 1: more than the server allows.
    AboveOne {
        /// The share given.
        share: f64,
    },
    /// So small that the budget rounds to no token per window.
    NoTokensLeft {
        /// The share given.
        share: f64,
        /// The quota it is a share of.
        tokens_per_minute: u64,
    },
}

impl std::fmt::Display for QuotaShareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuotaShareError::NotANumber { share } => {
                write!(f, "token_quota_share {share} is not a finite number; give a share in (0, 1]")
            }
            QuotaShareError::NotPositive { share } => write!(
                f,
                "token_quota_share {share} budgets no tokens; give a share in (0, 1] (1.0: the whole quota)"
            ),
            QuotaShareError::AboveOne { share } => write!(
                f,
                "token_quota_share {share} is above 1: more than the server allows; give at most 1.0 \
                 (no margin is needed)"
            ),
            QuotaShareError::NoTokensLeft {
                share,
                tokens_per_minute,
            } => write!(
                f,
                "token_quota_share {share} of {tokens_per_minute} tokens per window budgets less than \
                 one token; give a larger share"
            ),
        }
    }
}

impl std::error::Error for QuotaShareError {}

/// OpenAI's (and Azure's) rate-limit headers: `x-ratelimit-{limit,remaining,reset}-{requests,
/// tokens}`, resets as Go durations (`"6m0s"`), Azure's in seconds.
pub(super) fn read_headers(
    headers: &Headers<'_>,
    _now: SystemTime,
    snapshot: &mut RateLimitHeaders,
) {
    for (resource, quota) in [
        ("requests", &mut snapshot.requests),
        ("tokens", &mut snapshot.tokens),
    ] {
        let reported = headers.quota(
            |field| format!("x-ratelimit-{field}-{resource}"),
            parse_openai_reset,
        );
        merge(quota, reported);
    }
}

/// An OpenAI reset (a Go duration) or an Azure one (whole or decimal seconds; `0` and `-1`
/// mean unknown).
fn parse_openai_reset(value: &str) -> Option<Duration> {
    if let Some(nanos) = decimal_nanos(value, 1_000_000_000) {
        return nanos_to_duration(nanos).filter(|reset| !reset.is_zero());
    }
    parse_go_duration(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_resets_are_seconds_and_zero_or_minus_one_mean_unknown() {
        assert_eq!(parse_openai_reset("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_openai_reset("0"), None);
        assert_eq!(parse_openai_reset("-1"), None);
        assert_eq!(parse_openai_reset("0s"), Some(Duration::ZERO));
    }
}
