//! What a failover loses, shown on a real Redis Cluster (`support::redis_cluster`): Redis
//! replicates asynchronously, so the grants a primary wrote that its replica had not received
//! when the replica took over are granted again. The README's Redis section states it; this
//! test makes the lag deterministic (the replica stopped, its link cut) instead of waiting for a
//! lucky crash.

#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use tollgate::redis::RedisState;
use tollgate::{LimitError, Limits, MultiLimiter, Permit, Rate, REQUESTS};

use crate::cluster_failover::name_on;
use crate::support::redis_cluster::{ask, replicated, RedisCluster};

/// The role (`master` or `slave`) the node on `port` reports.
fn role(port: u16) -> Option<String> {
    let info: String = ask(port, redis::cmd("INFO").arg("replication")).ok()?;
    info.lines()
        .find_map(|line| line.trim().strip_prefix("role:"))
        .map(str::to_owned)
}

#[test]
fn grants_the_replica_had_not_received_are_granted_again_after_a_failover() {
    let Some(cluster) = RedisCluster::shared_or_skip() else {
        return;
    };
    let primary = cluster
        .primaries()
        .into_iter()
        .find(|primary| !primary.replicas.is_empty())
        .expect("a primary with a replica");
    let replica = primary.replicas[0];
    let name = name_on(&cluster, primary.port, "lag");
    // 10 per minute: one window for the whole test.
    let limiter = MultiLimiter::new(Limits::new().window(REQUESTS, Rate::per_minute(10)))
        .unwrap()
        .shared_on(RedisState::open_cluster(cluster.all_urls(), &name).unwrap())
        .unwrap();
    let take = |n: usize| -> Vec<Permit> {
        (0..n)
            .map(|_| limiter.try_acquire(&[(REQUESTS, 1)]).unwrap())
            .collect()
    };

    // 5 granted and replicated.
    let _replicated = take(5);
    let fence = format!("{{{name}}}:fence");
    assert_eq!(replicated(primary.port, &fence), 1);
    // The replica cannot sync again: a wrong `masterauth` makes its reconnection fail (an AUTH
    // error aborts a replica's sync), so the lag below stays whatever the scheduling (without
    // it, a replica resumed under load could resync before the takeover: 2 granted, no loss).
    let set_masterauth = |value: &str| -> String {
        ask(
            replica,
            redis::cmd("CONFIG").arg("SET").arg("masterauth").arg(value),
        )
        .unwrap()
    };
    assert_eq!(set_masterauth("not-the-primary-s-password"), "OK");
    // The replica stopped and its link cut: 3 more granted on the primary alone (the lag).
    let frozen = cluster.freeze(replica);
    let cut: i64 = ask(
        primary.port,
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica"),
    )
    .unwrap();
    assert_eq!(cut, 1);
    let _in_the_lag = take(3);
    // The replica, resumed, takes over without the 3 (its reconnections fail).
    drop(frozen);
    let answer: String = ask(
        replica,
        redis::cmd("CLUSTER").arg("FAILOVER").arg("TAKEOVER"),
    )
    .unwrap();
    assert_eq!(answer, "OK");
    let since = Instant::now();
    while role(replica).as_deref() != Some("master")
        || role(primary.port).as_deref() != Some("slave")
    {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the takeover did not settle"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A primary now: its own replica (the former primary) syncs from it; the cluster is shared
    // by the binary's other tests.
    assert_eq!(set_masterauth(""), "OK");

    // 8 grants of a limit of 10, but the new primary knows of 5: 5 more are granted, not 2.
    let (mut granted, mut refused, mut unreachable) = (0, 0, 0);
    while granted + refused < 8 {
        match limiter.try_acquire(&[(REQUESTS, 1)]) {
            Ok(_) => granted += 1,
            Err(LimitError::NotInTime { .. }) => refused += 1,
            Err(LimitError::Redis(error)) if error.is_unreachable() && unreachable < 3 => {
                unreachable += 1; // a connection that still knew the old primary
            }
            Err(error) => panic!("{error}"),
        }
    }
    eprintln!(
        "a failover in a replication lag of 3 grants: {granted} granted after it (2 without the \
         loss), {refused} refused"
    );
    assert_eq!((granted, refused), (5, 3));
}
