//! A connection to one node of a Redis Cluster whose timeout holds from its first byte.
//!
//! The cluster client of the `redis` crate connects to a node (within the connection
//! timeout), then sends it a `PING` before it sets the response timeout: a node that accepts
//! connections but does not answer (a stopped or stalled process: the kernel still completes
//! the handshake) would block that `PING`, and the call, forever. [`NodeConnection`] is the
//! crate's connection with its reads and writes bounded by the connection timeout from the
//! start; the cluster client then sets the response timeout as usual.

use std::time::Duration;

use ::redis::cluster::Connect;
use ::redis::{Cmd, Connection, ConnectionLike, IntoConnectionInfo, RedisResult, Value};

/// The `redis` crate's connection to one node, bounded from the start (see the module).
pub(super) struct NodeConnection(Connection);

impl Connect for NodeConnection {
    fn connect<T>(info: T, timeout: Option<Duration>) -> RedisResult<Self>
    where
        T: IntoConnectionInfo,
    {
        let connection = <Connection as Connect>::connect(info, timeout)?;
        connection.set_read_timeout(timeout)?;
        connection.set_write_timeout(timeout)?;
        Ok(NodeConnection(connection))
    }

    fn send_packed_command(&mut self, cmd: &[u8]) -> RedisResult<()> {
        self.0.send_packed_command(cmd)
    }

    fn set_write_timeout(&self, dur: Option<Duration>) -> RedisResult<()> {
        self.0.set_write_timeout(dur)
    }

    fn set_read_timeout(&self, dur: Option<Duration>) -> RedisResult<()> {
        self.0.set_read_timeout(dur)
    }

    fn recv_response(&mut self) -> RedisResult<Value> {
        self.0.recv_response()
    }
}

impl ConnectionLike for NodeConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.0.req_packed_commands(cmd, offset, count)
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.0.req_command(cmd)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }

    fn supports_pipelining(&self) -> bool {
        self.0.supports_pipelining()
    }

    fn check_connection(&mut self) -> bool {
        self.0.check_connection()
    }

    fn is_open(&self) -> bool {
        self.0.is_open()
    }
}
