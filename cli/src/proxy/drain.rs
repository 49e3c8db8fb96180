//! Stopping on SIGINT or SIGTERM (or SIGHUP): the first signal stops accepting (a connection
//! to the proxy's own address wakes the listener), lets the requests in flight finish and
//! closes every connection after its current answer; a second signal exits at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::connections::ConnectionPool;
use super::exchange::Proxy;
use crate::cli_error::CliError;
use crate::stop_signals::StopSignals;

/// Installs the stop signals of a proxy listening on `listening`.
///
/// # Errors
/// [`CliError::Signals`] when they cannot be caught.
pub fn stop_on_signals(
    proxy: &Arc<Proxy>,
    pool: &Arc<ConnectionPool>,
    listening: SocketAddr,
) -> Result<StopSignals, CliError> {
    let (proxy, pool) = (Arc::clone(proxy), Arc::clone(pool));
    StopSignals::install(
        move |signal| {
            proxy.stopping.store(true, Ordering::SeqCst);
            let answering = proxy.stats.answering.load(Ordering::Relaxed);
            let forwarded = proxy.stats.in_flight.load(Ordering::Relaxed);
            eprintln!(
                "tollgate proxy: {}: stopping; no new connection is accepted; finishing {} \
                 request{} in flight ({forwarded} forwarded, the others waiting for their turn; \
                 {} connection{} open); press Ctrl-C again to stop now",
                signal.name(),
                answering,
                if answering == 1 { "" } else { "s" },
                pool.busy(),
                if pool.busy() == 1 { "" } else { "s" },
            );
            // The listener waits in accept: a connection of our own ends the wait.
            TcpStream::connect_timeout(&reachable(listening), Duration::from_secs(1)).ok();
        },
        |_| {},
    )
}

/// An address that reaches a listener bound to `listening` (an unspecified address is reached
/// on loopback).
fn reachable(listening: SocketAddr) -> SocketAddr {
    let ip = match listening.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listening.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_reached_on_loopback() {
        let reach = |text: &str| reachable(text.parse().unwrap()).to_string();
        assert_eq!(reach("0.0.0.0:81"), "127.0.0.1:81");
        assert_eq!(reach("[::]:81"), "[::1]:81");
        assert_eq!(reach("10.0.0.2:81"), "10.0.0.2:81");
    }
}
