//! One quota shared by many processes (and machines), on Redis (feature `redis`).
//!
//! A [`MultiLimiter`](crate::MultiLimiter) made with
//! [`shared_on`](crate::MultiLimiter::shared_on) keeps its state in Redis instead of in memory:
//! every process that names the same limiter on the same server takes from one quota. The
//! public types do not change: `acquire`, `try_acquire_for`, `reserve`, [`Permit`](crate::Permit)'s
//! `settle` and `cancel`, [`ModelLimiter`](crate::ModelLimiter) and the [`Runner`](crate::Runner)
//! work as in memory.
//!
//! ```no_run
//! use tollgate::redis::{Fallback, RedisState};
//! use tollgate::{Limits, MultiLimiter, REQUESTS, TOKENS};
//!
//! let shared = RedisState::open("redis://127.0.0.1:6379/", "openai-key-1")?
//!     .on_unreachable(Fallback::Local { share: 0.25 });
//! let api = MultiLimiter::new(Limits::new().rpm(500).tpm(40_000))?.shared_on(shared)?;
//! let permit = api.acquire(&[(REQUESTS, 1), (TOKENS, 2_000)])?;  // one round trip, then a local sleep
//! permit.settle(TOKENS, 1_200)?;                                 // exact refund, one round trip
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it decides
//! - **One Lua script, one round trip per decision.** The script reads the server's clock
//!   (`TIME`), takes every resource all or none, and replies with the instant the call may go
//!   (server time) and each charge's mark. No read-modify-write from the client, no retry loop:
//!   the server runs scripts one at a time, so reservations are ordered by commit (FIFO: a call
//!   is never granted before one committed earlier). The script is sent once per connection
//!   (`EVALSHA`, loaded on a `NOSCRIPT` reply).
//! - **Only the server's clock decides.** Each reply carries the server's `TIME`; the caller
//!   sleeps on its own clock until `(local time when the reply arrived) + (granted − server
//!   time)`. The offset is measured at every call, so the local clock's offset and drift do not
//!   matter, and the reply's transit makes a caller go late, never early.
//! - **GCRA** resources keep one theoretical arrival time (TAT) each, in microseconds (Redis
//!   `TIME`'s resolution; a charge's span is rounded up to a whole microsecond, so the shared
//!   limiter is never looser than the local one).
//! - **Exact sliding windows** ([`Counting::SlidingWindow`](crate::Counting), the Runner's
//!   default) keep a sorted set of entries (`"n:cost"` scored by the instant the call goes)
//!   and their sum: never more than the limit in any window of one period. Because calls are
//!   granted in commit order, every entry counts from an instant no later than the next
//!   grant, so only the window ending at that grant needs checking: the oldest entries are
//!   dropped until the cost fits. Memory is one entry per call in the last period (not per
//!   unit); a refund takes from the call's own entry while it is in the window.
//! - **Refunds** (`cancel`, `settle`) give back only what the charge still holds — its part of
//!   the backlog not yet drained — as in memory. One rule is added because other processes
//!   sleep until instants fixed on the TAT: the TAT moves back only when the refunded charge is
//!   the newest on that resource, or when every charge committed so far has started. Otherwise
//!   the units stay taken (never looser; a later charge would not have moved anyway).
//!   Reservations granted in other processes keep their instants (they cannot be re-planned
//!   earlier), and a cancelled reservation keeps its place in the FIFO order.
//! - **Concurrency slots** (`max_parallel`) are leases in a sorted set scored by their expiry
//!   (server time). A background thread renews the leases this process holds every third of the
//!   lease ([`RedisState::lease`], default 30 s); a process that dies frees its slots when its
//!   leases run out. A call waiting for a slot held elsewhere polls Redis (every 10 ms or at the
//!   first lease's expiry) within its patience.
//! - **Parameters are checked**: the first process stores its limits (resources, rates,
//!   bursts, concurrency) under the limiter's name; a process with other limits gets
//!   [`RedisError::ParametersDiffer`] at `shared_on` and at any later call.
//! - **Keys**: `{name}:state` (a string: the parameters, one TAT per resource, holds) and
//!   `{name}:slots` (a sorted set); the braces make one hash tag, so both live on one Redis
//!   Cluster slot. They expire a minute after the state is full again.
//! - **Unreachable**: [`Fallback::Fail`] (the default) returns [`RedisError::Unreachable`];
//!   [`Fallback::Local`] decides on an in-memory limiter with a share of every limit for a
//!   second, then tries Redis again. The local limiter starts from what Redis last said was
//!   left (not full), and Redis is charged with what was used locally when it answers again
//!   (a grant's reply carries each resource's state for this; the refund operation records
//!   the local use): no switch adds a burst.
//! - **Server feedback**: `observe` and the Runner's pauses are written to Redis, so a 429 seen
//!   by one process holds them all; `set_rate` is refused (the parameters are shared).

mod error;
mod remote;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use error::RedisError;
pub(crate) use remote::Remote;

/// The default lease of a concurrency slot held in Redis.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The default timeout of connecting to Redis and of each reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a limiter shared on Redis does when the server cannot be reached.
///
/// ```
/// use tollgate::redis::Fallback;
///
/// let quarter = Fallback::Local { share: 0.25 };   // 4 processes: each a quarter of the quota
/// assert_ne!(quarter, Fallback::Fail);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Fallback {
    /// The call fails with [`RedisError::Unreachable`] (wrapped in
    /// [`LimitError::Redis`](crate::LimitError::Redis)), taking nothing.
    #[default]
    Fail,
    /// The call is decided by an in-memory limiter holding `share` (in `(0, 1]`) of every limit
    /// (rates, bursts and `max_parallel`, rounded down, at least 1): with N processes, `1/N`
    /// keeps the total within the quota. Redis is tried again a second after a failure.
    ///
    /// The switches keep the shared bound (at most `burst` beyond the rate over any stretch,
    /// at most the limit in any window): the local limiter does not start full but with `share`
    /// of what Redis last said was left (a GCRA's backlog drained since; a window's calls
    /// counted until they leave it), and when Redis answers again it is first charged with
    /// what the local limiter granted and still holds, so a Redis restarted empty meanwhile
    /// does not grant a second burst. What other processes took after this one's last answer is
    /// not known to it: with several processes the shares are what bound the total.
    Local {
        /// The part of the quota this process may use alone.
        share: f64,
    },
}

/// A connection to a Redis server and the name of one shared limiter on it.
///
/// Opening makes no connection: [`MultiLimiter::shared_on`](crate::MultiLimiter::shared_on)
/// connects and checks the parameters. Clones share the connections (one per thread using it
/// at once, kept for reuse).
///
/// ```no_run
/// use std::time::Duration;
/// use tollgate::redis::RedisState;
///
/// let shared = RedisState::open("redis://127.0.0.1:6379/", "batch-2024")?
///     .lease(Duration::from_secs(120))      // calls holding a slot may be long
///     .timeout(Duration::from_millis(250));
/// assert_eq!(shared.name(), "batch-2024");
/// # Ok::<(), tollgate::redis::RedisError>(())
/// ```
#[derive(Clone)]
pub struct RedisState {
    connector: Arc<Connector>,
    name: String,
    fallback: Fallback,
    lease: Duration,
}

/// The client, its idle connections and the script, shared by clones.
pub(crate) struct Connector {
    client: ::redis::Client,
    idle: Mutex<Vec<::redis::Connection>>,
    script: ::redis::Script,
    timeout: Mutex<Duration>,
}

impl RedisState {
    /// The limiter `name` on the server at `url` (`redis://host:port/db`; `redis://:password@…`
    /// for a password).
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`]; [`RedisError::InvalidName`] for an empty name or one with
    /// `{` or `}`.
    pub fn open(url: &str, name: &str) -> Result<RedisState, RedisError> {
        check_name(name)?;
        let client = ::redis::Client::open(url).map_err(|error| RedisError::InvalidUrl {
            detail: error.to_string(),
        })?;
        Ok(RedisState {
            connector: Arc::new(Connector {
                client,
                idle: Mutex::new(Vec::new()),
                script: ::redis::Script::new(include_str!("script.lua")),
                timeout: Mutex::new(DEFAULT_TIMEOUT),
            }),
            name: name.to_owned(),
            fallback: Fallback::Fail,
            lease: DEFAULT_LEASE,
        })
    }

    /// The same server, another limiter name (the connections are shared).
    ///
    /// # Errors
    /// [`RedisError::InvalidName`].
    pub fn named(&self, name: &str) -> Result<RedisState, RedisError> {
        check_name(name)?;
        Ok(RedisState {
            name: name.to_owned(),
            ..self.clone()
        })
    }

    /// What to do when the server cannot be reached (default [`Fallback::Fail`]).
    pub fn on_unreachable(mut self, fallback: Fallback) -> RedisState {
        self.fallback = fallback;
        self
    }

    /// How long a concurrency slot stays taken after its holder stops renewing it (it died)
    /// (default [`DEFAULT_LEASE`], at least 10 ms).
    pub fn lease(mut self, lease: Duration) -> RedisState {
        self.lease = lease.max(Duration::from_millis(10));
        self
    }

    /// The timeout of connecting and of each reply (default [`DEFAULT_TIMEOUT`]); a call that
    /// times out is [`RedisError::Unreachable`]. Applies to every clone.
    pub fn timeout(self, timeout: Duration) -> RedisState {
        *self.connector.timeout.lock() = timeout.max(Duration::from_millis(1));
        self
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happens when the server cannot be reached.
    pub fn fallback(&self) -> Fallback {
        self.fallback
    }
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState")
            .field(
                "server",
                &self.connector.client.get_connection_info().addr(),
            )
            .field("name", &self.name)
            .field("fallback", &self.fallback)
            .field("lease", &self.lease)
            .finish()
    }
}

fn check_name(name: &str) -> Result<(), RedisError> {
    if name.is_empty() || name.contains(['{', '}']) {
        return Err(RedisError::InvalidName(name.to_owned()));
    }
    Ok(())
}

impl Connector {
    /// Runs the script on an idle connection (or a new one); a connection that failed is
    /// dropped, not reused.
    fn run(&self, keys: &[String], args: &[Arg<'_>]) -> Result<Vec<::redis::Value>, RedisError> {
        let pooled = self.idle.lock().pop();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect()?,
        };
        let mut invocation = self.script.prepare_invoke();
        for key in keys {
            invocation.key(key.as_str());
        }
        for arg in args {
            match arg {
                Arg::Int(value) => invocation.arg(*value),
                Arg::Str(value) => invocation.arg(*value),
            };
        }
        match invocation.invoke::<Vec<::redis::Value>>(&mut connection) {
            Ok(reply) => {
                self.idle.lock().push(connection);
                Ok(reply)
            }
            Err(error) => {
                if !error.is_io_error() && !error.is_timeout() && !error.is_connection_dropped() {
                    self.idle.lock().push(connection);
                }
                Err(RedisError::from_client(&error))
            }
        }
    }

    fn connect(&self) -> Result<::redis::Connection, RedisError> {
        let timeout = *self.timeout.lock();
        let connection = self
            .client
            .get_connection_with_timeout(timeout)
            .map_err(|error| RedisError::from_client(&error))?;
        for set in [
            connection.set_read_timeout(Some(timeout)),
            connection.set_write_timeout(Some(timeout)),
        ] {
            set.map_err(|error| RedisError::from_client(&error))?;
        }
        Ok(connection)
    }
}

/// One argument of the script.
#[derive(Clone, Copy, Debug)]
enum Arg<'a> {
    Int(i64),
    Str(&'a str),
}
