use std::time::Duration;

use super::ChatRequest;
use crate::{Limits, Rate, Resource};

/// OpenAI chat completions: requests per minute and tokens per minute, with the token
/// estimate of the Python `rate_limited` package:
/// `(2 × words in the messages + max_tokens) × n`, or `model_max_len × n` without `max_tokens`;
/// tokens are budgeted at 95 % of the TPM quota, leaving room for the estimate's error.
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
    /// The share of the TPM quota to budget (default 0.95).
    pub token_quota_share: f64,
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
            token_quota_share: 0.95,
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
        OpenAiChat::new(
            tokens_per_minute * 6 / 1_000,
            tokens_per_minute,
            model_max_len,
        )
    }

    /// Budget `share` of the TPM quota instead of 95 %.
    pub fn token_quota_share(mut self, share: f64) -> OpenAiChat {
        self.token_quota_share = share;
        self
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
        (self.tokens_per_minute as f64 * self.token_quota_share.clamp(0.0, 1.0)) as u64
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
