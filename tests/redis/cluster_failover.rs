//! A primary of a real Redis Cluster (`support::redis_cluster`, `cluster-node-timeout` 1 s)
//! killed mid-run: the calls on its slots fail at once with a typed error (never a hang), a
//! `Fallback::Local` limiter goes on locally, and once its replica has taken over, decisions are
//! the cluster's again — with the state the replica had received.

#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use tollgate::redis::{Fallback, RedisState};
use tollgate::{LimitError, Limits, MultiLimiter, Rate, REQUESTS};

use crate::support::redis_cluster::{ask, RedisCluster};

/// The timeout of connecting and of each reply.
const TIMEOUT: Duration = Duration::from_millis(250);

/// The longest a call may take while the cluster fails over: the client tries once more after
/// a failure (about three timeouts at most), with room for a loaded machine.
const PROMPT: Duration = Duration::from_millis(1_500);

/// The longest the failover may take: the primary marked failed after `cluster-node-timeout`
/// (1 s), then the replica's election (0.5–1.5 s), with room.
const FAILOVER: Duration = Duration::from_secs(15);

/// What one call of a limiter came to.
#[derive(Debug)]
enum Outcome {
    /// Granted by the cluster.
    Cluster,
    /// Granted by the local fallback.
    Local,
    /// `LimitError::Redis(RedisError::Unreachable)`.
    Unreachable,
    /// Anything else: a failure of the test.
    Other(LimitError),
}

fn try_one(limiter: &MultiLimiter) -> Outcome {
    match limiter.try_acquire(&[(REQUESTS, 1)]) {
        Ok(permit) if permit.server_ready_at().is_some() => Outcome::Cluster,
        Ok(_) => Outcome::Local,
        Err(LimitError::Redis(error)) if error.is_unreachable() => Outcome::Unreachable,
        Err(error) => Outcome::Other(error),
    }
}

/// `prefix-0`, `prefix-1`, ...: the first whose keys are on the primary at `port`.
fn name_on(cluster: &RedisCluster, port: u16, prefix: &str) -> String {
    let primary = cluster
        .primaries()
        .into_iter()
        .find(|primary| primary.port == port)
        .unwrap();
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|name| {
            let slot = cluster.keyslot(&format!("{{{name}}}:state"));
            primary
                .slots
                .iter()
                .any(|&(start, end)| (start..=end).contains(&slot))
        })
        .unwrap()
}

#[test]
fn a_killed_primary_fails_promptly_then_its_replica_takes_over() {
    let Some(mut cluster) = RedisCluster::shared_or_skip() else {
        return;
    };
    let primaries = cluster.primaries();
    let victim = primaries
        .iter()
        .find(|primary| !primary.replicas.is_empty())
        .expect("a primary with a replica")
        .clone();
    let bystander = primaries
        .iter()
        .find(|primary| primary.port != victim.port)
        .unwrap()
        .port;
    let open = |name: &str, fallback: Fallback| {
        // Every node, the victim included: the client finds the cluster through any.
        let state = RedisState::open_cluster(cluster.all_urls(), name)
            .unwrap()
            .timeout(TIMEOUT)
            .on_unreachable(fallback);
        let plenty = Limits::new().rate(REQUESTS, Rate::per_second(100_000));
        MultiLimiter::new(plenty).unwrap().shared_on(state).unwrap()
    };
    let limiters = [
        ("fail", open(&name_on(&cluster, victim.port, "failover-fail"), Fallback::Fail)),
        (
            "local",
            open(
                &name_on(&cluster, victim.port, "failover-local"),
                Fallback::Local { share: 0.5 },
            ),
        ),
        ("bystander", open(&name_on(&cluster, bystander, "failover-bystander"), Fallback::Fail)),
    ];
    // A quota half used before the kill, replicated for sure (`WAIT` for the replica).
    let kept_name = name_on(&cluster, victim.port, "failover-kept");
    let kept = MultiLimiter::new(Limits::new().window(REQUESTS, Rate::per_minute(10)))
        .unwrap()
        .shared_on(
            RedisState::open_cluster(cluster.all_urls(), &kept_name)
                .unwrap()
                .timeout(TIMEOUT),
        )
        .unwrap();
    for _ in 0..5 {
        kept.try_acquire(&[(REQUESTS, 1)]).unwrap();
    }
    let acknowledged: i64 = ask(victim.port, redis::cmd("WAIT").arg(1).arg(2_000)).unwrap();
    assert_eq!(acknowledged, 1, "the replica did not acknowledge the writes");
    for (label, limiter) in &limiters {
        assert!(matches!(try_one(limiter), Outcome::Cluster), "{label}");
    }

    cluster.kill(victim.port);
    let killed = Instant::now();
    // (since the kill, which limiter, how long the call took, what it came to)
    let mut log: Vec<(Duration, &str, Duration, Outcome)> = Vec::new();
    let resumed = |log: &[(Duration, &str, Duration, Outcome)], label: &str, away: fn(&Outcome) -> bool| {
        let mine: Vec<&Outcome> = log
            .iter()
            .filter(|entry| entry.1 == label)
            .map(|entry| &entry.3)
            .collect();
        mine.iter().any(|outcome| away(outcome))
            && matches!(mine.last(), Some(Outcome::Cluster))
    };
    loop {
        for (label, limiter) in &limiters {
            let asked = Instant::now();
            let outcome = try_one(limiter);
            log.push((killed.elapsed(), *label, asked.elapsed(), outcome));
        }
        let fail_back = resumed(&log, "fail", |outcome| matches!(outcome, Outcome::Unreachable));
        let local_back = resumed(&log, "local", |outcome| matches!(outcome, Outcome::Local));
        let bystander_on = matches!(log.last(), Some((_, "bystander", _, Outcome::Cluster)));
        if fail_back && local_back && bystander_on {
            break;
        }
        assert!(
            killed.elapsed() < FAILOVER,
            "decisions did not resume within {FAILOVER:?} of the kill: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = killed.elapsed();

    let first = |label: &str, wanted: fn(&Outcome) -> bool| {
        log.iter()
            .find(|entry| entry.1 == label && wanted(&entry.3))
            .map(|entry| entry.0)
    };
    eprintln!(
        "primary {} killed: first failure after {:?}, decided locally from {:?}; the cluster \
         decides again after {took:?} ({} calls; the slowest took {:?}); bystander's \
         failures: {}",
        victim.port,
        first("fail", |outcome| matches!(outcome, Outcome::Unreachable)),
        first("local", |outcome| matches!(outcome, Outcome::Local)),
        log.len(),
        log.iter().map(|entry| entry.2).max().unwrap(),
        log.iter()
            .filter(|entry| entry.1 == "bystander" && matches!(entry.3, Outcome::Unreachable))
            .count(),
    );
    // The first call on the dead primary fails, typed, at once.
    let first_fail = log.iter().find(|entry| entry.1 == "fail").unwrap();
    assert!(
        matches!(first_fail.3, Outcome::Unreachable),
        "{first_fail:?}"
    );
    for entry in &log {
        assert!(!matches!(entry.3, Outcome::Other(_)), "{entry:?}");
        assert!(entry.2 <= PROMPT, "a call took {:?}: {entry:?}", entry.2);
    }
    // The fallback never failed: it went on locally.
    assert!(log
        .iter()
        .filter(|entry| entry.1 == "local")
        .all(|entry| !matches!(entry.3, Outcome::Unreachable)));
    // The replica took over the victim's slots.
    let now_serving = cluster.primary_of(&format!("{{{kept_name}}}:state"));
    assert!(
        victim.replicas.contains(&now_serving),
        "slots of {} now on {now_serving}, not on its replica {:?}",
        victim.port,
        victim.replicas
    );
    // What was replicated before the kill still counts: 5 of 10 left.
    let (mut granted, mut refused, mut unreachable) = (0, 0, 0);
    while granted + refused < 8 {
        match kept.try_acquire(&[(REQUESTS, 1)]) {
            Ok(_) => granted += 1,
            Err(LimitError::NotInTime { .. }) => refused += 1,
            Err(LimitError::Redis(error)) if error.is_unreachable() && unreachable < 3 => {
                unreachable += 1; // its connection still knew the dead primary
            }
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!((granted, refused), (5, 3));
}
