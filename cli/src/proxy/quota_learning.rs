//! Learning the upstream's quota from its answers: every answer's `x-ratelimit-*` /
//! `anthropic-ratelimit-*` headers lower the quotas in force (never raise them) and align what
//! is left, through the library's [`RateLimitHeaders::apply_to`]; and until the first answer
//! has taught them, the first request goes alone (the others wait for its answer's head, at
//! most [`FIRST_ANSWER_AWAITED`]), so quotas given too high cost at most a few 429s.
//!
//! A quota the server reports as used up (`remaining: 0`) is not taken in: the library would
//! hold every request until its reset, the instant the server's window is *empty* (stamped at
//! the request's arrival and read at its answer), when its first request leaves the window much
//! earlier; the proxy's own count knows when, and a 429's `retry-after` still holds everyone.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tollgate::presets::RateLimitHeaders;
use tollgate::MultiLimiter;
use ureq::http::HeaderMap;

/// The longest the other requests wait for the first one's answer: an answer that is slow to
/// come (a long completion is answered whole at its end) does not hold every client that long;
/// past it, the quotas given hold, and a 429 is absorbed.
pub const FIRST_ANSWER_AWAITED: Duration = Duration::from_secs(5);

/// Where learning stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// No request has gone yet.
    NotSent,
    /// The first request went, at this instant; the others wait for its answer.
    InFlight(Instant),
    /// An answer came (or the first request failed): requests go in turn.
    Over,
}

/// Learns the quotas of one limiter from the upstream's answers.
pub struct QuotaLearning {
    probe: Mutex<Probe>,
    answered: Condvar,
}

impl QuotaLearning {
    /// Learning for a limiter with quotas (`probing`: the first request goes alone), or for one
    /// without (nothing to learn: every request goes at once).
    pub fn new(probing: bool) -> QuotaLearning {
        QuotaLearning {
            probe: Mutex::new(if probing { Probe::NotSent } else { Probe::Over }),
            answered: Condvar::new(),
        }
    }

    /// Waits while the first request's answer is awaited (at most [`FIRST_ANSWER_AWAITED`]
    /// after it went); the first request itself goes at once.
    pub fn wait_turn(&self) {
        let mut probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        match *probe {
            Probe::NotSent => *probe = Probe::InFlight(Instant::now()),
            Probe::InFlight(since) => {
                let until = since + FIRST_ANSWER_AWAITED;
                while matches!(*probe, Probe::InFlight(_)) {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    probe = self
                        .answered
                        .wait_timeout(probe, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            Probe::Over => {}
        }
    }

    /// Takes in an answer's `headers`: what they say of each quota the limiter has (families it
    /// has no quota for are left: a proxy counting tokens together learns nothing from
    /// Anthropic's input and output headers; a quota used up is left: see the module's
    /// documentation); then requests go in turn.
    pub fn learn(&self, limiter: &MultiLimiter, headers: &HeaderMap) -> RateLimitHeaders {
        let mut reported = RateLimitHeaders::from_http(headers);
        for quota in [
            &mut reported.requests,
            &mut reported.tokens,
            &mut reported.input_tokens,
            &mut reported.output_tokens,
        ] {
            if quota.remaining == Some(0) {
                quota.remaining = None;
                quota.reset = None;
            }
        }
        reported.apply_to(limiter).ok();
        self.over();
        reported
    }

    /// Requests go in turn from now on (the first one failed without an answer).
    pub fn over(&self) {
        let mut probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        if *probe != Probe::Over {
            *probe = Probe::Over;
            self.answered.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use tollgate::{Limits, Rate, REQUESTS};

    #[test]
    fn the_first_answer_lowers_the_quota_and_lets_the_others_go() {
        let learning = Arc::new(QuotaLearning::new(true));
        learning.wait_turn(); // the first goes at once
        let second = {
            let learning = Arc::clone(&learning);
            std::thread::spawn(move || learning.wait_turn())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !second.is_finished(),
            "the second waits for the first answer"
        );
        let limiter = MultiLimiter::new(Limits::new().rpm(400)).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
        headers.insert("x-ratelimit-limit-tokens", "5".parse().unwrap());
        learning.learn(&limiter, &headers);
        second.join().unwrap();
        assert_eq!(limiter.rate(REQUESTS).unwrap(), Rate::per_minute(100));
        QuotaLearning::new(false).wait_turn();
        // A quota used up teaches its limit, and holds nothing until its reset.
        let used_up = QuotaLearning::new(false);
        let limiter = MultiLimiter::new(Limits::new().rpm(400)).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
        headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset-requests", "60s".parse().unwrap());
        used_up.learn(&limiter, &headers);
        assert_eq!(limiter.rate(REQUESTS).unwrap(), Rate::per_minute(100));
        assert!(
            limiter.try_acquire(&[(REQUESTS, 1)]).is_ok(),
            "no hold until the reset"
        );
    }
}
