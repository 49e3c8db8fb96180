use std::time::Duration;

use super::ChatRequest;
use crate::{Rate, Resource};

/// Gemini: requests per minute, input tokens per minute and requests per day (a per-day quota
/// answers 429 until the next day, which [`Signal`](super::Signal) reports as exhausted).
///
/// ```
/// use tollgate::presets::{ChatRequest, Gemini};
///
/// let free_tier = Gemini::new(15, 1_000_000, 1_500);
/// let [per_minute, tokens, per_day] = free_tier.resources::<ChatRequest, u64>(|input_tokens| *input_tokens);
/// assert_eq!(per_day.rate().period().as_secs(), 86_400);
/// # let _ = (per_minute, tokens);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemini {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// Input tokens per minute.
    pub tokens_per_minute: u64,
    /// Requests per day.
    pub requests_per_day: u64,
}

impl Gemini {
    /// The profile for these quotas.
    pub fn new(requests_per_minute: u64, tokens_per_minute: u64, requests_per_day: u64) -> Gemini {
        Gemini {
            requests_per_minute,
            tokens_per_minute,
            requests_per_day,
        }
    }

    /// The Runner's resources: `"requests"`, `"tokens"` (2 × the words, settled with
    /// `input_actual`) and `"requests_per_day"`.
    pub fn resources<J, T>(
        &self,
        input_actual: impl Fn(&T) -> u64 + Send + Sync + 'static,
    ) -> [Resource<J, T>; 3]
    where
        J: AsRef<ChatRequest>,
    {
        let minute = Duration::from_secs(60);
        [
            Resource::new("requests", Rate::new(self.requests_per_minute, minute)).per_job(|_| 1),
            Resource::new("tokens", Rate::new(self.tokens_per_minute, minute))
                .estimate(|job: &J| 2 * job.as_ref().word_count())
                .actual(input_actual),
            Resource::new(
                "requests_per_day",
                Rate::new(self.requests_per_day, Duration::from_secs(86_400)),
            )
            .per_job(|_| 1),
        ]
    }
}
