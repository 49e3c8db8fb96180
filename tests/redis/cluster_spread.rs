//! Limiters on a real Redis Cluster (three primaries, three replicas: `support::redis_cluster`,
//! one per test binary): each limiter's keys on one slot, limiters of different names on
//! different primaries, every bound held as on one server — for `MultiLimiter::shared_on`,
//! `ModelLimiterBuilder::shared_on` and `Runner::shared_on`. Only the server's clock decides
//! (every node runs on this machine's clock); counts are checked over the grants' server
//! instants.

#![cfg(feature = "redis")]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tollgate::redis::RedisState;
use tollgate::{Limits, ModelLimiter, MultiLimiter, Rate, Resource, Runner, REQUESTS};

use crate::shared_quota::{grants_until, worst_excess};
use crate::support::redis_cluster::{ask, RedisCluster};

/// How one of the spread limiters counts.
#[derive(Clone, Copy, Debug)]
enum Counting {
    /// GCRA: `rate` per second, burst `burst`, at most 3 calls at once (a slot lease each).
    Gcra { rate: u64, burst: u64 },
    /// An exact window: at most `limit` in any `period`.
    Window { limit: u64, period: Duration },
}

impl Counting {
    fn limits(self) -> Limits {
        match self {
            Counting::Gcra { rate, burst } => Limits::new()
                .rate(REQUESTS, Rate::per_second(rate).burst(burst))
                .max_parallel(3),
            Counting::Window { limit, period } => {
                Limits::new().window(REQUESTS, Rate::new(limit, period))
            }
        }
    }
}

/// The most grants (sorted server instants, µs) in any window of `period` starting at a grant.
fn most_in_a_window(grants: &[i64], period: Duration) -> usize {
    let period = period.as_micros() as i64;
    let mut end = 0;
    (0..grants.len())
        .map(|start| {
            while end < grants.len() && grants[end] < grants[start] + period {
                end += 1;
            }
            end - start
        })
        .max()
        .unwrap_or(0)
}

/// The primary of each name's keys; asserts that every key of a limiter is on one slot.
fn primaries_of(cluster: &RedisCluster, names: &[String]) -> Vec<u16> {
    names
        .iter()
        .map(|name| {
            let slot = cluster.keyslot(&format!("{{{name}}}:state"));
            for key in ["slots", "window:1"] {
                assert_eq!(cluster.keyslot(&format!("{{{name}}}:{key}")), slot);
            }
            cluster.primary_of(&format!("{{{name}}}:state"))
        })
        .collect()
}

#[test]
fn limiters_spread_over_slots_hold_their_bounds() {
    let Some(cluster) = RedisCluster::shared_or_skip() else {
        return;
    };
    let countings = [
        Counting::Gcra {
            rate: 200,
            burst: 20,
        },
        Counting::Window {
            limit: 40,
            period: Duration::from_millis(200),
        },
    ];
    let names: Vec<String> = (0..6).map(|i| format!("spread-{i}")).collect();
    let primaries = primaries_of(&cluster, &names);
    let distinct: BTreeSet<u16> = primaries.iter().copied().collect();
    assert!(
        distinct.len() >= 2,
        "the limiters all landed on one primary: {primaries:?}"
    );
    let end = cluster.now_micros() + 1_500_000;
    // Each limiter shared by two clients (two `RedisState`s, each its own connections: two
    // processes), each used by two threads.
    let grants: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let counting = countings[i % countings.len()];
                let urls = cluster.urls();
                scope.spawn(move || {
                    std::thread::scope(|scope| {
                        let threads: Vec<_> = (0..2)
                            .flat_map(|_| {
                                let state = RedisState::open_cluster(&urls, name).unwrap();
                                let api = MultiLimiter::new(counting.limits())
                                    .unwrap()
                                    .shared_on(state)
                                    .unwrap();
                                [api.clone(), api]
                            })
                            .map(|api| scope.spawn(move || grants_until(&api, end)))
                            .collect();
                        let mut all: Vec<i64> = threads
                            .into_iter()
                            .flat_map(|thread| thread.join().unwrap())
                            .collect();
                        all.sort_unstable();
                        all.retain(|&at| at < end);
                        all
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for ((name, grants), primary) in names.iter().zip(&grants).zip(&primaries) {
        let counting = countings[names.iter().position(|n| n == name).unwrap() % 2];
        let span = (end - grants[0]) as f64 / 1e6;
        let (held, ideal) = match counting {
            Counting::Gcra { rate, burst } => {
                let excess = worst_excess(grants, 1e6 / rate as f64, burst);
                (excess <= 1e-6, burst as f64 + span * rate as f64)
            }
            Counting::Window { limit, period } => {
                let most = most_in_a_window(grants, period);
                let windows = (span / period.as_secs_f64()).ceil();
                (most as u64 <= limit, windows * limit as f64)
            }
        };
        eprintln!(
            "{name} on the primary at {primary} ({counting:?}): {} grants, ideal {ideal:.0}",
            grants.len()
        );
        assert!(held, "{name} ({counting:?}) broke its bound: {grants:?}");
        // Not starved either (generous: the machine is shared).
        assert!(
            grants.len() as f64 >= 0.5 * ideal,
            "{name}: {} grants, ideal {ideal:.0}",
            grants.len()
        );
        // Its state is on that primary, and no other.
        for port in cluster.ports() {
            let exists: Result<i64, _> =
                ask(port, redis::cmd("EXISTS").arg(format!("{{{name}}}:state")));
            assert_eq!(
                exists.as_ref().ok() == Some(&1),
                port == *primary,
                "{name}'s state on the node at {port}: {exists:?}"
            );
        }
    }
}

#[test]
fn each_model_of_a_model_limiter_is_its_own_slot_and_shared() {
    let Some(cluster) = RedisCluster::shared_or_skip() else {
        return;
    };
    let models = ["alpha", "beta", "gamma", "delta"];
    let names: Vec<String> = models.iter().map(|m| format!("models:{m}")).collect();
    let primaries: BTreeSet<u16> = primaries_of(&cluster, &names).into_iter().collect();
    assert!(primaries.len() >= 2, "{primaries:?}");
    // Two "processes", each with its own ModelLimiter on the cluster: 5 per minute per model,
    // shared.
    let open = || {
        let mut builder = ModelLimiter::builder();
        for model in models {
            builder = builder.model(model, Limits::new().window(REQUESTS, Rate::per_minute(5)));
        }
        builder
            .shared_on(RedisState::open_cluster(cluster.urls(), "models").unwrap())
            .build()
            .unwrap()
    };
    let (first, second) = (open(), open());
    for model in models {
        let granted = (0..8)
            .map(|i| if i % 2 == 0 { &first } else { &second })
            .filter(|limiter| limiter.try_acquire(model, &[(REQUESTS, 1)]).is_ok())
            .count();
        assert_eq!(granted, 5, "{model}");
    }
}

#[test]
fn runners_on_the_cluster_share_their_quota() {
    let Some(cluster) = RedisCluster::shared_or_skip() else {
        return;
    };
    // Two runners, 20 jobs each, sharing 20 per second (an exact window): the 40 jobs take a
    // second at least, every job done.
    let start = Instant::now();
    let done: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let state = RedisState::open_cluster(cluster.urls(), "runner-on-cluster").unwrap();
                scope.spawn(move || {
                    let mut runner = Runner::new(|n: &u64| Ok::<u64, String>(*n))
                        .resource(Resource::new("requests", Rate::per_second(20)).per_job(|_| 1))
                        .shared_on(state);
                    for n in 0..20 {
                        runner.schedule(n).unwrap();
                    }
                    let (results, errors) = runner.run().into_parts();
                    assert!(errors.iter().all(Vec::is_empty), "{errors:?}");
                    results.iter().flatten().count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let elapsed = start.elapsed();
    assert_eq!(done, [20, 20]);
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    let primary = cluster.primary_of("{runner-on-cluster}:state");
    let exists: i64 = ask(
        primary,
        redis::cmd("EXISTS").arg("{runner-on-cluster}:state"),
    )
    .unwrap();
    assert_eq!(exists, 1);
}
