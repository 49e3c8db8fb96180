//! A primary of a real Redis Cluster (`support::redis_cluster`, `cluster-node-timeout` 1 s)
//! killed, or stopped, mid-run: the calls on its slots fail promptly with a typed error (never
//! a hang), a `Fallback::Local` limiter goes on locally, and once its replica has taken over,
//! decisions are the cluster's again — with the state the replica had received.

#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tollgate::redis::{Fallback, RedisState};
use tollgate::{LimitError, Limits, MultiLimiter, Permit, Rate, REQUESTS};

use crate::support;
use crate::support::redis_cluster::{replicated, RedisCluster};

/// The timeout of connecting and of each reply.
const TIMEOUT: Duration = Duration::from_millis(250);

/// The longest a call may take while the cluster fails over. A refused connection fails at
/// once; a stalled node costs a timeout at each step: a new cluster connection greets every
/// node (the first answering one, then all in the slots' map), then the call and the client's
/// one retry — about six timeouts (1.55–1.6 s measured at 250 ms, 2.2 s on a loaded machine):
/// twelve allowed.
const PROMPT: Duration = Duration::from_millis(12 * 250);

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

/// One call: which limiter, when it started, how long it took, what it came to.
#[derive(Debug)]
struct Call {
    label: &'static str,
    started: Instant,
    took: Duration,
    outcome: Outcome,
}

/// Whether every limiter decides on the cluster again: after the kill, `fail` failed and
/// `local` decided locally, and each one's latest call was granted by the cluster.
fn resumed(log: &[Call], killed: Instant) -> bool {
    let back = |label: &str, away: fn(&Outcome) -> bool| {
        let mut after = log
            .iter()
            .filter(|call| call.label == label && call.started >= killed);
        let went_away = after.clone().any(|call| away(&call.outcome));
        let last = after.next_back();
        went_away && last.is_some_and(|call| matches!(call.outcome, Outcome::Cluster))
    };
    back("fail", |outcome| matches!(outcome, Outcome::Unreachable))
        && back("local", |outcome| matches!(outcome, Outcome::Local))
        && back("bystander", |_| true)
}

/// How long after `killed` the calls of `label` were granted by the cluster again: the first
/// call after its last failure or local decision.
fn back_on_the_cluster(log: &[Call], label: &str, killed: Instant) -> Option<Duration> {
    let mut mine: Vec<&Call> = log.iter().filter(|call| call.label == label).collect();
    mine.sort_by_key(|call| call.started);
    let away = mine
        .iter()
        .rposition(|call| !matches!(call.outcome, Outcome::Cluster))?;
    Some(
        mine.get(away + 1)?
            .started
            .saturating_duration_since(killed),
    )
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
pub(super) fn name_on(cluster: &RedisCluster, port: u16, prefix: &str) -> String {
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

/// How the primary stops.
#[derive(Clone, Copy, Debug)]
enum How {
    /// SIGKILL: its connections reset, new ones refused.
    Killed,
    /// SIGSTOP: its connections stay open and new ones are accepted by the kernel, but nothing
    /// answers (a stalled process): only the timeouts end the calls.
    Frozen,
}

#[test]
fn a_killed_primary_fails_promptly_then_its_replica_takes_over() {
    fail_over(How::Killed);
}

#[test]
fn a_frozen_primary_times_out_promptly_then_its_replica_takes_over() {
    fail_over(How::Frozen);
}

/// A primary with a replica stops (`how`) while two threads per limiter call: one limiter on
/// it failing (`Fallback::Fail`), one deciding locally meanwhile (`Fallback::Local`), one on
/// another primary (`bystander`: the whole cluster refuses between the primary's failure and
/// its replica's promotion), and one whose quota was half used before.
fn fail_over(how: How) {
    let Some(mut cluster) = RedisCluster::shared_or_skip() else {
        return;
    };
    let prefix = format!("{how:?}").to_lowercase();
    let name = |port: u16, what: &str| name_on(&cluster, port, &format!("{prefix}-{what}"));
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
        ("fail", open(&name(victim.port, "fail"), Fallback::Fail)),
        (
            "local",
            open(&name(victim.port, "local"), Fallback::Local { share: 0.5 }),
        ),
        (
            "bystander",
            open(&name(bystander, "bystander"), Fallback::Fail),
        ),
    ];
    // A quota half used before the kill, replicated for sure (`WAIT` for the replica).
    let kept_name = name(victim.port, "kept");
    let kept = MultiLimiter::new(Limits::new().window(REQUESTS, Rate::per_minute(10)))
        .unwrap()
        .shared_on(
            RedisState::open_cluster(cluster.all_urls(), &kept_name)
                .unwrap()
                .timeout(TIMEOUT),
        )
        .unwrap();
    let _taken: Vec<Permit> = (0..5)
        .map(|_| kept.try_acquire(&[(REQUESTS, 1)]).unwrap())
        .collect();
    let fence = format!("{{{kept_name}}}:fence");
    assert_eq!(
        replicated(victim.port, &fence),
        1,
        "the replica did not acknowledge the writes"
    );

    // Two threads per limiter call it without pause but 5 ms, before, during and after.
    let log: Mutex<Vec<Call>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    // From just before the kill; from when the node is gone.
    let (killing, killed, _frozen) = std::thread::scope(|scope| {
        let _stop = support::SetOnDrop(&stop);
        for (label, limiter) in &limiters {
            for _ in 0..2 {
                let (log, stop) = (&log, &stop);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let outcome = try_one(limiter);
                        let took = started.elapsed();
                        log.lock().unwrap().push(Call {
                            label,
                            started,
                            took,
                            outcome,
                        });
                        std::thread::sleep(Duration::from_millis(5));
                    }
                });
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let killing = Instant::now();
        let frozen = match how {
            How::Killed => {
                cluster.kill(victim.port);
                None
            }
            How::Frozen => Some(cluster.freeze(victim.port)),
        };
        let killed = Instant::now();
        while !resumed(&log.lock().unwrap(), killed) {
            assert!(
                killed.elapsed() < FAILOVER,
                "decisions did not resume within {FAILOVER:?} of the kill: {:#?}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        (killing, killed, frozen)
    });
    let log = log.into_inner().unwrap();
    let after = |label: &str, wanted: fn(&Outcome) -> bool| {
        log.iter()
            .filter(|call| call.label == label && call.started >= killed && wanted(&call.outcome))
            .map(|call| call.started - killed)
            .min()
    };
    eprintln!(
        "primary {} {how:?}: the first failure {:?} after, the first local decision {:?} after; \
         back on the cluster (fail, local, bystander) {:?} after ({} calls, the slowest took \
         {:?}); the bystander's failures: {}",
        victim.port,
        after("fail", |outcome| matches!(outcome, Outcome::Unreachable)),
        after("local", |outcome| matches!(outcome, Outcome::Local)),
        ["fail", "local", "bystander"].map(|label| back_on_the_cluster(&log, label, killed)),
        log.len(),
        log.iter().map(|call| call.took).max().unwrap(),
        log.iter()
            .filter(|call| call.label == "bystander" && matches!(call.outcome, Outcome::Unreachable))
            .count(),
    );
    for call in &log {
        if let Outcome::Other(error) = &call.outcome {
            panic!("{}: an untyped failure {error:?} ({call:?})", call.label);
        }
        assert!(call.took <= PROMPT, "a call took {:?}: {call:?}", call.took);
        if call.started + call.took < killing {
            assert!(
                matches!(call.outcome, Outcome::Cluster),
                "before the kill: {call:?}"
            );
        }
    }
    // Every thread's first call on the dead primary fails, typed, at once.
    // The first call to end after the primary stopped failed, typed (calls under way end
    // with it; a call begun later may already find the replica promoted).
    let first_to_end = log
        .iter()
        .filter(|call| call.label == "fail" && call.started + call.took >= killed)
        .min_by_key(|call| call.started + call.took)
        .unwrap();
    assert!(
        matches!(first_to_end.outcome, Outcome::Unreachable),
        "{first_to_end:?}"
    );
    // The fallback never failed: it went on locally.
    assert!(log
        .iter()
        .filter(|call| call.label == "local")
        .all(|call| !matches!(call.outcome, Outcome::Unreachable)));
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
