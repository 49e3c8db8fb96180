//! A throwaway `redis-server` for tests and benches: started on a free loopback port with no
//! persistence, killed when dropped.
//!
//! A test that needs one starts it with [`RedisServer::start_or_skip`]: where `redis-server` is
//! not installed the test is skipped and says so on stderr (the README's `cargo test` passes on a
//! fresh machine), except under CI (the environment variable `CI` set, as CI services and
//! `.ci/run` set it), where a missing `redis-server` fails the test: skipping there would hide
//! that the tests never ran.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` owned by the test.
pub struct RedisServer {
    child: Child,
    port: u16,
}

/// How to get a `redis-server` (and `redis-cli`), for the messages.
pub const INSTALL: &str = "install Redis (Debian: `apt-get install -y redis-server redis-tools`) \
                           or set REDIS_SERVER (and REDIS_CLI) to the binaries' paths";

impl RedisServer {
    /// Starts `redis-server` (on `PATH`, or `REDIS_SERVER`) on a free loopback port; fails with
    /// a message saying how to install it when it is missing (for benches, which are run on
    /// purpose).
    pub fn start() -> RedisServer {
        Self::start_if_installed()
            .unwrap_or_else(|| panic!("cannot start {}: it is not installed; {INSTALL}", binary()))
    }

    /// Starts `redis-server` for a test, or returns `None` when it is not installed: the caller
    /// returns at once (the test is skipped), and stderr says which test was skipped and how to
    /// run it. Under CI (`CI` set, and not `false` or `0`) a missing `redis-server` fails the
    /// test instead.
    ///
    /// ```ignore
    /// let Some(server) = RedisServer::start_or_skip() else { return };
    /// ```
    pub fn start_or_skip() -> Option<RedisServer> {
        let server = Self::start_if_installed();
        if server.is_none() {
            skip_or_fail(&binary());
        }
        server
    }

    /// Starts `redis-server`, `None` when the binary is not found; any other failure panics.
    fn start_if_installed() -> Option<RedisServer> {
        for _ in 0..5 {
            let port = free_port();
            let child = match spawn(port) {
                Ok(child) => child,
                Err(error) if error.kind() == ErrorKind::NotFound => return None,
                Err(error) => panic!("cannot start {}: {error}", binary()),
            };
            let mut server = RedisServer { child, port };
            if server.wait_ready() {
                return Some(server);
            }
            // Lost the port to someone else: try another.
        }
        panic!("{} did not start on a free port", binary());
    }

    /// Kills the server (clients then find nothing listening on its port).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server and starts a new one on the same port, empty: a server that restarted
    /// and lost its data.
    pub fn restart_empty(&mut self) {
        self.kill();
        self.child = spawn(self.port).expect("redis-server started before");
        assert!(
            self.wait_ready(),
            "redis-server did not restart on its port"
        );
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut reply = [0u8; 7];
                // Bounded: a process that took the port and never answers is not a hang.
                stream.set_read_timeout(Some(Duration::from_secs(1))).ok();
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The test running on this thread is skipped because `missing` (a binary) is not installed:
/// says so on stderr, or, under CI (`CI` set, and not `false` or `0`), fails the test.
pub fn skip_or_fail(missing: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    if under_ci() {
        panic!(
            "{test} needs {missing}, which is not installed, and CI is set: {INSTALL} \
             (without CI set, the tests that need it are skipped)"
        );
    }
    // Past the test harness's capture (which takes `eprintln!`), so that a skip is seen in a
    // passing run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: it needs {missing}, which is not installed; to run it, {INSTALL}"
    );
}

/// `redis-server` on `port` of the loopback interface, without persistence.
fn spawn(port: u16) -> std::io::Result<Child> {
    Command::new(binary())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The `redis-server` to run: `REDIS_SERVER`, or the one on `PATH`.
pub fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// Whether this is a CI run (`CI` set, and not `false` or `0`), where skipping is a failure.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| !matches!(ci.trim(), "" | "false" | "0"))
}

/// A loopback port free when asked (another process may take it before it is used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
