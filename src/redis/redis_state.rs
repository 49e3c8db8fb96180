//! Where a shared limiter lives: a Redis server's connections and the limiter's name on it
//! ([`RedisState`]), what to do when it cannot be reached ([`Fallback`]), and the one call that
//! runs the script.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::RedisError;

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
    pub(super) connector: Arc<Connector>,
    pub(super) name: String,
    pub(super) fallback: Fallback,
    pub(super) lease: Duration,
}

/// The client, its idle connections and the script, shared by clones.
pub(super) struct Connector {
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
    pub(super) fn run(
        &self,
        keys: &[String],
        args: &[Arg<'_>],
    ) -> Result<Vec<::redis::Value>, RedisError> {
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
                Err(from_client(&error))
            }
        }
    }

    fn connect(&self) -> Result<::redis::Connection, RedisError> {
        let timeout = *self.timeout.lock();
        let connection = self
            .client
            .get_connection_with_timeout(timeout)
            .map_err(|error| from_client(&error))?;
        for set in [
            connection.set_read_timeout(Some(timeout)),
            connection.set_write_timeout(Some(timeout)),
        ] {
            set.map_err(|error| from_client(&error))?;
        }
        Ok(connection)
    }
}

/// The error of a failed call: unreachable (refused, timed out, dropped), or the server's.
fn from_client(error: &::redis::RedisError) -> RedisError {
    if error.is_io_error()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_connection_dropped()
    {
        RedisError::Unreachable {
            detail: error.to_string(),
        }
    } else {
        RedisError::Server {
            detail: error.to_string(),
        }
    }
}

/// One argument of the script.
#[derive(Clone, Copy, Debug)]
pub(super) enum Arg<'a> {
    Int(i64),
    Str(&'a str),
}
