//! A throwaway Redis Cluster for tests and benches: six `redis-server --cluster-enabled yes` on
//! free loopback ports, each in a directory of its own under the temp dir, without persistence,
//! joined by `redis-cli --cluster create ... --cluster-replicas 1` into three primaries with a
//! replica each; `cluster-node-timeout` is 1 s, so a replica takes over from a killed primary in
//! a few seconds.
//!
//! One cluster serves a whole test binary ([`RedisCluster::shared_or_skip`]: started once, then
//! lent to one test at a time, since a test may kill a node). Its nodes stop when the test
//! process exits, however it exits (a panic, a failed assertion, a kill): each `redis-server`
//! runs under a `sh` watchdog that kills it (and removes its directory) when its stdin, a pipe
//! from the test process, closes. A cluster of one's own ([`RedisCluster::start`]) also stops
//! when dropped.
//!
//! Where `redis-server` or `redis-cli` is missing the test is skipped, saying so on stderr; under
//! CI it fails (as [`RedisServer`](super::redis_server::RedisServer)'s).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::redis_server::{binary, free_port, skip_or_fail, INSTALL};

/// The primaries; each has one replica.
const PRIMARIES: usize = 3;

/// How long a node may not answer before the others mark it failed (milliseconds).
const NODE_TIMEOUT_MS: u64 = 1_000;

/// Runs `redis-server` (its path and arguments are the script's) with stdin closed, then kills
/// it when the script's stdin reaches its end (the test process closed the pipe or exited) and
/// removes the node's directory.
const WATCHDOG: &str = r#""$@" </dev/null >/dev/null 2>&1 &
server=$!
read -r _
kill -9 "$server" 2>/dev/null
wait "$server"
rm -rf "$TOLLGATE_NODE_DIR""#;

/// A running Redis Cluster owned by the test (or by the test binary, shared).
pub struct RedisCluster {
    nodes: Vec<Node>,
}

/// One `redis-server` of the cluster, under its watchdog.
struct Node {
    port: u16,
    /// The server's process id.
    pid: u32,
    watchdog: Child,
    /// The watchdog's stdin: closing it stops the node.
    stop: Option<ChildStdin>,
}

/// A primary and the slots it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primary {
    pub port: u16,
    /// Inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// Its replicas' ports.
    pub replicas: Vec<u16>,
}

static SHARED: OnceLock<Option<Mutex<RedisCluster>>> = OnceLock::new();

impl RedisCluster {
    /// The test binary's cluster, started by the first test that asks, lent to one test at a
    /// time and healthy when lent (every slot served, the replicas in sync); `None` (the test
    /// returns: skipped) where `redis-server` or `redis-cli` is missing, outside CI.
    ///
    /// ```ignore
    /// let Some(cluster) = RedisCluster::shared_or_skip() else { return };
    /// ```
    pub fn shared_or_skip() -> Option<MutexGuard<'static, RedisCluster>> {
        let shared = SHARED.get_or_init(|| Self::start_if_installed().map(Mutex::new));
        let Some(cluster) = shared else {
            skip_or_fail(&format!("{} or {}", binary(), cli()));
            return None;
        };
        // A test that failed while holding it leaves it as it was: the next one waits for
        // it to be healthy again.
        let cluster = cluster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cluster.wait_healthy(Duration::from_secs(20));
        Some(cluster)
    }

    /// A cluster of one's own (for benches, run on purpose): panics saying how to install Redis
    /// when it is missing.
    pub fn start() -> RedisCluster {
        Self::start_if_installed().unwrap_or_else(|| {
            panic!(
                "cannot start a Redis Cluster: {} or {} is not installed; {INSTALL}",
                binary(),
                cli()
            )
        })
    }

    /// Starts the six nodes and joins them, `None` when a binary is not found; any other
    /// failure panics.
    fn start_if_installed() -> Option<RedisCluster> {
        for program in [binary(), cli()] {
            match Command::new(&program).arg("--version").output() {
                Err(error) if error.kind() == ErrorKind::NotFound => return None,
                Err(error) => panic!("cannot run {program}: {error}"),
                Ok(_) => {}
            }
        }
        let mut nodes = Vec::with_capacity(2 * PRIMARIES);
        let mut attempts = 0;
        while nodes.len() < 2 * PRIMARIES {
            attempts += 1;
            assert!(
                attempts <= 4 * PRIMARIES,
                "{} did not start on free ports",
                binary()
            );
            // None: its port was taken meanwhile, another one.
            nodes.extend(Node::start());
        }
        let cluster = RedisCluster { nodes };
        let started = Instant::now();
        let create = Command::new(cli())
            .args(["--cluster", "create"])
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|node| format!("127.0.0.1:{}", node.port)),
            )
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", cli()));
        // Bounded: `redis-cli` waits for the nodes to join forever (a node whose cluster bus
        // port another process took meanwhile never does).
        let pid = create.id();
        let (ended, output) = mpsc::channel();
        std::thread::spawn(move || ended.send(create.wait_with_output()).ok());
        let output = match output.recv_timeout(Duration::from_secs(60)) {
            Ok(output) => output.unwrap_or_else(|error| panic!("cannot run {}: {error}", cli())),
            Err(_) => {
                signal("KILL", pid);
                panic!("redis-cli --cluster create did not end within 60 s (killed)");
            }
        };
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_healthy(Duration::from_secs(30));
        let _ = writeln!(
            std::io::stderr(),
            "a Redis Cluster of {} nodes on ports {:?} was ready in {:?}",
            cluster.nodes.len(),
            cluster.ports(),
            started.elapsed()
        );
        Some(cluster)
    }

    /// The ports of the nodes still running.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| node.stop.is_some())
            .map(|node| node.port)
            .collect()
    }

    /// `redis://127.0.0.1:<port>/` of every node still running.
    pub fn urls(&self) -> Vec<String> {
        self.ports().into_iter().map(url).collect()
    }

    /// Every node ever started (killed ones included): a client given these finds the cluster
    /// through whichever answers.
    pub fn all_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|node| url(node.port)).collect()
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`, asked of the cluster itself).
    pub fn keyslot(&self, key: &str) -> u16 {
        self.query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
    }

    /// The cluster's clock (`TIME`; every node is on this machine's), in microseconds since the
    /// Unix epoch.
    pub fn now_micros(&self) -> i64 {
        let (seconds, micros): (i64, i64) = self.query(&redis::cmd("TIME"));
        seconds * 1_000_000 + micros
    }

    /// The primaries as the cluster reports them (`CLUSTER SLOTS`), with their running
    /// replicas in sync (each replica's `INFO replication`: `CLUSTER SLOTS` lists a new replica
    /// only once gossip has spread its offset, seconds later).
    pub fn primaries(&self) -> Vec<Primary> {
        let ranges: Vec<Vec<redis::Value>> = self.query(redis::cmd("CLUSTER").arg("SLOTS"));
        let in_sync: Vec<(u16, u16)> = self
            .ports()
            .into_iter()
            .filter_map(|port| Some((port, replica_of(port)?)))
            .collect();
        let mut primaries: Vec<Primary> = Vec::new();
        // Each range: start, end, then its nodes (the primary first), each [ip, port, id, ...].
        for range in ranges {
            let start: u16 = redis::from_redis_value_ref(&range[0]).unwrap();
            let end: u16 = redis::from_redis_value_ref(&range[1]).unwrap();
            let node: Vec<redis::Value> = redis::from_redis_value_ref(&range[2]).unwrap();
            let port: u16 = redis::from_redis_value_ref(&node[1]).unwrap();
            match primaries.iter_mut().find(|primary| primary.port == port) {
                Some(primary) => primary.slots.push((start, end)),
                None => primaries.push(Primary {
                    port,
                    slots: vec![(start, end)],
                    replicas: in_sync
                        .iter()
                        .filter(|&&(_, primary)| primary == port)
                        .map(|&(replica, _)| replica)
                        .collect(),
                }),
            }
        }
        primaries.sort_by_key(|primary| primary.port);
        primaries
    }

    /// The port of the primary serving `key`.
    pub fn primary_of(&self, key: &str) -> u16 {
        let slot = self.keyslot(key);
        self.primaries()
            .into_iter()
            .find(|primary| {
                primary
                    .slots
                    .iter()
                    .any(|&(start, end)| (start..=end).contains(&slot))
            })
            .map(|primary| primary.port)
            .unwrap_or_else(|| panic!("no primary serves slot {slot} of {key:?}"))
    }

    /// Kills the node on `port` at once (SIGKILL: no goodbye to the cluster, its sockets reset)
    /// and returns when it is gone.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"));
        node.stop();
    }

    /// Stops the node on `port` without killing it (SIGSTOP: its connections stay open, the
    /// kernel still accepts new ones, nothing answers) until the guard is dropped (SIGCONT; the
    /// node then rejoins the cluster, as a replica if it was failed over).
    pub fn freeze(&self, port: u16) -> Frozen {
        let node = self
            .nodes
            .iter()
            .find(|node| node.port == port && node.stop.is_some())
            .unwrap_or_else(|| panic!("no running node on port {port}"));
        signal("STOP", node.pid);
        Frozen { pid: node.pid }
    }

    /// Waits until every slot is served by a running primary, every running node says
    /// `cluster_state:ok`, and every other running node is a replica in sync; panics after
    /// `patience`, saying what it saw.
    pub fn wait_healthy(&self, patience: Duration) {
        let give_up = Instant::now() + patience;
        loop {
            let seen = self.health();
            if seen.is_empty() {
                return;
            }
            assert!(
                Instant::now() < give_up,
                "the Redis Cluster on {:?} was not healthy within {patience:?}: {seen}",
                self.ports()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What is not healthy yet (empty: all is).
    fn health(&self) -> String {
        let running: BTreeSet<u16> = self.ports().into_iter().collect();
        let mut problems = Vec::new();
        for &port in &running {
            let info: Result<String, _> = ask(port, redis::cmd("CLUSTER").arg("INFO"));
            match info {
                Ok(info) if info.contains("cluster_state:ok") => {}
                Ok(_) => problems.push(format!("{port}: cluster_state not ok")),
                Err(error) => problems.push(format!("{port}: {error}")),
            }
        }
        if problems.is_empty() {
            let primaries = self.primaries();
            let served: u32 = primaries
                .iter()
                .filter(|primary| running.contains(&primary.port))
                .flat_map(|primary| &primary.slots)
                .map(|&(start, end)| u32::from(end - start) + 1)
                .sum();
            if served != 16_384 {
                problems.push(format!("{served} of 16384 slots on running primaries"));
            }
            // Every running node that is not a primary is a replica in sync.
            let serving = primaries
                .iter()
                .filter(|primary| running.contains(&primary.port))
                .count();
            let replicas: usize = primaries
                .iter()
                .flat_map(|primary| &primary.replicas)
                .filter(|port| running.contains(port))
                .count();
            if serving + replicas != running.len() {
                problems.push(format!(
                    "{serving} primaries and {replicas} replicas of {} nodes",
                    running.len()
                ));
            }
        }
        problems.join("; ")
    }

    /// `command`'s answer from the first running node that answers.
    fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        let mut last = None;
        for port in self.ports() {
            match ask(port, command) {
                Ok(value) => return value,
                Err(error) => last = Some(error),
            }
        }
        panic!("no node of the cluster answered {command:?}: {last:?}")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }
}

impl Node {
    /// Starts a node on a free port whose cluster bus port (+10000) is free too; `None` if it
    /// did not answer (a port was taken meanwhile).
    fn start() -> Option<Node> {
        let port = loop {
            let port = free_port();
            let bus_free = port
                .checked_add(10_000)
                .is_some_and(|bus| TcpListener::bind(("127.0.0.1", bus)).is_ok());
            if bus_free {
                break port;
            }
        };
        let dir = std::env::temp_dir().join(format!(
            "tollgate-redis-cluster-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for a cluster node");
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(binary())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args([
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
            ])
            .arg("--dir")
            .arg(&dir)
            .env("TOLLGATE_NODE_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut watchdog = spawned.unwrap_or_else(|error| panic!("cannot run sh: {error}"));
        let stop = watchdog.stdin.take();
        let mut node = Node {
            port,
            pid: 0,
            watchdog,
            stop,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let info: Result<String, _> = ask(port, redis::cmd("INFO").arg("server"));
            let pid = info.ok().and_then(|info| {
                info.lines()
                    .find_map(|line| line.trim().strip_prefix("process_id:")?.parse().ok())
            });
            if let Some(pid) = pid {
                node.pid = pid;
                return Some(node);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        node.stop();
        None
    }

    /// Closes the watchdog's stdin (it kills the server) and waits for it.
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            drop(stop);
            let _ = self.watchdog.wait();
        }
    }
}

/// A node stopped by [`RedisCluster::freeze`]: continued when dropped.
#[must_use = "the node is continued when the guard is dropped"]
pub struct Frozen {
    pid: u32,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", self.pid);
    }
}

/// Sends the signal `name` to process `pid` (the shell's `kill`: no `procps` needed).
fn signal(name: &str, pid: u32) {
    let status = Command::new("sh")
        .args(["-c", r#"kill -"$1" "$2""#, "sh", name, &pid.to_string()])
        .status()
        .unwrap_or_else(|error| panic!("cannot run sh: {error}"));
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// The port of the primary the node on `port` replicates, if it is a replica in sync.
fn replica_of(port: u16) -> Option<u16> {
    let info: String = ask(port, redis::cmd("INFO").arg("replication")).ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
    };
    if field("role")? != "slave" || field("master_link_status")? != "up" {
        return None;
    }
    field("master_port")?.parse().ok()
}

/// Waits until the replicas of the primary on `port` have every write it took so far: writes
/// `fence` (a key it serves), then `WAIT`s for a replica on that same connection (`WAIT` counts
/// from the connection's own last write); returns how many acknowledged within 2 s.
pub fn replicated(port: u16, fence: &str) -> i64 {
    let client = redis::Client::open(url(port)).unwrap();
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .unwrap();
    redis::cmd("SET")
        .arg(fence)
        .arg(1)
        .arg("PX")
        .arg(60_000)
        .exec(&mut connection)
        .unwrap();
    redis::cmd("WAIT")
        .arg(1)
        .arg(2_000)
        .query(&mut connection)
        .unwrap()
}

/// `command`'s answer from the node on `port` alone (no redirection), within half a second.
pub fn ask<T: redis::FromRedisValue>(port: u16, command: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(url(port))?;
    let mut connection = client.get_connection_with_timeout(Duration::from_millis(500))?;
    connection.set_read_timeout(Some(Duration::from_millis(500)))?;
    command.query(&mut connection)
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// The `redis-cli` to run: `REDIS_CLI`, or the one on `PATH`.
fn cli() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}
