use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::durations::{decimal_nanos, nanos_to_duration, parse_go_duration};
use super::RateLimitHeaders;
use crate::Verdict;

/// What a failed response means for the caller.
///
/// ```
/// use std::time::Duration;
/// use tollgate::presets::{RateLimitHeaders, Signal};
///
/// let headers = RateLimitHeaders::parse([("retry-after-ms", "1500")]);
/// let signal = Signal::classify(429, &headers, "Rate limit reached. Please try again in 6ms.");
/// assert_eq!(signal, Some(Signal::RateLimited { retry_after: Some(Duration::from_millis(1_500)) }));
///
/// let quota = Signal::classify(429, &RateLimitHeaders::default(), r#"{"error":{"code":"insufficient_quota"}}"#);
/// assert_eq!(quota, Some(Signal::QuotaExhausted { until: None }));
/// assert_eq!(Signal::classify(200, &RateLimitHeaders::default(), ""), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Over a rate limit (429): retry after the wait, slowing down.
    RateLimited {
        /// The wait the server asked for (headers first, else the body), if any.
        retry_after: Option<Duration>,
    },
    /// Out of quota or credit (billing, `insufficient_quota`, a per-day quota): never retried
    /// before `until`, if known.
    QuotaExhausted {
        /// When the quota comes back, if known (a per-day quota: the next UTC day).
        until: Option<Duration>,
    },
    /// The server is overloaded (529, 503): retry with backoff; not a reason to lower the
    /// concurrency limit.
    Overloaded {
        /// The wait the server asked for, if any.
        retry_after: Option<Duration>,
    },
    /// A passing failure (other 5xx, 408 timeouts): retry with backoff.
    Transient,
    /// The request itself is wrong (other 4xx, a request too large): never retried.
    Permanent,
}

impl Signal {
    /// Classifies a response from its status, headers and body; `None` when the status is not
    /// an error. The server's `x-should-retry` overrides the status: `true` makes a permanent
    /// error transient, `false` makes a retryable one permanent.
    pub fn classify(status: u16, headers: &RateLimitHeaders, body: &str) -> Option<Signal> {
        let body = body.to_ascii_lowercase();
        let wait = headers.retry_after.or_else(|| wait_in_body(&body));
        let signal = match status {
            0..=399 => return None,
            429 if quota_exhausted(&body) => Signal::QuotaExhausted {
                until: per_day_quota(&body)
                    .then(|| until_next_utc_day(headers.date.unwrap_or_else(SystemTime::now))),
            },
            429 => Signal::RateLimited { retry_after: wait },
            503 | 529 => Signal::Overloaded { retry_after: wait },
            408 | 500..=599 => Signal::Transient,
            _ => Signal::Permanent,
        };
        Some(match (headers.should_retry, signal) {
            (Some(true), Signal::Permanent) => Signal::Transient,
            (
                Some(false),
                Signal::RateLimited { .. } | Signal::Overloaded { .. } | Signal::Transient,
            ) => Signal::Permanent,
            (_, signal) => signal,
        })
    }

    /// Classifies a response straight from the HTTP client's types, and returns its rate-limit
    /// headers with it (to feed the limiter with
    /// [`apply_to`](RateLimitHeaders::apply_to)). Needs the `http` feature.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::presets::Signal;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("retry-after-ms", "1500".parse().unwrap());
    /// let (signal, _headers) = Signal::classify_http(http::StatusCode::TOO_MANY_REQUESTS, &headers, "");
    /// assert_eq!(signal.unwrap().retry_after(), Some(Duration::from_millis(1_500)));
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn classify_http(
        status: http::StatusCode,
        headers: &http::HeaderMap,
        body: &str,
    ) -> (Option<Signal>, RateLimitHeaders) {
        let headers = RateLimitHeaders::from_http(headers);
        (Signal::classify(status.as_u16(), &headers, body), headers)
    }

    /// Whether the request may be retried.
    pub fn retryable(&self) -> bool {
        !matches!(self, Signal::QuotaExhausted { .. } | Signal::Permanent)
    }

    /// What a [`Runner`](crate::Runner) should do: never retry an exhausted quota or a
    /// permanent error; honour a requested wait (pausing every new start); else back off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::presets::Signal;
    /// use tollgate::Verdict;
    ///
    /// let limited = Signal::RateLimited { retry_after: Some(Duration::from_secs(2)) };
    /// assert_eq!(limited.verdict(), Verdict::RetryAfter(Duration::from_secs(2)));
    /// assert_eq!(Signal::Permanent.verdict(), Verdict::Fail);
    /// ```
    pub fn verdict(&self) -> Verdict {
        match self {
            Signal::QuotaExhausted { .. } | Signal::Permanent => Verdict::Fail,
            Signal::RateLimited {
                retry_after: Some(wait),
            } => Verdict::RetryAfter(*wait),
            Signal::RateLimited { retry_after: None }
            | Signal::Overloaded { .. }
            | Signal::Transient => Verdict::Retry,
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Signal::RateLimited { retry_after } | Signal::Overloaded { retry_after } => {
                *retry_after
            }
            Signal::QuotaExhausted { until } => *until,
            Signal::Transient | Signal::Permanent => None,
        }
    }
}

fn quota_exhausted(body: &str) -> bool {
    [
        "insufficient_quota",
        "exceeded your current quota",
        "billing",
        "credit balance",
    ]
    .iter()
    .any(|phrase| body.contains(phrase))
        || per_day_quota(body)
}

/// Gemini names per-day quotas with ids like `GenerateRequestsPerDayPerProjectPerModel`.
fn per_day_quota(body: &str) -> bool {
    body.contains("perday")
}

/// Waits stated in bodies: "please try again in 6ms", "please retry after 37 seconds", and
/// Gemini's `"retryDelay": "12.5s"`.
fn wait_in_body(body: &str) -> Option<Duration> {
    let after = |marker: &str| body.find(marker).map(|at| &body[at + marker.len()..]);
    if let Some(rest) = after("try again in ") {
        let token = rest
            .split_whitespace()
            .next()?
            .trim_end_matches(['.', ',', ')', '"']);
        return parse_go_duration(token).or_else(|| seconds_with_word(rest));
    }
    if let Some(rest) = after("retry after ") {
        return seconds_with_word(rest);
    }
    if let Some(rest) = after("\"retrydelay\"") {
        let value = rest
            .trim_start()
            .strip_prefix(':')?
            .trim_start()
            .strip_prefix('"')?;
        return parse_go_duration(value.split('"').next()?);
    }
    None
}

/// `"37 seconds"`, `"1.5 second"`, `"200 ms"`.
fn seconds_with_word(text: &str) -> Option<Duration> {
    let mut words = text.split_whitespace();
    let number = words.next()?;
    let unit = words.next().unwrap_or("seconds");
    let unit_nanos = if unit.starts_with("ms") || unit.starts_with("milli") {
        1_000_000
    } else if unit.starts_with("sec") || unit.starts_with('s') {
        1_000_000_000
    } else {
        return None;
    };
    nanos_to_duration(decimal_nanos(number, unit_nanos)?)
}

fn until_next_utc_day(now: SystemTime) -> Duration {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let into_day = since_epoch.as_secs() % 86_400;
    Duration::from_secs(86_400 - into_day)
        .saturating_sub(Duration::from_nanos(u64::from(since_epoch.subsec_nanos())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stated_in_bodies() {
        assert_eq!(
            wait_in_body("please try again in 6ms."),
            Some(Duration::from_millis(6))
        );
        assert_eq!(
            wait_in_body("please try again in 1.5s. visit"),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(
            wait_in_body("please try again in 20 seconds"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            wait_in_body("please retry after 37 seconds"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            wait_in_body(r#"{"@type": "retryinfo", "retrydelay": "12.5s"}"#),
            Some(Duration::from_millis(12_500))
        );
        assert_eq!(wait_in_body("try again later"), None);
    }

    #[test]
    fn the_next_utc_day() {
        let noon = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 43_200);
        assert_eq!(until_next_utc_day(noon), Duration::from_secs(43_200));
    }
}
