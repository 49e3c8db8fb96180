//! What the proxy has done and is doing, counted as it goes and answered as JSON at
//! [`STATS_PATH`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tollgate::MultiLimiter;

/// The path the proxy answers itself (never forwarded).
pub const STATS_PATH: &str = "/tollgate/stats";

/// A wait shorter than this is not counted as a wait.
const NOTICEABLE_WAIT: Duration = Duration::from_millis(1);

/// The proxy's counters.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests read from clients (the stats' own included).
    pub requests: AtomicU64,
    /// Requests read and not yet answered whole now (waiting or forwarded).
    pub answering: AtomicU64,
    /// Requests waiting for their turn in the quotas now.
    pub queued: AtomicU64,
    /// Requests forwarded and not yet answered whole now.
    pub in_flight: AtomicU64,
    /// Client connections open now.
    pub connections: AtomicU64,
    /// 429s the upstream answered.
    pub upstream_429: AtomicU64,
    /// Of those, the ones retried inside the proxy (the client never saw them).
    pub absorbed_429: AtomicU64,
    /// 429s passed on to clients (the retries spent, or a request above a quota).
    pub client_429: AtomicU64,
    /// Requests that waited for the quotas.
    pub waits: AtomicU64,
    /// Their waits, summed, in microseconds.
    pub waited_micros: AtomicU64,
    /// Requests answered by the proxy itself with an error (unreadable, too large, upstream
    /// unreachable).
    pub errors: AtomicU64,
}

impl ProxyStats {
    /// Counts a request's wait for the quotas.
    pub fn waited(&self, wait: Duration) {
        if wait >= NOTICEABLE_WAIT {
            self.waits.fetch_add(1, Ordering::Relaxed);
            let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
            self.waited_micros.fetch_add(micros, Ordering::Relaxed);
        }
    }

    /// The counters and the quotas' use, as JSON.
    pub fn to_json(&self, limiter: &MultiLimiter) -> Value {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let resources: Map<String, Value> = limiter
            .usage()
            .into_iter()
            .map(|(name, usage)| {
                let limit = limiter.rate(&name).ok();
                let figures = json!({
                    "used": usage.used,
                    "reserved": usage.reserved,
                    "limit": usage.limit,
                    "per_seconds": limit.map(|rate| rate.period().as_secs_f64()),
                });
                (name, figures)
            })
            .collect();
        let permits = limiter.permits();
        json!({
            "queue": count(&self.queued),
            "answering": count(&self.answering),
            "in_flight": count(&self.in_flight),
            "max_in_flight": permits.limit,
            "connections": count(&self.connections),
            "requests": count(&self.requests),
            "upstream_429": count(&self.upstream_429),
            "absorbed_429": count(&self.absorbed_429),
            "client_429": count(&self.client_429),
            "errors": count(&self.errors),
            "waits": count(&self.waits),
            "waited_seconds": count(&self.waited_micros) as f64 / 1e6,
            "resources": resources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::{Limits, TOKENS};

    #[test]
    fn the_json_names_every_figure() {
        let stats = ProxyStats::default();
        stats.waited(Duration::from_millis(250));
        stats.waited(Duration::from_micros(10));
        stats.absorbed_429.fetch_add(2, Ordering::Relaxed);
        let limiter = MultiLimiter::new(Limits::new().rpm(10).tpm(100)).unwrap();
        let _permit = limiter.acquire(&[(TOKENS, 30)]).unwrap();
        let json = stats.to_json(&limiter);
        assert_eq!(json["waits"], 1);
        assert_eq!(json["waited_seconds"], 0.25);
        assert_eq!(json["absorbed_429"], 2);
        assert_eq!(json["resources"]["tokens"]["used"], 30);
        assert_eq!(json["resources"]["requests"]["limit"], 10);
        assert_eq!(json["resources"]["requests"]["per_seconds"], 60.0);
    }
}
