//! Where a shared limiter's state is — one Redis server, or a Redis Cluster — and the
//! connections to it, kept for reuse: the one place that speaks to the `redis` crate's clients.
//! [`Connector::run`] runs the script; which node of a cluster it runs on is the client's
//! routing (the script's keys share one hash tag, so one slot, one primary).
//!
//! A cluster connection is the crate's `ClusterConnection`: a connection to each node and the
//! map of which primary serves which slot, read when it is made. It is dropped, not reused,
//! after any error meaning "unreachable" (a node killed or stalled, a failover in progress, a
//! slot moved): the next call makes a new one, which reads the map again and so finds a replica
//! promoted since. The client tries once more itself (a `MOVED` redirection, a reconnection). A
//! call fails at once on a node that is down (refused); on a node that stalled (the kernel
//! accepts, nothing answers), within about six timeouts: a new connection greets every node
//! (the crate's `CLIENT SETINFO`, within the connection timeout), then the call and the retry
//! each wait one out.

use std::fmt;
use std::time::Duration;

use ::redis::cluster::{ClusterClient, ClusterConfig, ClusterConnection};
use ::redis::{ConnectionLike, ErrorKind, IntoConnectionInfo, ServerErrorKind};
use parking_lot::Mutex;

use super::RedisError;

/// The default timeout of connecting to Redis and of each reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// How many times the cluster client tries a call again itself (a redirection after a slot
/// moved, a reconnection); more would make a call on a dead node slower to fail.
const CLUSTER_RETRIES: u32 = 1;

/// The cluster client's wait before trying again (`TRYAGAIN`, `CLUSTERDOWN`), in milliseconds:
/// short, since the caller's policy ([`Fallback`](super::Fallback), the Runner's retries)
/// decides what to do while a cluster fails over.
const CLUSTER_RETRY_WAIT_MS: (u64, u64) = (10, 50);

/// The client, its idle connections and the script, shared by a [`RedisState`](super::RedisState)'s
/// clones.
pub(super) struct Connector {
    server: Server,
    idle: Mutex<Vec<Link>>,
    script: ::redis::Script,
    timeout: Mutex<Duration>,
}

/// One server, or a cluster.
enum Server {
    One(::redis::Client),
    Cluster {
        client: ClusterClient,
        /// The nodes given (`host:port`, without credentials), for `Debug`.
        nodes: Vec<String>,
    },
}

/// A connection to the one server, or to the cluster (to each of its nodes).
enum Link {
    One(::redis::Connection),
    Cluster(Box<ClusterConnection>),
}

impl Link {
    fn as_connection(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Link::One(connection) => connection,
            Link::Cluster(connection) => connection.as_mut(),
        }
    }
}

impl Connector {
    /// The server at `url` (`redis://host:port/db`).
    pub(super) fn one(url: &str) -> Result<Connector, RedisError> {
        let client = ::redis::Client::open(url).map_err(|error| RedisError::InvalidUrl {
            detail: error.to_string(),
        })?;
        Ok(Connector::on(Server::One(client)))
    }

    /// The cluster that `nodes` (some of its nodes' URLs, any of which may be down) belong to.
    pub(super) fn cluster(nodes: &[String]) -> Result<Connector, RedisError> {
        let invalid = |error: ::redis::RedisError| RedisError::InvalidUrl {
            detail: error.to_string(),
        };
        let addresses = nodes
            .iter()
            .map(|node| {
                let info = node.as_str().into_connection_info().map_err(invalid)?;
                Ok(info.addr().to_string())
            })
            .collect::<Result<Vec<_>, RedisError>>()?;
        let (min_wait, max_wait) = CLUSTER_RETRY_WAIT_MS;
        let client = ClusterClient::builder(nodes.iter().map(String::as_str))
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(min_wait)
            .max_retry_wait(max_wait)
            .build()
            .map_err(invalid)?;
        Ok(Connector::on(Server::Cluster {
            client,
            nodes: addresses,
        }))
    }

    fn on(server: Server) -> Connector {
        Connector {
            server,
            idle: Mutex::new(Vec::new()),
            script: ::redis::Script::new(include_str!("script.lua")),
            timeout: Mutex::new(DEFAULT_TIMEOUT),
        }
    }

    /// Sets the timeout of connecting and of each reply, for the connections made from now.
    pub(super) fn set_timeout(&self, timeout: Duration) {
        *self.timeout.lock() = timeout;
    }

    /// Runs the script with `keys` and `args` on an idle connection (or a new one); a connection
    /// whose call could not reach the server is dropped, not reused.
    pub(super) fn run(
        &self,
        keys: &[String],
        args: &[Arg<'_>],
    ) -> Result<Vec<::redis::Value>, RedisError> {
        let pooled = self.idle.lock().pop();
        let mut link = match pooled {
            Some(link) => link,
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
        match invocation.invoke::<Vec<::redis::Value>>(link.as_connection()) {
            Ok(reply) => {
                self.idle.lock().push(link);
                Ok(reply)
            }
            Err(error) => {
                let error = from_client(&error);
                if !error.is_unreachable() {
                    self.idle.lock().push(link);
                }
                Err(error)
            }
        }
    }

    fn connect(&self) -> Result<Link, RedisError> {
        let timeout = *self.timeout.lock();
        let link = match &self.server {
            Server::One(client) => {
                let connection = client
                    .get_connection_with_timeout(timeout)
                    .map_err(|error| from_client(&error))?;
                for set in [
                    connection.set_read_timeout(Some(timeout)),
                    connection.set_write_timeout(Some(timeout)),
                ] {
                    set.map_err(|error| from_client(&error))?;
                }
                Link::One(connection)
            }
            Server::Cluster { client, .. } => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                let connection = client
                    .get_connection_with_config(config)
                    .map_err(|error| from_client(&error))?;
                connection
                    .set_write_timeout(Some(timeout))
                    .map_err(|error| from_client(&error))?;
                Link::Cluster(Box::new(connection))
            }
        };
        Ok(link)
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.server {
            Server::One(client) => write!(f, "{}", client.get_connection_info().addr()),
            Server::Cluster { nodes, .. } => write!(f, "cluster {}", nodes.join(" ")),
        }
    }
}

/// The error of a failed call: unreachable (refused, timed out, dropped; on a cluster also a
/// node failing over, a slot moving, the cluster down: nothing was taken, the next call may
/// answer), or the server's.
fn from_client(error: &::redis::RedisError) -> RedisError {
    let unreachable = error.is_io_error()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_cluster_error()
        || matches!(
            error.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                        | ServerErrorKind::BusyLoading
                )
        );
    if unreachable {
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

#[cfg(test)]
mod tests {
    use ::redis::{ErrorKind, ServerErrorKind};

    use super::from_client;

    fn kind_of(kind: ErrorKind) -> bool {
        from_client(&::redis::RedisError::from((kind, "from the test"))).is_unreachable()
    }

    #[test]
    fn a_cluster_failing_over_is_unreachable_for_now() {
        for kind in [
            ServerErrorKind::ClusterDown,
            ServerErrorKind::TryAgain,
            ServerErrorKind::Moved,
            ServerErrorKind::Ask,
            ServerErrorKind::MasterDown,
            ServerErrorKind::ReadOnly,
            ServerErrorKind::BusyLoading,
        ] {
            assert!(kind_of(ErrorKind::Server(kind)), "{kind:?}");
        }
        assert!(kind_of(ErrorKind::ClusterConnectionNotFound));
        assert!(kind_of(ErrorKind::Io));
    }

    #[test]
    fn a_script_the_server_refuses_is_the_servers_error() {
        for kind in [
            ErrorKind::Server(ServerErrorKind::ResponseError),
            ErrorKind::Server(ServerErrorKind::NoScript),
            ErrorKind::Server(ServerErrorKind::CrossSlot),
            ErrorKind::UnexpectedReturnType,
        ] {
            assert!(!kind_of(kind), "{kind:?}");
        }
    }
}
