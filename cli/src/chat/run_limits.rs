//! What held a run back, and for how long: the quotas, the concurrency, the server's pauses.

use std::collections::BTreeMap;
use std::time::Duration;

/// What held a run back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// The most requests in flight at once.
    pub concurrency: usize,
    /// Whether that is the `--concurrency` given (else chosen to follow the quota).
    pub concurrency_given: bool,
    /// Wall time during which `concurrency` requests were in flight.
    pub at_concurrency: Duration,
    /// Time the requests waited for each quota, summed over requests.
    pub waited: BTreeMap<String, Duration>,
    /// Wall time new requests were paused because the server asked for a wait (429s).
    pub paused: Duration,
}

/// Shorter holds are not worth a word.
const NOTICEABLE: Duration = Duration::from_millis(100);

impl RunLimits {
    /// "held back by ..." naming each limit that held the run back noticeably, the longest
    /// first, or `None` when nothing did.
    pub fn describe(&self) -> Option<String> {
        let mut parts: Vec<(Duration, String)> = Vec::new();
        if self.at_concurrency >= NOTICEABLE {
            let whose = if self.concurrency_given {
                "the --concurrency given"
            } else {
                "the default; raise it with --concurrency"
            };
            parts.push((
                self.at_concurrency,
                format!(
                    "concurrency: {} requests in flight ({whose}) for {:.1} s",
                    self.concurrency,
                    self.at_concurrency.as_secs_f64()
                ),
            ));
        }
        for (resource, waited) in &self.waited {
            if *waited >= NOTICEABLE {
                parts.push((
                    *waited,
                    format!(
                        "the {resource} quota: requests waited {:.1} s for it in all",
                        waited.as_secs_f64()
                    ),
                ));
            }
        }
        if self.paused >= NOTICEABLE {
            parts.push((
                self.paused,
                format!(
                    "server pauses (429s with a wait): {:.1} s",
                    self.paused.as_secs_f64()
                ),
            ));
        }
        parts.sort_by_key(|(held, _)| std::cmp::Reverse(*held));
        (!parts.is_empty()).then(|| {
            let parts: Vec<String> = parts.into_iter().map(|(_, part)| part).collect();
            format!("held back by {}", parts.join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_noticeable_limit_is_named_longest_first() {
        let limits = RunLimits {
            concurrency: 8,
            concurrency_given: true,
            at_concurrency: Duration::from_secs(5),
            waited: BTreeMap::from([
                ("requests".to_owned(), Duration::from_secs(9)),
                ("tokens".to_owned(), Duration::from_millis(20)),
            ]),
            paused: Duration::from_secs(1),
        };
        assert_eq!(
            limits.describe().unwrap(),
            "held back by the requests quota: requests waited 9.0 s for it in all; concurrency: \
             8 requests in flight (the --concurrency given) for 5.0 s; server pauses (429s with \
             a wait): 1.0 s"
        );
        assert_eq!(RunLimits::default().describe(), None);
    }
}
