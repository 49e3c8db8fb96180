use std::time::{Duration, SystemTime};

use super::civil_time::parse_rfc3339;
use super::headers::{merge, Headers, RateLimitHeaders};
use super::ChatRequest;
use crate::{Rate, Resource};

/// Anthropic messages: requests, input tokens and output tokens per minute, each its own quota.
///
/// Input tokens are estimated as 2 × the words of the messages (the heuristic of the Python `rate_limited` package) and
/// billed with the actual count; output tokens reserve `max_tokens` while the call runs when
/// [`max_tokens_counts_against_output`](Self::max_tokens_counts_against_output) is set (the
/// default: never faster than the quota) and are billed with the actual count.
///
/// ```
/// use tollgate::presets::{AnthropicMessages, ChatRequest};
///
/// struct Usage { input_tokens: u64, output_tokens: u64 }
/// let profile = AnthropicMessages::new(50, 40_000, 8_000);
/// let [requests, input, output] = profile.resources::<ChatRequest, Usage>(
///     |usage| usage.input_tokens,
///     |usage| usage.output_tokens,
/// );
/// # let _ = (requests, input, output);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnthropicMessages {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// Input tokens per minute.
    pub input_tokens_per_minute: u64,
    /// Output tokens per minute.
    pub output_tokens_per_minute: u64,
    /// Whether a request's `max_tokens` is reserved against the output quota while it runs.
    pub max_tokens_counts_against_output: bool,
    /// The quota window (default one minute).
    pub window: Duration,
}

impl AnthropicMessages {
    /// The profile for these quotas.
    pub fn new(
        requests_per_minute: u64,
        input_tokens_per_minute: u64,
        output_tokens_per_minute: u64,
    ) -> Self {
        AnthropicMessages {
            requests_per_minute,
            input_tokens_per_minute,
            output_tokens_per_minute,
            max_tokens_counts_against_output: true,
            window: Duration::from_secs(60),
        }
    }

    /// Whether `max_tokens` is reserved against the output quota while a call runs.
    pub fn max_tokens_counts_against_output(mut self, counts: bool) -> Self {
        self.max_tokens_counts_against_output = counts;
        self
    }

    /// The Runner's resources: `"requests"`, `"input_tokens"` and `"output_tokens"`.
    pub fn resources<J, T>(
        &self,
        input_actual: impl Fn(&T) -> u64 + Send + Sync + 'static,
        output_actual: impl Fn(&T) -> u64 + Send + Sync + 'static,
    ) -> [Resource<J, T>; 3]
    where
        J: AsRef<ChatRequest>,
    {
        let reserve_output = self.max_tokens_counts_against_output;
        [
            Resource::new("requests", Rate::new(self.requests_per_minute, self.window))
                .per_job(|_| 1),
            Resource::new(
                "input_tokens",
                Rate::new(self.input_tokens_per_minute, self.window),
            )
            .estimate(|job: &J| 2 * job.as_ref().word_count())
            .actual(input_actual),
            Resource::new(
                "output_tokens",
                Rate::new(self.output_tokens_per_minute, self.window),
            )
            .estimate(move |job: &J| {
                let request = job.as_ref();
                match (reserve_output, request.max_tokens) {
                    (true, Some(max_tokens)) => max_tokens.saturating_mul(request.completions()),
                    _ => 0,
                }
            })
            .actual(output_actual),
        ]
    }
}

/// Anthropic's rate-limit headers: `anthropic-ratelimit-{requests,tokens,input-tokens,
/// output-tokens}-{limit,remaining,reset}`, resets as RFC 3339 instants measured against `now`
/// (the response's `Date`).
pub(super) fn read_headers(
    headers: &Headers<'_>,
    now: SystemTime,
    snapshot: &mut RateLimitHeaders,
) {
    let quotas = [
        ("requests", &mut snapshot.requests),
        ("tokens", &mut snapshot.tokens),
        ("input-tokens", &mut snapshot.input_tokens),
        ("output-tokens", &mut snapshot.output_tokens),
    ];
    for (resource, quota) in quotas {
        let reported = headers.quota(
            |field| format!("anthropic-ratelimit-{resource}-{field}"),
            |value| {
                let reset = parse_rfc3339(value)?;
                Some(reset.duration_since(now).unwrap_or(Duration::ZERO))
            },
        );
        merge(quota, reported);
    }
}
