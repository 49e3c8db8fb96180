//! The strict sliding window: every accepted request is logged with its arrival instant and its
//! cost in each quota (one request, its tokens), and counts against every quota for exactly one
//! window after it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One quota's state, as the `x-ratelimit-{limit,remaining,reset}-*` headers tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gauge {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// Time until this quota is back to its initial state (nothing counted in the window).
    pub(crate) reset: Duration,
}

/// Every quota's state, in the window's order (`None` for an unlimited quota).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gauges {
    pub(crate) quotas: Vec<Option<Gauge>>,
    /// What each quota has counted in the window (before this request, for a refusal).
    pub(crate) used: Vec<u64>,
}

/// A quota decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Counted in the window; `ticket` names the entry for [`Window::settle`].
    Accepted { ticket: u64, gauges: Gauges },
    /// Not counted. `wait` is the time until the window has room for this request (`None`:
    /// never, the request alone is over a quota); `quota` is the index of the quota that binds
    /// longest (the first of those that never fit; on a tie, the first).
    Refused {
        quota: usize,
        wait: Option<Duration>,
        gauges: Gauges,
    },
}

/// An accepted request: its arrival, its ticket and its cost in each quota.
#[derive(Debug)]
struct Entry {
    arrival: Instant,
    ticket: u64,
    costs: Vec<u64>,
    /// A change of cost to make at an instant: (instant, quota, new cost).
    settlement: Option<(Instant, usize, u64)>,
}

/// A strict sliding-window log of accepted requests, over any number of quotas: requests (each
/// request costs 1) and tokens for the OpenAI-compatible endpoints; requests, input tokens and
/// output tokens for Anthropic's.
#[derive(Debug)]
pub(crate) struct Window {
    limits: Vec<Option<u64>>,
    length: Duration,
    /// Oldest first; arrivals and tickets never decrease.
    log: VecDeque<Entry>,
    used: Vec<u64>,
    next_ticket: u64,
}

impl Window {
    /// A window of `length` over quotas of these `limits` (`None`: unlimited).
    pub(crate) fn new(limits: Vec<Option<u64>>, length: Duration) -> Window {
        Window {
            used: vec![0; limits.len()],
            limits,
            length,
            log: VecDeque::new(),
            next_ticket: 1,
        }
    }

    /// Decides on a request costing `costs` (one per quota, in order) arriving at `now` (never
    /// earlier than the last arrival seen), and counts it if it fits every quota.
    pub(crate) fn admit(&mut self, now: Instant, costs: &[u64]) -> Decision {
        assert_eq!(costs.len(), self.limits.len(), "a cost for every quota");
        let now = match self.log.back() {
            Some(entry) if entry.arrival > now => entry.arrival,
            _ => now,
        };
        self.evict(now);
        self.settle_due(now);
        // The quota that binds longest: `Some(None)` never fits, `Some(Some(wait))` fits later.
        let mut binding: Option<(usize, Option<Duration>)> = None;
        for (index, &cost) in costs.iter().enumerate() {
            let Some(wait) = self.wait(now, index, cost) else {
                continue;
            };
            let longer = match (binding, wait) {
                (None, _) => true,
                (Some((_, None)), _) => false,
                (Some((_, Some(_))), None) => true,
                (Some((_, Some(before))), Some(wait)) => wait > before,
            };
            if longer {
                binding = Some((index, wait));
            }
        }
        match binding {
            None => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                for (used, &cost) in self.used.iter_mut().zip(costs) {
                    *used += cost;
                }
                self.log.push_back(Entry {
                    arrival: now,
                    ticket,
                    costs: costs.to_vec(),
                    settlement: None,
                });
                Decision::Accepted {
                    ticket,
                    gauges: self.gauges(now),
                }
            }
            Some((quota, wait)) => Decision::Refused {
                quota,
                wait,
                gauges: self.gauges(now),
            },
        }
    }

    /// From the instant `at` on, the entry `ticket` counts `actual` in quota `index` instead of
    /// what it was admitted with, if it is still in the window then (as Anthropic settles its
    /// output-token estimate, `max_tokens`, to the tokens written once the answer is complete).
    pub(crate) fn settle(&mut self, ticket: u64, index: usize, actual: u64, at: Instant) {
        if let Ok(position) = self.log.binary_search_by_key(&ticket, |entry| entry.ticket) {
            self.log[position].settlement = Some((at, index, actual));
        }
    }

    /// Makes the settlements due at `now`.
    fn settle_due(&mut self, now: Instant) {
        for entry in self.log.iter_mut() {
            if let Some((at, index, actual)) = entry.settlement {
                if at <= now {
                    self.used[index] = self.used[index] - entry.costs[index] + actual;
                    entry.costs[index] = actual;
                    entry.settlement = None;
                }
            }
        }
    }

    /// `None` if `cost` fits quota `index` now; else `Some` of the time until the window has
    /// room for it (`None`: never, `cost` alone is over the limit).
    fn wait(&self, now: Instant, index: usize, cost: u64) -> Option<Option<Duration>> {
        let limit = self.limits[index]?;
        let used = self.used[index];
        if used.saturating_add(cost) <= limit {
            return None;
        }
        if cost > limit {
            return Some(None);
        }
        // The oldest entries must leave until what stays plus `cost` fits.
        let mut freed = 0u64;
        for entry in &self.log {
            freed += entry.costs[index];
            if used - freed + cost <= limit {
                return Some(Some(
                    (entry.arrival + self.length).saturating_duration_since(now),
                ));
            }
        }
        unreachable!("with every entry gone, a cost within the limit fits")
    }

    /// Drops the entries whose window has ended at `now`.
    fn evict(&mut self, now: Instant) {
        while let Some(entry) = self.log.front() {
            if entry.arrival + self.length > now {
                break;
            }
            for (used, cost) in self.used.iter_mut().zip(&entry.costs) {
                *used -= cost;
            }
            self.log.pop_front();
        }
    }

    fn gauges(&self, now: Instant) -> Gauges {
        let reset = self.log.back().map_or(Duration::ZERO, |entry| {
            (entry.arrival + self.length).saturating_duration_since(now)
        });
        Gauges {
            quotas: self
                .limits
                .iter()
                .zip(&self.used)
                .map(|(limit, &used)| {
                    limit.map(|limit| Gauge {
                        limit,
                        remaining: limit.saturating_sub(used),
                        reset,
                    })
                })
                .collect(),
            used: self.used.clone(),
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

    /// The OpenAI kinds of refusal, by the index of their quota.
    const REQUESTS: usize = 0;
    const TOKENS: usize = 1;

    fn refused(decision: Decision) -> (usize, Option<Duration>, Gauges) {
        match decision {
            Decision::Refused {
                quota,
                wait,
                gauges,
            } => (quota, wait, gauges),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn openai(requests: Option<u64>, tokens: Option<u64>) -> Window {
        Window::new(vec![requests, tokens], MINUTE)
    }

    fn accepted(decision: &Decision) -> bool {
        matches!(decision, Decision::Accepted { .. })
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
        let mut window = openai(Some(2), None);
        assert!(accepted(&window.admit(t0, &[1, 5])));
        let second = t0 + Duration::from_secs(10);
        match window.admit(second, &[1, 5]) {
            Decision::Accepted { gauges, .. } => {
                let requests = gauges.quotas[REQUESTS].unwrap();
                assert_eq!(requests.remaining, 0);
                assert_eq!(requests.reset, MINUTE);
                assert!(gauges.quotas[TOKENS].is_none());
            }
            other => panic!("{other:?}"),
        }
        // Full: room frees when the first entry leaves, 60 s after t0.
        let (kind, wait, gauges) = refused(window.admit(t0 + Duration::from_secs(30), &[1, 5]));
        assert_eq!(kind, REQUESTS);
        assert_eq!(wait, Some(Duration::from_secs(30)));
        assert_eq!(gauges.quotas[REQUESTS].unwrap().remaining, 0);
        // Refusals are not counted: still room at exactly t0 + 60 s.
        assert!(accepted(&window.admit(t0 + MINUTE, &[1, 5])));
        // Just before the second entry leaves, still full.
        let (_, wait, _) =
            refused(window.admit(second + MINUTE - Duration::from_millis(1), &[1, 5]));
        assert_eq!(wait, Some(Duration::from_millis(1)));
    }

    #[test]
    fn tokens_quota_waits_for_enough_tokens_to_leave() {
        let t0 = Instant::now();
        let mut window = openai(None, Some(100));
        for i in 0..4 {
            assert!(accepted(
                &window.admit(t0 + Duration::from_secs(i), &[1, 25])
            ));
        }
        // 100 used; 60 more needs the first three entries (75 tokens) gone: at t0 + 62 s.
        let (kind, wait, gauges) = refused(window.admit(t0 + Duration::from_secs(10), &[1, 60]));
        assert_eq!(kind, TOKENS);
        assert_eq!(wait, Some(Duration::from_secs(52)));
        let tokens = gauges.quotas[TOKENS].unwrap();
        assert_eq!((tokens.limit, tokens.remaining), (100, 0));
        assert_eq!(tokens.reset, Duration::from_secs(53));
        // A request larger than the quota never fits.
        let (kind, wait, _) = refused(window.admit(t0 + Duration::from_secs(10), &[1, 101]));
        assert_eq!((kind, wait), (TOKENS, None));
    }

    #[test]
    fn the_longest_wait_names_the_refusal() {
        let t0 = Instant::now();
        let mut window = openai(Some(2), Some(100));
        assert!(accepted(&window.admit(t0, &[1, 10])));
        let t1 = t0 + Duration::from_secs(20);
        assert!(accepted(&window.admit(t1, &[1, 80])));
        // Requests need the first entry gone (t0 + 60); tokens need both (t1 + 60).
        let (kind, wait, _) = refused(window.admit(t0 + Duration::from_secs(30), &[1, 50]));
        assert_eq!(kind, TOKENS);
        assert_eq!(wait, Some(Duration::from_secs(50)));
        // Only the requests quota is over: 5 tokens fit beside 90.
        let (kind, wait, _) = refused(window.admit(t0 + Duration::from_secs(30), &[1, 5]));
        assert_eq!(kind, REQUESTS);
        assert_eq!(wait, Some(Duration::from_secs(30)));
    }

    #[test]
    fn an_earlier_instant_counts_as_the_latest_seen() {
        let t0 = Instant::now();
        let mut window = openai(Some(1), None);
        let later = t0 + Duration::from_secs(5);
        assert!(accepted(&window.admit(later, &[1, 1])));
        let (_, wait, _) = refused(window.admit(t0, &[1, 1]));
        assert_eq!(wait, Some(MINUTE));
    }

    #[test]
    fn anthropic_quotas_count_input_and_output_apart() {
        let t0 = Instant::now();
        let mut window = Window::new(vec![Some(10), Some(100), Some(50)], MINUTE);
        let first = window.admit(t0, &[1, 30, 40]);
        let Decision::Accepted { ticket, gauges } = first else {
            panic!("{first:?}")
        };
        assert_eq!(gauges.used, [1, 30, 40]);
        assert_eq!(gauges.quotas[2].unwrap().remaining, 10);
        // 20 output tokens do not fit beside 40 of 50, though the input would.
        let (quota, wait, _) = refused(window.admit(t0 + Duration::from_secs(1), &[1, 10, 20]));
        assert_eq!((quota, wait), (2, Some(Duration::from_secs(59))));
        // The first request wrote 5 tokens only, settled at t0 + 2 s: its room comes back then.
        window.settle(ticket, 2, 5, t0 + Duration::from_secs(2));
        let early = window.admit(t0 + Duration::from_millis(1_999), &[1, 10, 20]);
        assert!(!accepted(&early), "{early:?}");
        let second = window.admit(t0 + Duration::from_secs(2), &[1, 10, 20]);
        let Decision::Accepted { gauges, .. } = second else {
            panic!("{second:?}")
        };
        assert_eq!(gauges.used, [2, 40, 25]);
        // A request over a quota by itself never fits, whatever binds longer.
        let (quota, wait, _) = refused(window.admit(t0 + Duration::from_secs(3), &[1, 70, 51]));
        assert_eq!((quota, wait), (2, None));
        // Settling an entry that left the window changes nothing.
        let later = t0 + MINUTE + Duration::from_secs(3);
        window.settle(ticket, 2, 50, later);
        let third = window.admit(later, &[1, 0, 50]);
        assert!(accepted(&third), "{third:?}");
    }
}
