//! The running provider: [`MockProvider`], its listener and its connection threads.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http;
use crate::quota::Window;
use crate::routes::{respond, shutting_down};
use crate::{MockConfig, Stats, CHAT_COMPLETIONS_PATH, MAX_BODY_BYTES};

/// A running mock provider, listening on 127.0.0.1 until [`stop`](MockProvider::stop) or drop.
///
/// ```
/// use tollgate_mock_provider::{MockConfig, MockProvider};
///
/// let mut provider = MockProvider::start(MockConfig::default())?;
/// let port = provider.addr().port();
/// assert_eq!(provider.url(), format!("http://127.0.0.1:{port}"));
/// provider.stop(); // the port is free again when this returns
/// assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MockProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .field("running", &self.acceptor.is_some())
            .finish()
    }
}

impl MockProvider {
    /// Validates the configuration, binds 127.0.0.1 on its port and starts serving.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] for an invalid configuration
    /// ([`MockConfig::validate`]), or with the bind error (such as `AddrInUse`).
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let provider = MockProvider::start(MockConfig::new().requests_per_window(10))?;
    /// assert_ne!(provider.addr().port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(config: MockConfig) -> io::Result<MockProvider> {
        config.validate()?;
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, config.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                openai: Window::new(
                    vec![config.requests_per_window, config.tokens_per_window],
                    config.window,
                ),
                anthropic: Window::new(
                    vec![
                        config.requests_per_window,
                        config.input_tokens_per_window,
                        config.output_tokens_per_window,
                    ],
                    config.window,
                ),
                stats: Stats::default(),
                next_id: 1,
            }),
            config,
            stopping: Mutex::new(false),
            stop_signal: Condvar::new(),
            connections: Mutex::new(Connections::default()),
            idle: Condvar::new(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("mock-provider-accept".to_owned())
                .spawn(move || accept_loop(listener, &shared))?
        };
        Ok(MockProvider {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address listened on (127.0.0.1 and the actual port).
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let provider = MockProvider::start(MockConfig::default())?;
    /// assert!(provider.addr().ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (no trailing slash): an OpenAI client's base URL
    /// is this plus `/v1`; the endpoint is this plus [`CHAT_COMPLETIONS_PATH`].
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let provider = MockProvider::start(MockConfig::default())?;
    /// assert!(provider.url().starts_with("http://127.0.0.1:"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The chat completions endpoint: [`url`](MockProvider::url) plus [`CHAT_COMPLETIONS_PATH`].
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let provider = MockProvider::start(MockConfig::default())?;
    /// assert_eq!(provider.chat_completions_url(), provider.url() + "/v1/chat/completions");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn chat_completions_url(&self) -> String {
        format!("{}{CHAT_COMPLETIONS_PATH}", self.url())
    }

    /// The configuration it runs with (with the port asked for, which may be 0; see
    /// [`addr`](MockProvider::addr) for the actual one).
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let provider = MockProvider::start(MockConfig::new().tokens_per_window(500))?;
    /// assert_eq!(provider.config().tokens_per_window, Some(500));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// The counts so far (the same as `GET /stats`); still readable after
    /// [`stop`](MockProvider::stop).
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider, Stats};
    ///
    /// let provider = MockProvider::start(MockConfig::default())?;
    /// assert_eq!(provider.stats(), Stats::default());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared.state().stats
    }

    /// Stops serving. Requests waiting out their latency are answered at once, a request read
    /// from now on gets 503, idle kept-alive connections are closed, and when this returns the
    /// port is closed and every connection thread has ended (or 5 s have passed, for a client
    /// that does not read its answer). Calling it again does nothing; dropping the provider
    /// calls it.
    ///
    /// ```
    /// use tollgate_mock_provider::{MockConfig, MockProvider};
    ///
    /// let mut provider = MockProvider::start(MockConfig::default())?;
    /// let addr = provider.addr();
    /// provider.stop();
    /// assert!(std::net::TcpStream::connect(addr).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        *lock(&self.shared.stopping) = true;
        self.shared.stop_signal.notify_all();
        // Wake the accept loop with a connection of our own; it sees `stopping` and returns,
        // closing the listener. Should that connection fail, the loop is left to end by itself.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
            let _ = acceptor.join();
        }
        // Idle connections see an end of stream; busy ones answer, then see it.
        self.shared.shutdown_connections(Shutdown::Read);
        if !self.shared.wait_idle(Duration::from_secs(5)) {
            self.shared.shutdown_connections(Shutdown::Both);
            self.shared.wait_idle(Duration::from_secs(1));
        }
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the provider's threads share.
pub(crate) struct Shared {
    pub(crate) config: MockConfig,
    state: Mutex<State>,
    stopping: Mutex<bool>,
    stop_signal: Condvar,
    connections: Mutex<Connections>,
    /// Notified when the last connection thread ends.
    idle: Condvar,
}

pub(crate) struct State {
    /// The OpenAI-compatible endpoints' quotas: requests and tokens.
    pub(crate) openai: Window,
    /// Anthropic's Messages quotas: requests, input tokens, output tokens.
    pub(crate) anthropic: Window,
    pub(crate) stats: Stats,
    pub(crate) next_id: u64,
}

/// The connections being served, each with a handle to shut it down on stop.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Option<TcpStream>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn is_stopping(&self) -> bool {
        *lock(&self.stopping)
    }

    /// Sleeps until `deadline`, or less if the provider stops.
    pub(crate) fn sleep_until(&self, deadline: Instant) {
        let mut stopping = lock(&self.stopping);
        loop {
            let now = Instant::now();
            if *stopping || now >= deadline {
                return;
            }
            stopping = self
                .stop_signal
                .wait_timeout(stopping, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Sleeps until the provider stops.
    pub(crate) fn wait_for_stop(&self) {
        let mut stopping = lock(&self.stopping);
        while !*stopping {
            stopping = self
                .stop_signal
                .wait(stopping)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn shutdown_connections(&self, how: Shutdown) {
        for stream in lock(&self.connections).open.values().flatten() {
            let _ = stream.shutdown(how);
        }
    }

    /// Waits until no connection thread is left, at most `timeout`; whether none is.
    fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut connections = lock(&self.connections);
        while !connections.open.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            connections = self
                .idle
                .wait_timeout(connections, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// A connection thread's registration, from before it is spawned until it ends (even by a
/// panic, or if it could not be spawned).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Registration {
    fn new(shared: &Arc<Shared>, stream: &TcpStream) -> Registration {
        let mut connections = lock(&shared.connections);
        let id = connections.next_id;
        connections.next_id += 1;
        connections.open.insert(id, stream.try_clone().ok());
        Registration {
            shared: Arc::clone(shared),
            id,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut connections = lock(&self.shared.connections);
        connections.open.remove(&self.id);
        if connections.open.is_empty() {
            self.shared.idle.notify_all();
        }
    }
}

/// Accepts connections until the provider stops, each served by a thread of its own (so that
/// latencies overlap, however many requests are in flight).
fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_stopping() {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(_) => {
                // Out of descriptors, or a connection reset before it was accepted.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let registration = Registration::new(shared, &stream);
        // On failure the closure is dropped: the connection closes, the registration ends.
        let _ = thread::Builder::new()
            .name("mock-provider-connection".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || {
                let shared = Arc::clone(&registration.shared);
                let service = http::Service {
                    max_body: MAX_BODY_BYTES,
                    handle: &|request| respond(&shared, request),
                    stopping: &|| shared.is_stopping(),
                    on_stop: &shutting_down,
                    sleep_until: &|instant| shared.sleep_until(instant),
                };
                http::serve_connection(stream, &service);
                drop(registration);
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<MockProvider>();
        check::<MockConfig>();
        check::<Stats>();
    }

    #[test]
    fn invalid_configs_do_not_start() {
        for config in [
            MockConfig::new().window(Duration::ZERO),
            MockConfig::new().requests_per_window(0),
            MockConfig::new().tokens_per_window(0),
        ] {
            let error = MockProvider::start(config).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
