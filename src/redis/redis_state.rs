//! Where a shared limiter lives: a Redis server or a Redis Cluster and the limiter's name on it
//! ([`RedisState`]), and what to do when it cannot be reached ([`Fallback`]). (The connections
//! and the one call that runs the script: `connection.rs`.)

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::connection::Connector;
use super::RedisError;

/// The default lease of a concurrency slot held in Redis.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

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

/// A Redis server ([`open`](Self::open)) or a Redis Cluster ([`open_cluster`](Self::open_cluster)),
/// and the name of one shared limiter on it.
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

impl RedisState {
    /// The limiter `name` on the server at `url` (`redis://host:port/db`; `redis://:password@…`
    /// for a password).
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`]; [`RedisError::InvalidName`] for an empty name or one with
    /// `{` or `}`.
    pub fn open(url: &str, name: &str) -> Result<RedisState, RedisError> {
        check_name(name)?;
        Ok(RedisState::on(Connector::one(url)?, name))
    }

    /// The limiter `name` on the Redis Cluster that `nodes` belong to (the URLs of some of its
    /// nodes, primaries or replicas: the first that answers gives the others). Its keys share
    /// one hash tag, `{name}`, so each decision runs on one slot's primary; limiters of other
    /// names spread over the cluster's primaries.
    ///
    /// A primary that fails makes the calls on its slots [`RedisError::Unreachable`] (then
    /// [`Fallback`] applies) until a replica takes over; they then go to the new primary.
    /// Replication is asynchronous: what the last calls before a failover wrote may not have
    /// reached the replica, and is then admitted again (see [`tollgate::redis`](crate::redis)).
    ///
    /// ```no_run
    /// use tollgate::redis::RedisState;
    /// use tollgate::{Limits, MultiLimiter, REQUESTS};
    ///
    /// let nodes = ["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/", "redis://10.0.0.3:7000/"];
    /// let shared = RedisState::open_cluster(nodes, "search-api")?;
    /// let api = MultiLimiter::new(Limits::new().rpm(600))?.shared_on(shared)?;
    /// let _permit = api.acquire(&[(REQUESTS, 1)])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`] (also for no node at all); [`RedisError::InvalidName`].
    pub fn open_cluster<S: AsRef<str>>(
        nodes: impl IntoIterator<Item = S>,
        name: &str,
    ) -> Result<RedisState, RedisError> {
        check_name(name)?;
        let nodes: Vec<String> = nodes
            .into_iter()
            .map(|node| node.as_ref().to_owned())
            .collect();
        Ok(RedisState::on(Connector::cluster(&nodes)?, name))
    }

    fn on(connector: Connector, name: &str) -> RedisState {
        RedisState {
            connector: Arc::new(connector),
            name: name.to_owned(),
            fallback: Fallback::Fail,
            lease: DEFAULT_LEASE,
        }
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

    /// The timeout of connecting and of each reply (default [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)); a call that
    /// times out is [`RedisError::Unreachable`]. Applies to every clone, for the connections
    /// made from now (set it before the first call). On a cluster, a call on a node that
    /// stalled (accepts connections, answers nothing) fails within about six timeouts: the
    /// client greets each node of a new connection, and tries once more.
    pub fn timeout(self, timeout: Duration) -> RedisState {
        self.connector
            .set_timeout(timeout.max(Duration::from_millis(1)));
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
            .field("server", &self.connector)
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
