use std::time::{Duration, SystemTime};

use super::civil_time::{parse_http_date, parse_rfc3339};
use super::durations::{
    decimal_nanos, nanos_to_duration, parse_go_duration, parse_retry_after, parse_retry_after_ms,
};
use crate::{MultiLimiter, INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS};

/// One resource's figures as the server reports them; every field is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// The quota per window.
    pub limit: Option<u64>,
    /// What is left of it now.
    pub remaining: Option<u64>,
    /// How long until it is fully replenished.
    pub reset: Option<Duration>,
}

/// A snapshot of a response's rate-limit headers (names are case-insensitive; every header is
/// optional; malformed values are left out).
///
/// - OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go durations
///   (`"6m0s"`); Azure OpenAI sends the same names with resets in whole seconds, where `0` and
///   `-1` mean unknown.
/// - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
///   remaining,reset}`, resets as RFC 3339 instants, measured against the response's `Date`.
/// - `retry-after-ms` (preferred), else `retry-after` (seconds or an HTTP-date);
///   `x-should-retry`.
///
/// ```
/// use std::time::Duration;
/// use tollgate::presets::RateLimitHeaders;
///
/// let headers = RateLimitHeaders::parse([
///     ("X-RateLimit-Limit-Requests", "500"),
///     ("x-ratelimit-remaining-requests", "499"),
///     ("x-ratelimit-reset-requests", "120ms"),
///     ("x-ratelimit-remaining-tokens", "39000"),
///     ("x-ratelimit-reset-tokens", "1.5s"),
///     ("retry-after", "2"),
/// ]);
/// assert_eq!(headers.requests.remaining, Some(499));
/// assert_eq!(headers.tokens.reset, Some(Duration::from_millis(1_500)));
/// assert_eq!(headers.retry_after, Some(Duration::from_secs(2)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitHeaders {
    /// Requests.
    pub requests: Quota,
    /// Tokens (all, or input + output where the provider counts them together).
    pub tokens: Quota,
    /// Input tokens (Anthropic).
    pub input_tokens: Quota,
    /// Output tokens (Anthropic).
    pub output_tokens: Quota,
    /// How long the server asks to wait before retrying.
    pub retry_after: Option<Duration>,
    /// The server's own word on whether to retry (`x-should-retry`).
    pub should_retry: Option<bool>,
    /// The response's `Date`.
    pub date: Option<SystemTime>,
}

impl RateLimitHeaders {
    /// Parses `headers`, measuring absolute instants against the response's `Date` header, or
    /// the system clock without one.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(headers: impl IntoIterator<Item = (K, V)>) -> Self {
        RateLimitHeaders::parse_at(headers, SystemTime::now())
    }

    /// [`parse`](Self::parse), with `now` standing for the system clock.
    pub fn parse_at<K: AsRef<str>, V: AsRef<str>>(
        headers: impl IntoIterator<Item = (K, V)>,
        now: SystemTime,
    ) -> Self {
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(name, value)| {
                (
                    name.as_ref().trim().to_ascii_lowercase(),
                    value.as_ref().trim().to_owned(),
                )
            })
            .collect();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let date = get("date").and_then(parse_http_date);
        let now = date.unwrap_or(now);
        let mut snapshot = RateLimitHeaders {
            date,
            retry_after: get("retry-after-ms")
                .and_then(parse_retry_after_ms)
                .or_else(|| get("retry-after").and_then(|value| parse_retry_after(value, now))),
            should_retry: get("x-should-retry").and_then(|value| match value {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }),
            ..RateLimitHeaders::default()
        };
        for (resource, quota) in [
            ("requests", &mut snapshot.requests),
            ("tokens", &mut snapshot.tokens),
        ] {
            let openai = Quota {
                limit: get(&format!("x-ratelimit-limit-{resource}")).and_then(parse_count),
                remaining: get(&format!("x-ratelimit-remaining-{resource}")).and_then(parse_count),
                reset: get(&format!("x-ratelimit-reset-{resource}")).and_then(parse_openai_reset),
            };
            merge(quota, openai);
        }
        let anthropic = [
            ("requests", &mut snapshot.requests),
            ("tokens", &mut snapshot.tokens),
            ("input-tokens", &mut snapshot.input_tokens),
            ("output-tokens", &mut snapshot.output_tokens),
        ];
        for (resource, quota) in anthropic {
            let reported = Quota {
                limit: get(&format!("anthropic-ratelimit-{resource}-limit")).and_then(parse_count),
                remaining: get(&format!("anthropic-ratelimit-{resource}-remaining"))
                    .and_then(parse_count),
                reset: get(&format!("anthropic-ratelimit-{resource}-reset"))
                    .and_then(parse_rfc3339)
                    .map(|reset| reset.duration_since(now).unwrap_or(Duration::ZERO)),
            };
            merge(quota, reported);
        }
        snapshot
    }
}

impl RateLimitHeaders {
    /// Lowers `limiter`'s budget to what the server reports left of each resource it limits
    /// (`"requests"`, `"tokens"`, `"input_tokens"`, `"output_tokens"`), never raising it; a
    /// resource with nothing left holds calls until its reset.
    ///
    /// ```
    /// use tollgate::presets::RateLimitHeaders;
    /// use tollgate::{Limits, MultiLimiter};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(500).tpm(40_000))?;
    /// RateLimitHeaders::parse([("x-ratelimit-remaining-tokens", "1200")]).apply_to(&api);
    /// assert_eq!(api.usage()[1], ("tokens".to_owned(), 38_800, 40_000));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn apply_to(&self, limiter: &MultiLimiter) {
        let reported = [
            (REQUESTS, &self.requests),
            (TOKENS, &self.tokens),
            (INPUT_TOKENS, &self.input_tokens),
            (OUTPUT_TOKENS, &self.output_tokens),
        ];
        for (resource, quota) in reported {
            if let (Some(remaining), Some(_)) = (quota.remaining, limiter.limits().get(resource)) {
                // The resource exists (checked), so this cannot fail.
                limiter.observe(resource, remaining, quota.reset).ok();
            }
        }
    }
}

/// Fills what `quota` lacks from `reported`.
fn merge(quota: &mut Quota, reported: Quota) {
    quota.limit = quota.limit.or(reported.limit);
    quota.remaining = quota.remaining.or(reported.remaining);
    quota.reset = quota.reset.or(reported.reset);
}

/// A non-negative whole count.
fn parse_count(value: &str) -> Option<u64> {
    value.parse().ok()
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
