//! The same behaviour in memory and on Redis: each test body below runs twice, once on an
//! in-memory `MultiLimiter`, once on one shared on a throwaway `redis-server`.
//!
//! Both run on the real clock (Redis decides on the server's clock), so instants are compared
//! within a tolerance.

#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tollgate::redis::RedisState;
use tollgate::{LimitError, Limits, MultiLimiter, Nanos, Rate, REQUESTS, TOKENS};

use crate::support::redis_server::RedisServer;

/// Where a test's limiters keep their state.
struct Backend {
    server: Option<RedisServer>,
}

static NAMES: AtomicU64 = AtomicU64::new(0);

impl Backend {
    fn memory() -> Backend {
        Backend { server: None }
    }

    /// `None` (the test is skipped, and says so) where redis-server is not installed.
    fn redis() -> Option<Backend> {
        RedisServer::start_or_skip().map(|server| Backend {
            server: Some(server),
        })
    }

    /// A limiter for `limits` on this backend (a fresh name each time).
    fn limiter(&self, limits: Limits) -> MultiLimiter {
        let limiter = MultiLimiter::new(limits).unwrap();
        match &self.server {
            None => limiter,
            Some(server) => {
                let name = format!("test-{}", NAMES.fetch_add(1, Ordering::Relaxed));
                let state = RedisState::open(&server.url(), &name).unwrap();
                limiter.shared_on(state).unwrap()
            }
        }
    }
}

/// Each test body runs on both backends: `mod memory` and `mod redis`.
macro_rules! on_both_states {
    ($($name:ident($backend:ident) $body:block)*) => {
        mod memory {
            #[allow(unused_imports)]
            use super::*;
            $( #[test] fn $name() { let $backend = Backend::memory(); $body } )*
        }
        mod redis {
            #[allow(unused_imports)]
            use super::*;
            $( #[test] fn $name() { let Some($backend) = Backend::redis() else { return }; $body } )*
        }
    };
}

/// `a` is within `tolerance` of `b`.
fn close(a: Nanos, b: Nanos, tolerance: Duration) -> bool {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    high.saturating_sub(low) <= Nanos::from(tolerance)
}

/// Round trips to Redis on a busy machine: each instant is translated at its reply's arrival.
const SLACK: Duration = Duration::from_millis(40);

on_both_states! {
    all_or_none_takes_nothing_when_one_resource_is_short(backend) {
        // tokens: one per 60 ms.
        let api = backend.limiter(Limits::new().rpm(60).tpm(1_000));
        let _first = api.acquire(&[(REQUESTS, 1), (TOKENS, 1_000)]).unwrap();
        match api.try_acquire(&[(REQUESTS, 1), (TOKENS, 1)]) {
            Err(LimitError::NotInTime { wait: Some(wait) }) => {
                assert!(wait <= Duration::from_millis(60) && wait > Duration::ZERO, "{wait:?}");
            }
            other => panic!("expected NotInTime, got {other:?}"),
        }
        // The refused call took no request: one request alone still fits, and two are in use.
        let _second = api.try_acquire(&[(REQUESTS, 1)]).unwrap();
        let usage = api.usage();
        assert_eq!((usage[0].1.charged(), usage[0].1.limit), (2, Some(60)), "{usage:?}");
    }

    a_charge_without_permit_counts_all_or_none_and_holds_nothing(backend) {
        // tokens: one per 60 ms.
        let api = backend.limiter(Limits::new().rpm(60).tpm(1_000).max_parallel(2));
        api.try_charge(&[(REQUESTS, 1), (TOKENS, 1_000)]).unwrap();
        match api.try_charge(&[(REQUESTS, 1), (TOKENS, 1)]) {
            Err(LimitError::NotInTime { wait: Some(wait) }) => {
                assert!(wait <= Duration::from_millis(60) && wait > Duration::ZERO, "{wait:?}");
            }
            other => panic!("expected NotInTime, got {other:?}"),
        }
        api.try_charge(&[(REQUESTS, 1)]).unwrap();
        assert_eq!(api.usage()[0].1.charged(), 2, "the refused call took no request");
        assert_eq!(api.active(), 0, "no slot held");
        let _both = [api.acquire(&[]).unwrap(), api.acquire(&[]).unwrap()];
        assert_eq!(
            api.try_charge(&[(REQUESTS, 1)]),
            Err(LimitError::NotInTime { wait: None }),
            "every slot held"
        );
    }

    costs_above_capacity_and_unknown_resources_fail_at_once(backend) {
        let api = backend.limiter(Limits::new().rpm(10).tpm(100));
        assert_eq!(
            api.acquire(&[(REQUESTS, 1), (TOKENS, 101)]).unwrap_err(),
            LimitError::ExceedsCapacity { resource: TOKENS.into(), cost: 101, capacity: 100 }
        );
        assert_eq!(
            api.acquire(&[("credits", 1)]).unwrap_err(),
            LimitError::UnknownResource { name: "credits".into(), known: vec!["requests".into(), "tokens".into()] }
        );
        assert_eq!(api.usage()[0].1.charged(), 0);
    }

    a_timeout_that_would_pass_fails_at_once_taking_nothing(backend) {
        let api = backend.limiter(Limits::new().rate("r", Rate::per_second(1).burst(1)));
        let _first = api.acquire(&[("r", 1)]).unwrap();
        let asked = Instant::now();
        let refused = api.try_acquire_for(&[("r", 1)], Duration::from_millis(500));
        assert!(asked.elapsed() < Duration::from_millis(250), "decided before sleeping");
        assert!(matches!(refused, Err(LimitError::NotInTime { wait: Some(_) })), "{refused:?}");
        assert_eq!(api.usage()[0].1.charged(), 1, "nothing written");
        // With enough patience it is granted, to go about 1 s after the first.
        let later = api.reserve(&[("r", 1)]).unwrap();
        assert!(later.ready_at().is_some());
    }

    reservations_go_in_commit_order_one_interval_apart(backend) {
        let api = backend.limiter(Limits::new().rate("r", Rate::per_second(10).burst(1)).tpm(60_000));
        let start = api.clock().now();
        let permits: Vec<_> = [(1, 0), (1, 30_000), (1, 0)]
            .iter()
            .map(|&(r, tokens)| api.reserve(&[("r", r), (TOKENS, tokens)]).unwrap())
            .collect();
        let at: Vec<Nanos> = permits.iter().map(|p| p.ready_at().unwrap()).collect();
        // 100 ms apart on "r"; the third, with no tokens, still goes after the second.
        assert!(close(at[0], start, SLACK), "{at:?}");
        assert!(close(at[1], start.saturating_add(Nanos::from_millis(100)), SLACK), "{at:?}");
        assert!(close(at[2], start.saturating_add(Nanos::from_millis(200)), SLACK), "{at:?}");
        assert!(at[0] <= at[1] && at[1] <= at[2]);
        for permit in permits {
            permit.cancel();
        }
    }

    settle_gives_back_the_unused_estimate_and_charges_excess_as_debt(backend) {
        // One token per millisecond, 60,000 at most.
        let api = backend.limiter(Limits::new().tpm(60_000));
        let permit = api.acquire(&[(TOKENS, 30_000)]).unwrap();
        permit.settle(TOKENS, 10_000).unwrap();
        let used = api.usage()[0].1.charged();
        assert!((9_500..=10_000).contains(&used), "{used}");
        permit.settle(TOKENS, 70_000).unwrap();
        let used = api.usage()[0].1.charged();
        assert!((69_500..=70_000).contains(&used), "debt shows: {used}");
        assert!(matches!(api.try_acquire(&[(TOKENS, 1)]), Err(LimitError::NotInTime { .. })));
    }

    a_late_settle_gives_back_nothing_that_regenerated(backend) {
        // 100 per second, burst 100: a full burst drains in one second.
        let api = backend.limiter(Limits::new().rate("r", Rate::per_second(100)));
        let permit = api.acquire(&[("r", 100)]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        permit.settle("r", 0).unwrap();
        // Only what the charge still held (about 70 units) came back: the bucket is full, not
        // fuller, so 100 fit and the 101st does not.
        assert_eq!(api.usage()[0].1.charged(), 0);
        let _all = api.try_acquire(&[("r", 100)]).unwrap();
        assert!(api.try_acquire(&[("r", 1)]).is_err());
    }

    a_cancelled_reservation_gives_back_what_it_was_charged(backend) {
        let api = backend.limiter(Limits::new().rate("r", Rate::per_second(10).burst(1)));
        let _first = api.acquire(&[("r", 1)]).unwrap();
        let waiting = api.reserve(&[("r", 1)]).unwrap();
        assert_eq!(api.usage()[0].1.charged(), 2);
        waiting.cancel();
        assert_eq!(api.usage()[0].1.charged(), 1);
    }

    slots_are_freed_on_drop_and_a_full_house_refuses_at_once(backend) {
        let api = backend.limiter(Limits::new().rpm(600).max_parallel(2));
        let a = api.acquire(&[(REQUESTS, 1)]).unwrap();
        let _b = api.acquire(&[(REQUESTS, 1)]).unwrap();
        assert_eq!(api.active(), 2);
        assert_eq!(
            api.try_acquire(&[(REQUESTS, 1)]).unwrap_err(),
            LimitError::NotInTime { wait: None }
        );
        drop(a);
        assert_eq!(api.active(), 1);
        let _c = api.try_acquire(&[(REQUESTS, 1)]).unwrap();
        assert_eq!(api.active(), 2);
    }

    a_window_holds_its_limit_and_the_next_call_goes_when_the_first_leaves(backend) {
        let api = backend.limiter(Limits::new().window("r", Rate::new(5, Duration::from_millis(200))));
        let start = api.clock().now();
        let burst: Vec<_> = (0..5).map(|_| api.try_acquire(&[("r", 1)]).unwrap()).collect();
        match api.try_acquire(&[("r", 1)]) {
            Err(LimitError::NotInTime { wait: Some(wait) }) => {
                // The in-memory window counts on a grid: it may ask a little more than 200 ms.
                assert!(wait <= Duration::from_millis(200) + SLACK && wait > Duration::from_millis(150), "{wait:?}");
            }
            other => panic!("expected NotInTime, got {other:?}"),
        }
        let next = api.reserve(&[("r", 1)]).unwrap();
        assert!(close(next.ready_at().unwrap(), start.saturating_add(Nanos::from_millis(200)), SLACK));
        assert_eq!(api.usage()[0].1.charged(), 6);
        drop(burst);
    }

    a_window_settle_takes_from_the_calls_own_entry(backend) {
        let api = backend.limiter(Limits::new().window(TOKENS, Rate::new(1_000, Duration::from_secs(60))));
        let permit = api.acquire(&[(TOKENS, 800)]).unwrap();
        permit.settle(TOKENS, 300).unwrap();
        assert_eq!(api.usage()[0].1.charged(), 300);
        let _rest = api.try_acquire(&[(TOKENS, 700)]).unwrap();
        assert!(api.try_acquire(&[(TOKENS, 1)]).is_err());
        permit.cancel();
        assert_eq!(api.usage()[0].1.charged(), 700);
    }

    a_server_hold_delays_every_call_that_uses_the_resource(backend) {
        let api = backend.limiter(Limits::new().rpm(600).tpm(100_000));
        let start = api.clock().now();
        api.observe(TOKENS, 0, Some(Duration::from_millis(150))).unwrap();
        let tokens = api.reserve(&[(REQUESTS, 1), (TOKENS, 1)]).unwrap();
        assert!(close(tokens.ready_at().unwrap(), start.saturating_add(Nanos::from_millis(150)), SLACK));
        tokens.cancel();
    }
}
