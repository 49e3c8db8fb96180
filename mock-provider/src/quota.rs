//! The strict sliding window: every accepted request is logged with its arrival instant and
//! token cost, and counts against both quotas for exactly one window after it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Which quota a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Requests,
    Tokens,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Requests => "requests",
            Kind::Tokens => "tokens",
        }
    }
}

/// One quota's state, as the `x-ratelimit-{limit,remaining,reset}-*` headers tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gauge {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// Time until this quota is back to its initial state (nothing counted in the window).
    pub(crate) reset: Duration,
}

/// Both quotas' state (`None` for an unlimited quota).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gauges {
    pub(crate) requests: Option<Gauge>,
    pub(crate) tokens: Option<Gauge>,
    /// Requests and tokens counted in the window (before this request, for a refusal).
    pub(crate) used_requests: u64,
    pub(crate) used_tokens: u64,
}

/// A quota decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Counted in the window.
    Accepted(Gauges),
    /// Not counted. `wait` is the time until the window has room for this request (`None`:
    /// never, the request alone is over the token quota); `kind` is the quota that binds longest.
    Refused {
        kind: Kind,
        wait: Option<Duration>,
        gauges: Gauges,
    },
}

/// A strict sliding-window log of accepted requests.
#[derive(Debug)]
pub(crate) struct Window {
    requests_per_window: Option<u64>,
    tokens_per_window: Option<u64>,
    length: Duration,
    /// (arrival, token cost), oldest first; arrivals never decrease.
    log: VecDeque<(Instant, u64)>,
    tokens: u64,
}

impl Window {
    pub(crate) fn new(
        requests_per_window: Option<u64>,
        tokens_per_window: Option<u64>,
        length: Duration,
    ) -> Window {
        Window {
            requests_per_window,
            tokens_per_window,
            length,
            log: VecDeque::new(),
            tokens: 0,
        }
    }

    /// Decides on a request of `cost` tokens arriving at `now` (never earlier than the last
    /// arrival seen), and counts it if it fits both quotas.
    pub(crate) fn admit(&mut self, now: Instant, cost: u64) -> Decision {
        let now = match self.log.back() {
            Some(&(last, _)) if last > now => last,
            _ => now,
        };
        self.evict(now);
        let used_requests = self.log.len() as u64;
        let used_tokens = self.tokens;

        let request_wait = match self.requests_per_window {
            Some(limit) if used_requests + 1 > limit => {
                // The oldest `used + 1 - limit` entries must leave the window.
                Some(self.expiry(now, (used_requests - limit) as usize))
            }
            _ => None,
        };
        let token_wait = match self.tokens_per_window {
            Some(limit) if used_tokens.saturating_add(cost) > limit => Some(if cost > limit {
                None
            } else {
                let mut freed = 0u64;
                let mut index = 0;
                for (i, &(_, entry)) in self.log.iter().enumerate() {
                    freed += entry;
                    index = i;
                    if used_tokens - freed + cost <= limit {
                        break;
                    }
                }
                Some(self.expiry(now, index))
            }),
            _ => None,
        };

        match (request_wait, token_wait) {
            (None, None) => {
                self.log.push_back((now, cost));
                self.tokens += cost;
                Decision::Accepted(self.gauges(now, used_requests + 1, used_tokens + cost))
            }
            (requests, tokens) => {
                let (kind, wait) = match (requests, tokens) {
                    (_, Some(None)) => (Kind::Tokens, None),
                    (Some(r), Some(Some(t))) if t > r => (Kind::Tokens, Some(t)),
                    (Some(r), _) => (Kind::Requests, Some(r)),
                    (None, Some(t)) => (Kind::Tokens, t),
                    (None, None) => unreachable!("handled above"),
                };
                Decision::Refused {
                    kind,
                    wait,
                    gauges: self.gauges(now, used_requests, used_tokens),
                }
            }
        }
    }

    /// Drops the entries whose window has ended at `now`.
    fn evict(&mut self, now: Instant) {
        while let Some(&(arrival, cost)) = self.log.front() {
            if arrival + self.length > now {
                break;
            }
            self.log.pop_front();
            self.tokens -= cost;
        }
    }

    /// Time from `now` until the `index`-th oldest entry leaves the window.
    fn expiry(&self, now: Instant, index: usize) -> Duration {
        (self.log[index].0 + self.length).saturating_duration_since(now)
    }

    fn gauges(&self, now: Instant, used_requests: u64, used_tokens: u64) -> Gauges {
        let reset = self.log.back().map_or(Duration::ZERO, |&(arrival, _)| {
            (arrival + self.length).saturating_duration_since(now)
        });
        Gauges {
            requests: self.requests_per_window.map(|limit| Gauge {
                limit,
                remaining: limit.saturating_sub(used_requests),
                reset,
            }),
            tokens: self.tokens_per_window.map(|limit| Gauge {
                limit,
                remaining: limit.saturating_sub(used_tokens),
                reset,
            }),
            used_requests,
            used_tokens,
        }
    }
}

/// Formats a duration the way Go's `time.Duration.String()` does (OpenAI's reset headers), at
/// millisecond precision, rounding up: `0s`, `20ms`, `1s`, `1.5s`, `2m59.56s`, `6m0s`, `1h0m0s`.
pub(crate) fn go_duration(duration: Duration) -> String {
    let ms = ceil_millis(duration);
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let seconds = ms / 1_000 % 60;
    let fraction = ms % 1_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&seconds.to_string());
    if fraction > 0 {
        let digits = format!("{fraction:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// Whole milliseconds, rounded up.
pub(crate) fn ceil_millis(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn refused(decision: Decision) -> (Kind, Option<Duration>, Gauges) {
        match decision {
            Decision::Refused { kind, wait, gauges } => (kind, wait, gauges),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn go_durations() {
        let cases = [
            (0, "0s"),
            (1, "1ms"),
            (20, "20ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (1_500, "1.5s"),
            (59_999, "59.999s"),
            (60_000, "1m0s"),
            (179_560, "2m59.56s"),
            (360_000, "6m0s"),
            (3_600_000, "1h0m0s"),
            (3_723_400, "1h2m3.4s"),
        ];
        for (ms, text) in cases {
            assert_eq!(go_duration(Duration::from_millis(ms)), text, "{ms} ms");
        }
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ms");
        assert_eq!(go_duration(Duration::from_micros(1_000_001)), "1.001s");
    }

    #[test]
    fn rounding_up() {
        assert_eq!(ceil_millis(Duration::from_nanos(1_000_001)), 2);
        assert_eq!(ceil_millis(Duration::from_millis(7)), 7);
        assert_eq!(ceil_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(3)), 3);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }

    #[test]
    fn requests_quota_is_a_strict_sliding_window() {
        let t0 = Instant::now();
        let mut window = Window::new(Some(2), None, MINUTE);
        assert!(matches!(window.admit(t0, 5), Decision::Accepted(_)));
        let second = t0 + Duration::from_secs(10);
        match window.admit(second, 5) {
            Decision::Accepted(gauges) => {
                let requests = gauges.requests.unwrap();
                assert_eq!(requests.remaining, 0);
                assert_eq!(requests.reset, MINUTE);
                assert!(gauges.tokens.is_none());
            }
            other => panic!("{other:?}"),
        }
        // Full: room frees when the first entry leaves, 60 s after t0.
        let (kind, wait, gauges) = refused(window.admit(t0 + Duration::from_secs(30), 5));
        assert_eq!(kind, Kind::Requests);
        assert_eq!(wait, Some(Duration::from_secs(30)));
        assert_eq!(gauges.requests.unwrap().remaining, 0);
        // Refusals are not counted: still room at exactly t0 + 60 s.
        assert!(matches!(
            window.admit(t0 + MINUTE, 5),
            Decision::Accepted(_)
        ));
        // Just before the second entry leaves, still full.
        let (_, wait, _) = refused(window.admit(second + MINUTE - Duration::from_millis(1), 5));
        assert_eq!(wait, Some(Duration::from_millis(1)));
    }

    #[test]
    fn tokens_quota_waits_for_enough_tokens_to_leave() {
        let t0 = Instant::now();
        let mut window = Window::new(None, Some(100), MINUTE);
        for i in 0..4 {
            assert!(matches!(
                window.admit(t0 + Duration::from_secs(i), 25),
                Decision::Accepted(_)
            ));
        }
        // 100 used; 60 more needs the first three entries (75 tokens) gone: at t0 + 62 s.
        let (kind, wait, gauges) = refused(window.admit(t0 + Duration::from_secs(10), 60));
        assert_eq!(kind, Kind::Tokens);
        assert_eq!(wait, Some(Duration::from_secs(52)));
        let tokens = gauges.tokens.unwrap();
        assert_eq!((tokens.limit, tokens.remaining), (100, 0));
        assert_eq!(tokens.reset, Duration::from_secs(53));
        // A request larger than the quota never fits.
        let (kind, wait, _) = refused(window.admit(t0 + Duration::from_secs(10), 101));
        assert_eq!((kind, wait), (Kind::Tokens, None));
    }

    #[test]
    fn the_longest_wait_names_the_refusal() {
        let t0 = Instant::now();
        let mut window = Window::new(Some(2), Some(100), MINUTE);
        assert!(matches!(window.admit(t0, 10), Decision::Accepted(_)));
        let t1 = t0 + Duration::from_secs(20);
        assert!(matches!(window.admit(t1, 80), Decision::Accepted(_)));
        // Requests need the first entry gone (t0 + 60); tokens need both (t1 + 60).
        let (kind, wait, _) = refused(window.admit(t0 + Duration::from_secs(30), 50));
        assert_eq!(kind, Kind::Tokens);
        assert_eq!(wait, Some(Duration::from_secs(50)));
        // Only the requests quota is over: 5 tokens fit beside 90.
        let (kind, wait, _) = refused(window.admit(t0 + Duration::from_secs(30), 5));
        assert_eq!(kind, Kind::Requests);
        assert_eq!(wait, Some(Duration::from_secs(30)));
    }

    #[test]
    fn an_earlier_instant_counts_as_the_latest_seen() {
        let t0 = Instant::now();
        let mut window = Window::new(Some(1), None, MINUTE);
        let later = t0 + Duration::from_secs(5);
        assert!(matches!(window.admit(later, 1), Decision::Accepted(_)));
        let (_, wait, _) = refused(window.admit(t0, 1));
        assert_eq!(wait, Some(MINUTE));
    }
}
