//! 429s absorbed: a request the upstream refused for its rate limit is refunded (its permit
//! cancelled by the caller) and sent again after the server's `retry-after`, up to a budget of
//! retries; every request waits out that pause, in the line, as the Runner does. A client sees
//! the 429 only when the budget is spent, or for an exhausted quota (billing, a daily limit),
//! which no wait fixes.

use std::time::Duration;

use tollgate::presets::Signal;
use tollgate::{MultiLimiter, REQUESTS};
use ureq::http::{HeaderMap, StatusCode};

/// The wait before the first retry of a 429 that names none; doubled for each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest backoff without a `retry-after`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The retries one request has left.
#[derive(Clone, Copy, Debug)]
pub struct RetryBudget {
    left: u32,
    retried: u32,
}

impl RetryBudget {
    /// `retries` retries in all.
    pub fn new(retries: u32) -> RetryBudget {
        RetryBudget {
            left: retries,
            retried: 0,
        }
    }

    /// The retries spent.
    pub fn retried(self) -> u32 {
        self.retried
    }

    /// Whether to retry an answer the upstream refused with `status` 429, `headers` and
    /// `body`: then the wait asked for (its `retry-after`, else a backoff), for which no
    /// request of `limiter` goes (the caller sends this one again after it), and a retry is
    /// spent. `None`: pass the refusal on.
    pub fn absorb(
        &mut self,
        limiter: &MultiLimiter,
        headers: &HeaderMap,
        body: &str,
    ) -> Option<Duration> {
        if self.left == 0 {
            return None;
        }
        let (signal, _) = Signal::classify_http(StatusCode::TOO_MANY_REQUESTS, headers, body);
        let Some(Signal::RateLimited { retry_after }) = signal else {
            return None;
        };
        let wait = retry_after.unwrap_or_else(|| {
            FIRST_BACKOFF
                .saturating_mul(1 << self.retried.min(16))
                .min(MAX_BACKOFF)
        });
        self.left -= 1;
        self.retried += 1;
        // Every request waits, in its turn; without a requests quota, this one alone.
        if limiter.observe(REQUESTS, 0, Some(wait)).is_err() {
            std::thread::sleep(wait);
        }
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::{Clock, Limits, Nanos};

    #[test]
    fn a_rate_limit_is_waited_out_by_every_request_until_the_budget_is_spent() {
        let (clock, time) = Clock::mock();
        let limiter = MultiLimiter::new(Limits::new().rpm(600))
            .unwrap()
            .with_clock(clock);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        let mut budget = RetryBudget::new(1);
        assert_eq!(
            budget.absorb(&limiter, &headers, "Rate limit reached"),
            Some(Duration::from_millis(1_500))
        );
        drop(limiter.acquire(&[(REQUESTS, 1)]).unwrap());
        assert_eq!(time.now(), Nanos::from_millis(1_500));
        assert_eq!(budget.absorb(&limiter, &headers, ""), None);
        assert_eq!(budget.retried(), 1);
    }

    #[test]
    fn an_exhausted_quota_is_passed_on() {
        let limiter = MultiLimiter::new(Limits::new().rpm(600)).unwrap();
        let body = r#"{"error": {"code": "insufficient_quota"}}"#;
        assert_eq!(
            RetryBudget::new(5).absorb(&limiter, &HeaderMap::new(), body),
            None
        );
    }
}
