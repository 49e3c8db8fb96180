use std::time::{Duration, SystemTime};

use super::civil_time::parse_http_date;
use super::durations::{parse_retry_after, parse_retry_after_ms};
use crate::{MultiLimiter, Rate, INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS};

/// Reads one provider's family of rate-limit headers into a snapshot at `now` (the response's
/// instant), filling only what the snapshot lacks.
pub(super) type ReadHeaders = fn(&Headers<'_>, SystemTime, &mut RateLimitHeaders);

/// A response's headers, names in lowercase, values trimmed.
pub(super) struct Headers<'h>(&'h [(String, String)]);

impl<'h> Headers<'h> {
    /// The value of header `name` (lowercase), if any.
    pub(super) fn get(&self, name: &str) -> Option<&'h str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// One resource's figures, its headers named by `name("limit" | "remaining" | "reset")`,
    /// its reset read by `reset`.
    pub(super) fn quota(
        &self,
        name: impl Fn(&str) -> String,
        reset: impl Fn(&str) -> Option<Duration>,
    ) -> Quota {
        Quota {
            limit: self.get(&name("limit")).and_then(parse_count),
            remaining: self.get(&name("remaining")).and_then(parse_count),
            reset: self.get(&name("reset")).and_then(reset),
        }
    }
}

/// Every provider's header family, read in this order (the first to report a figure wins). A
/// new provider's headers: a reader in its preset file, listed here.
const PROVIDER_HEADERS: [ReadHeaders; 2] =
    [super::openai::read_headers, super::anthropic::read_headers];

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
        let headers = Headers(&headers);
        let get = |name: &str| headers.get(name);
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
        for read in PROVIDER_HEADERS {
            read(&headers, now, &mut snapshot);
        }
        snapshot
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl RateLimitHeaders {
    /// Reads the headers straight from an [`http::HeaderMap`] (what ureq 3, reqwest and hyper
    /// return); values that are not text are skipped. Needs the `http` feature.
    ///
    /// ```
    /// use tollgate::presets::RateLimitHeaders;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-ratelimit-remaining-requests", "4".parse().unwrap());
    /// assert_eq!(RateLimitHeaders::from_http(&headers).requests.remaining, Some(4));
    /// ```
    pub fn from_http(headers: &http::HeaderMap) -> RateLimitHeaders {
        RateLimitHeaders::parse(
            headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
        )
    }
}

impl RateLimitHeaders {
    /// Takes in what the server says of each resource of `limiter` named like the header
    /// family (`"requests"`, `"tokens"`, `"input_tokens"`, `"output_tokens"`): see
    /// [`apply_as`](Self::apply_as).
    ///
    /// # Errors
    /// [`Unmapped`], naming the families the server reported that the limiter has no resource
    /// for (everything else was applied).
    ///
    /// ```
    /// use tollgate::presets::RateLimitHeaders;
    /// use tollgate::{Limits, MultiLimiter};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(500).tpm(40_000))?;
    /// RateLimitHeaders::parse([("x-ratelimit-remaining-tokens", "1200")]).apply_to(&api).unwrap();
    /// assert_eq!(api.usage()[1].1.used, 38_800);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn apply_to(&self, limiter: &MultiLimiter) -> Result<(), Unmapped> {
        self.apply_as(limiter, &[])
    }

    /// Takes in what the server says, with `mapping` naming the resource each header family
    /// feeds (`("requests", "points")`: the `*-requests` headers feed the resource `"points"`);
    /// a family not in `mapping` feeds the resource of its own name. For each resource:
    ///
    /// - **learning**: a reported limit (`x-ratelimit-limit-*`, `anthropic-ratelimit-*-limit`)
    ///   below the rate in force becomes the rate (same period; the burst no larger), so a
    ///   quota configured too high is corrected by the first response; a limit is never
    ///   raised;
    /// - what is available now is lowered to what the server reports remaining (never raised);
    ///   with nothing remaining, calls are held until the reset (an absolute instant).
    ///
    /// # Errors
    /// [`Unmapped`], naming the families the server reported that map to no resource of the
    /// limiter (everything else was applied): a header is never ignored silently.
    ///
    /// ```
    /// use tollgate::presets::RateLimitHeaders;
    /// use tollgate::{Limits, MultiLimiter, Rate};
    ///
    /// let api = MultiLimiter::new(Limits::new().rate("points", Rate::per_second(10)))?;
    /// let headers = RateLimitHeaders::parse([
    ///     ("x-ratelimit-limit-requests", "5"),
    ///     ("x-ratelimit-remaining-requests", "4"),
    ///     ("x-ratelimit-remaining-tokens", "100"),
    /// ]);
    /// let unmapped = headers.apply_as(&api, &[("requests", "points")]).unwrap_err();
    /// assert_eq!(unmapped.families, vec!["tokens"]);
    /// assert_eq!(api.rate("points")?, Rate::per_second(5));   // learnt from the limit header
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn apply_as(
        &self,
        limiter: &MultiLimiter,
        mapping: &[(&str, &str)],
    ) -> Result<(), Unmapped> {
        let reported = [
            (REQUESTS, &self.requests),
            (TOKENS, &self.tokens),
            (INPUT_TOKENS, &self.input_tokens),
            (OUTPUT_TOKENS, &self.output_tokens),
        ];
        let mut unmapped = Vec::new();
        for (family, quota) in reported {
            if *quota == Quota::default() {
                continue;
            }
            let resource = mapping
                .iter()
                .find(|(from, _)| *from == family)
                .map_or(family, |(_, to)| *to);
            let Ok(rate) = limiter.rate(resource) else {
                unmapped.push(family);
                continue;
            };
            if let Some(limit) = quota
                .limit
                .filter(|limit| *limit > 0 && *limit < rate.quantity())
            {
                let learnt = Rate::new(limit, rate.period()).burst(rate.capacity().min(limit));
                // A valid rate made smaller stays valid; the resource exists (checked).
                if limiter.set_rate(resource, learnt).is_ok() {
                    event!(
                        info,
                        "{resource}: learnt the server's quota {learnt} (was {rate})"
                    );
                }
            }
            if let Some(remaining) = quota.remaining {
                limiter.observe(resource, remaining, quota.reset).ok();
            }
        }
        if unmapped.is_empty() {
            Ok(())
        } else {
            Err(Unmapped { families: unmapped })
        }
    }
}

/// Header families a server reported that map to no resource of the limiter they were applied
/// to (see [`RateLimitHeaders::apply_as`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    /// The families: `"requests"`, `"tokens"`, `"input_tokens"`, `"output_tokens"`.
    pub families: Vec<&'static str>,
}

impl std::fmt::Display for Unmapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server reports limits for {:?}, which no resource of the limiter takes in; \
             name them in the mapping of apply_as, or add the resources",
            self.families
        )
    }
}

impl std::error::Error for Unmapped {}

/// Fills what `quota` lacks from `reported`.
pub(super) fn merge(quota: &mut Quota, reported: Quota) {
    quota.limit = quota.limit.or(reported.limit);
    quota.remaining = quota.remaining.or(reported.remaining);
    quota.reset = quota.reset.or(reported.reset);
}

/// A non-negative whole count.
fn parse_count(value: &str) -> Option<u64> {
    value.parse().ok()
}
