//! Accepting clients: the listener's loop, and a bounded pool of threads that serve one
//! connection each (its requests one after another), started on demand, kept a while for the
//! next connection, at most `--max-connections` (a client beyond gets a 503 at once).

use std::collections::VecDeque;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::client_request::{RequestError, RequestLimits, RequestReader};
use super::client_response::{error_body, write_json};
use super::exchange::Proxy;

/// How long a thread with no connection to serve waits for one before it ends.
const IDLE_THREAD: Duration = Duration::from_secs(60);
/// A connection thread's stack: a request's parsing and forwarding need far less than the
/// default 2 MiB, and hundreds of streaming connections each hold one.
const STACK_BYTES: usize = 512 * 1024;
/// How long a connection refused mid-request (413, 431) is read and discarded before it is
/// closed, so that the client reads the answer rather than a reset (a slow client refused with
/// a 408 is closed at once: its thread is not held longer).
const LINGER: Duration = Duration::from_secs(2);

/// The threads serving connections.
pub struct ConnectionPool {
    state: Mutex<PoolState>,
    changed: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct PoolState {
    /// Connections handed over, not yet taken by an idle thread.
    queue: VecDeque<TcpStream>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for a connection.
    idle: usize,
    /// No connection is taken any more; idle threads end.
    closing: bool,
}

impl ConnectionPool {
    /// A pool of at most `max_threads` threads (connections at once).
    pub fn new(max_threads: usize) -> Arc<ConnectionPool> {
        Arc::new(ConnectionPool {
            state: Mutex::new(PoolState::default()),
            changed: Condvar::new(),
            max_threads,
        })
    }

    /// Hands `stream` to an idle thread, or a new one; gives it back when every thread is busy
    /// (or the pool closes).
    fn offer(
        self: &Arc<Self>,
        stream: TcpStream,
        serve: &Arc<dyn Fn(TcpStream) + Send + Sync>,
    ) -> Result<(), TcpStream> {
        let mut state = self.lock();
        if state.closing {
            return Err(stream);
        }
        if state.idle > state.queue.len() {
            state.queue.push_back(stream);
            self.changed.notify_all();
            return Ok(());
        }
        if state.threads >= self.max_threads {
            return Err(stream);
        }
        state.threads += 1;
        drop(state);
        let (pool, serve) = (Arc::clone(self), Arc::clone(serve));
        let spawned = std::thread::Builder::new()
            .name("tollgate-proxy".into())
            .stack_size(STACK_BYTES)
            .spawn(move || pool.work(stream, &*serve));
        if spawned.is_err() {
            // No thread could start: the stream went down with the closure.
            self.lock().threads -= 1;
            self.changed.notify_all();
        }
        Ok(())
    }

    /// A thread's life: `first`, then each connection handed over, until idle too long.
    fn work(&self, first: TcpStream, serve: &(dyn Fn(TcpStream) + Send + Sync)) {
        /// Counts the thread out when it ends, even by a panic: a stop waits for no ghost.
        struct Leaving<'a>(&'a ConnectionPool);
        impl Drop for Leaving<'_> {
            fn drop(&mut self) {
                let mut state = self.0.lock();
                state.threads -= 1;
                self.0.changed.notify_all();
            }
        }
        let _leaving = Leaving(self);
        let mut next = Some(first);
        while let Some(stream) = next.take() {
            serve(stream);
            let mut state = self.lock();
            state.idle += 1;
            let idle_since = Instant::now();
            while state.queue.is_empty() && !state.closing {
                let left = IDLE_THREAD.saturating_sub(idle_since.elapsed());
                if left.is_zero() {
                    break;
                }
                state = self
                    .changed
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            state.idle -= 1;
            next = state.queue.pop_front();
        }
    }

    /// Takes no more connections and waits until every thread has finished its connection.
    pub fn close_and_wait(&self) {
        let mut state = self.lock();
        state.closing = true;
        self.changed.notify_all();
        while state.threads > 0 {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Threads serving a connection now.
    pub fn busy(&self) -> usize {
        let state = self.lock();
        state.threads - state.idle
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Accepts connections on `listener` and hands each to `pool`, until the proxy stops (the
/// stop's wake-up connection ends the wait for the next one).
pub fn accept_until_stopped(
    listener: &TcpListener,
    pool: &Arc<ConnectionPool>,
    proxy: &Arc<Proxy>,
    limits: RequestLimits,
) {
    let serve: Arc<dyn Fn(TcpStream) + Send + Sync> = {
        let proxy = Arc::clone(proxy);
        Arc::new(move |stream| serve_connection(&proxy, limits, stream))
    };
    for accepted in listener.incoming() {
        if proxy.stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match accepted {
            Ok(stream) => stream,
            Err(err) => {
                // Out of file descriptors, say: the connections being served free some.
                log::warn!(target: "tollgate::proxy", "accepting a connection failed: {err}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        stream.set_nodelay(true).ok();
        if let Err(mut refused) = pool.offer(stream, &serve) {
            proxy.stats.errors.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                target: "tollgate::proxy",
                "refused a connection: {} connections are served already (--max-connections)",
                pool.max_threads
            );
            refused.set_write_timeout(Some(Duration::from_secs(1))).ok();
            let body = error_body(
                "too many connections at once; retry, or raise the proxy's --max-connections",
                "too_many_connections",
            );
            write_json(&mut refused, 503, &[("retry-after", b"1")], &body, false).ok();
        }
    }
}

/// Serves the requests of one connection until it closes, fails, or the proxy stops.
fn serve_connection(proxy: &Proxy, limits: RequestLimits, stream: TcpStream) {
    proxy.stats.connections.fetch_add(1, Ordering::Relaxed);
    let mut reader = RequestReader::new(stream);
    loop {
        match reader.next(limits, &proxy.stopping) {
            Ok(request) => {
                if !proxy.answer(&request, reader.stream()) {
                    break;
                }
            }
            Err(err) => {
                if let RequestError::Io(err) = &err {
                    log::debug!(target: "tollgate::proxy", "a client connection failed: {err}");
                }
                if let Some((status, message)) = err.answer() {
                    proxy.stats.errors.fetch_add(1, Ordering::Relaxed);
                    log::warn!(target: "tollgate::proxy", "{status} to a client: {message}");
                    let code = match status {
                        408 => "request_timeout",
                        413 => "body_too_large",
                        431 => "head_too_large",
                        _ => "malformed_request",
                    };
                    let stream = reader.stream();
                    stream.set_write_timeout(Some(LINGER)).ok();
                    write_json(stream, status, &[], &error_body(&message, code), false).ok();
                    if matches!(
                        err,
                        RequestError::BodyTooLarge { .. } | RequestError::HeadTooLarge
                    ) {
                        linger(stream);
                    }
                }
                break;
            }
        }
    }
    reader.stream().shutdown(Shutdown::Both).ok();
    proxy.stats.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Ends the writing side and discards what the client still sends, for a while: closing with
/// unread bytes would reset the connection, and the client would lose the answer.
fn linger(stream: &mut TcpStream) {
    stream.shutdown(Shutdown::Write).ok();
    let until = Instant::now() + LINGER;
    let mut discard = [0_u8; 16 * 1024];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut discard) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
