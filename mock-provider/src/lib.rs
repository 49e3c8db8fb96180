//! A loopback mock of an OpenAI-compatible chat completions provider, with the quotas of a real
//! one: for testing rate limiters (such as `tollgate`) against real HTTP 429s, `retry-after`
//! and `x-ratelimit-*` headers, and latency, without a network or an API key.
//!
//! - `POST /v1/chat/completions` answers an OpenAI-shaped completion whose `usage` is
//!   deterministic ([`prompt_tokens`], [`completion_tokens`]), after a fixed latency.
//! - Quotas of requests and tokens per window are counted in a **strict sliding window at each
//!   request's arrival**, as real providers do: a request counts for exactly one window after it
//!   arrives, and costs [`arrival_cost`] tokens (the prompt plus `max_tokens`, which OpenAI
//!   reserves against its TPM at arrival). A request over either quota gets a 429 at once, with
//!   the wait until the window has room for it, and is not counted.
//! - `GET /stats` answers the counts of [`Stats`] as JSON.
//!
//! The server is blocking: HTTP/1.1 on `std::net` (requests parsed by `httparse`), a thread per
//! connection, keep-alive; no async runtime, no TLS. It listens on 127.0.0.1 only, and stops
//! when [`MockProvider::stop`] is called or the provider is dropped.
//!
//! ```
//! use std::time::Duration;
//! use tollgate_mock_provider::{MockConfig, MockProvider};
//!
//! let provider = MockProvider::start(
//!     MockConfig::default()
//!         .requests_per_window(60)
//!         .tokens_per_window(10_000)
//!         .latency(Duration::from_millis(5)),
//! )?;
//! let endpoint = format!("{}/v1/chat/completions", provider.url());
//! assert!(endpoint.starts_with("http://127.0.0.1:"));
//! // ... point an OpenAI client at `provider.url()` ...
//! assert_eq!(provider.stats().requests, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Answers
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /v1/chat/completions`, within quota | 200, after the latency, with the six `x-ratelimit-*` headers |
//! | the same, over a quota | 429 at once: `retry-after` (s), `retry-after-ms`, `x-should-retry`, the six `x-ratelimit-*` headers, an OpenAI error body of type `requests` or `tokens` and code `rate_limit_exceeded` |
//! | the same, larger than the token quota itself | 429 at once, "Request too large", `x-should-retry: false`, no `retry-after` (waiting cannot help) |
//! | an invalid body (not JSON, no `model`, no `messages`, `max_tokens` < 1, `stream: true`) | 400 at once, type `invalid_request_error` |
//! | a body over 16 MiB | 413 ([`MAX_BODY_BYTES`]), connection closed |
//! | malformed HTTP; a head over 64 KiB; a transfer encoding other than chunked | 400; 431; 501, connection closed |
//! | `GET /stats` | 200, the [`Stats`] as JSON |
//! | another method on those paths | 405 with `allow` |
//! | any other path | 404 |
//! | any request while the provider stops | 503 |
//!
//! The `x-ratelimit-*` headers of an unlimited quota (`None`) are left out. They tell the state
//! at the request's arrival: `remaining` after counting it (before, for a refusal), and a reset
//! is the time until that quota is back to its initial state (nothing counted in the window),
//! formatted as a Go duration (`1s`, `6m0s`, `20ms`, `2m59.56s`) like OpenAI's. `retry-after-ms`
//! is the time until the window has room for the refused request itself (rounded up to the
//! millisecond; `retry-after` the same in whole seconds, rounded up): a retry after exactly
//! that wait is accepted, unless other requests took the room first.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod chat;
mod http;
mod quota;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use http::{Request, Response};

pub use chat::{
    arrival_cost, completion_tokens, prompt_tokens, COMPLETION_EXTRA_TOKENS, DEFAULT_MAX_TOKENS,
};

use quota::{ceil_millis, ceil_secs, go_duration, Decision, Gauges, Kind, Window};

/// The chat completions path, to append to [`MockProvider::url`].
pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// The statistics path, to append to [`MockProvider::url`].
pub const STATS_PATH: &str = "/stats";

/// The largest request body read; a larger one is answered 413 (and the connection closed).
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// How the mock provider behaves: its quotas, window, latency and port.
///
/// Public fields with a [`Default`] (no quota, a 60 s window, no latency, an ephemeral port), and
/// chainable setters of the same names.
///
/// ```
/// use std::time::Duration;
/// use tollgate_mock_provider::MockConfig;
///
/// let config = MockConfig::default()
///     .requests_per_window(3)
///     .window(Duration::from_secs(1))
///     .latency(Duration::from_millis(200));
/// assert_eq!(config.requests_per_window, Some(3));
/// assert_eq!(config.tokens_per_window, None); // unlimited
/// assert_eq!(config.port, 0); // ephemeral
///
/// // Or with the fields:
/// let config = MockConfig {
///     tokens_per_window: Some(40_000),
///     ..MockConfig::default()
/// };
/// assert_eq!(config.window, Duration::from_secs(60));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockConfig {
    /// Requests accepted per sliding window (RPM for a 60 s window); `None`: unlimited.
    pub requests_per_window: Option<u64>,
    /// Tokens accepted per sliding window (TPM for a 60 s window), each request counted at
    /// arrival as [`arrival_cost`]; `None`: unlimited.
    pub tokens_per_window: Option<u64>,
    /// The sliding window's length (default 60 s).
    pub window: Duration,
    /// The delay before a 200 answer, from the request's arrival (default none). Refusals and
    /// errors are answered at once.
    pub latency: Duration,
    /// The port to listen on, on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
}

impl Default for MockConfig {
    fn default() -> MockConfig {
        MockConfig {
            requests_per_window: None,
            tokens_per_window: None,
            window: Duration::from_secs(60),
            latency: Duration::ZERO,
            port: 0,
        }
    }
}

impl MockConfig {
    /// The default configuration: no quota, a 60 s window, no latency, an ephemeral port.
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// assert_eq!(MockConfig::new(), MockConfig::default());
    /// ```
    pub fn new() -> MockConfig {
        MockConfig::default()
    }

    /// Sets the requests accepted per window.
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// assert_eq!(MockConfig::new().requests_per_window(60).requests_per_window, Some(60));
    /// ```
    pub fn requests_per_window(mut self, requests: u64) -> MockConfig {
        self.requests_per_window = Some(requests);
        self
    }

    /// Sets the tokens accepted per window.
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// assert_eq!(MockConfig::new().tokens_per_window(1_000).tokens_per_window, Some(1_000));
    /// ```
    pub fn tokens_per_window(mut self, tokens: u64) -> MockConfig {
        self.tokens_per_window = Some(tokens);
        self
    }

    /// Sets the window's length.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// let config = MockConfig::new().window(Duration::from_secs(1));
    /// assert_eq!(config.window, Duration::from_secs(1));
    /// ```
    pub fn window(mut self, window: Duration) -> MockConfig {
        self.window = window;
        self
    }

    /// Sets the delay before a 200 answer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// let config = MockConfig::new().latency(Duration::from_millis(250));
    /// assert_eq!(config.latency, Duration::from_millis(250));
    /// ```
    pub fn latency(mut self, latency: Duration) -> MockConfig {
        self.latency = latency;
        self
    }

    /// Sets the port (0: an ephemeral one).
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// assert_eq!(MockConfig::new().port(8080).port, 8080);
    /// ```
    pub fn port(mut self, port: u16) -> MockConfig {
        self.port = port;
        self
    }

    /// Checks the configuration: the window must be positive, and a quota, when there is one,
    /// at least 1 (use `None` for no quota).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// assert!(MockConfig::new().validate().is_ok());
    /// assert!(MockConfig::new().window(Duration::ZERO).validate().is_err());
    /// assert!(MockConfig::new().requests_per_window(0).validate().is_err());
    /// ```
    pub fn validate(&self) -> io::Result<()> {
        let fail = |message: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if self.window.is_zero() {
            return fail("the window must be longer than zero");
        }
        if self.requests_per_window == Some(0) {
            return fail("requests_per_window must be at least 1 (None for no quota)");
        }
        if self.tokens_per_window == Some(0) {
            return fail("tokens_per_window must be at least 1 (None for no quota)");
        }
        Ok(())
    }
}

/// What the provider has answered so far (also served as JSON by `GET /stats`).
///
/// `requests` counts the well-formed chat completion requests, each either accepted or rejected
/// by a quota (`requests == accepted + rejected`, `rejected == rejected_requests +
/// rejected_tokens`, a rejection counted under the quota that bound longest); invalid ones (400)
/// are counted apart.
///
/// ```
/// use tollgate_mock_provider::Stats;
///
/// let stats = Stats { requests: 3, accepted: 2, rejected: 1, rejected_requests: 1, ..Stats::default() };
/// assert_eq!(stats.requests, stats.accepted + stats.rejected);
/// assert!(stats.to_json().starts_with(r#"{"requests":3,"accepted":2,"rejected":1,"#));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Chat completion requests checked against the quotas (`accepted + rejected`).
    pub requests: u64,
    /// Requests within quota (answered 200, or being answered).
    pub accepted: u64,
    /// Requests refused with a 429 (not counted in the window).
    pub rejected: u64,
    /// Refusals where the requests quota bound longest.
    pub rejected_requests: u64,
    /// Refusals where the tokens quota bound longest, or the request alone was too large.
    pub rejected_tokens: u64,
    /// Invalid chat completion requests (answered 400; not counted against the quotas).
    pub invalid: u64,
}

impl Stats {
    /// The counts as a JSON object, as `GET /stats` serves them.
    ///
    /// ```
    /// use tollgate_mock_provider::Stats;
    ///
    /// assert_eq!(
    ///     Stats::default().to_json(),
    ///     r#"{"requests":0,"accepted":0,"rejected":0,"rejected_requests":0,"rejected_tokens":0,"invalid":0}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"requests":{},"accepted":{},"rejected":{},"rejected_requests":{},"rejected_tokens":{},"invalid":{}}}"#,
            self.requests,
            self.accepted,
            self.rejected,
            self.rejected_requests,
            self.rejected_tokens,
            self.invalid,
        )
    }
}

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
                window: Window::new(
                    config.requests_per_window,
                    config.tokens_per_window,
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
struct Shared {
    config: MockConfig,
    state: Mutex<State>,
    stopping: Mutex<bool>,
    stop_signal: Condvar,
    connections: Mutex<Connections>,
    /// Notified when the last connection thread ends.
    idle: Condvar,
}

struct State {
    window: Window,
    stats: Stats,
    next_id: u64,
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
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn is_stopping(&self) -> bool {
        *lock(&self.stopping)
    }

    /// Sleeps until `deadline`, or less if the provider stops.
    fn sleep_until(&self, deadline: Instant) {
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
                http::serve_connection(
                    stream,
                    MAX_BODY_BYTES,
                    &|request| respond(&shared, request),
                    &|| shared.is_stopping(),
                    &|| {
                        error_response(
                            503,
                            "The mock provider is shutting down.",
                            "server_error",
                            None,
                            None,
                        )
                    },
                );
                drop(registration);
            });
    }
}

fn error_response(
    status: u16,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    Response::json(status, body.to_string())
}

/// Routes a request.
fn respond(shared: &Shared, request: Request) -> Response {
    let path = request.path.as_str();
    let method = request.method.as_str();
    match (path, method) {
        (CHAT_COMPLETIONS_PATH, "POST") => chat(shared, &request.body),
        (STATS_PATH, "GET") => Response::json(200, shared.state().stats.to_json()),
        (CHAT_COMPLETIONS_PATH | STATS_PATH, _) => {
            let allow = if path == STATS_PATH { "GET" } else { "POST" };
            error_response(
                405,
                &format!("Method {method} is not allowed on {path}: use {allow}."),
                "invalid_request_error",
                None,
                Some("method_not_allowed"),
            )
            .header("allow", allow)
        }
        _ => error_response(
            404,
            &format!(
                "Unknown request URL: {method} {path}. This mock serves POST \
                 {CHAT_COMPLETIONS_PATH} and GET {STATS_PATH}."
            ),
            "invalid_request_error",
            None,
            Some("unknown_url"),
        ),
    }
}

/// `POST /v1/chat/completions`.
fn chat(shared: &Shared, body: &[u8]) -> Response {
    let chat = match chat::parse(body) {
        Ok(chat) => chat,
        Err(invalid) => {
            shared.state().stats.invalid += 1;
            return error_response(
                400,
                &invalid.message,
                "invalid_request_error",
                invalid.param,
                None,
            );
        }
    };

    let cost = chat.arrival_cost();
    let (arrival, decision, id) = {
        let mut state = shared.state();
        let arrival = Instant::now();
        let decision = state.window.admit(arrival, cost);
        let stats = &mut state.stats;
        stats.requests += 1;
        match decision {
            Decision::Accepted(_) => stats.accepted += 1,
            Decision::Refused { kind, .. } => {
                stats.rejected += 1;
                match kind {
                    Kind::Requests => stats.rejected_requests += 1,
                    Kind::Tokens => stats.rejected_tokens += 1,
                }
            }
        }
        let id = state.next_id;
        if matches!(decision, Decision::Accepted(_)) {
            state.next_id += 1;
        }
        (arrival, decision, id)
    };

    match decision {
        Decision::Accepted(gauges) => {
            shared.sleep_until(arrival + shared.config.latency);
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let body = chat::completion_body(id, created, &chat);
            with_gauges(Response::json(200, body.to_string()), &gauges)
        }
        Decision::Refused { kind, wait, gauges } => {
            refusal(&shared.config, &chat.model, cost, kind, wait, &gauges)
        }
    }
}

/// Adds the `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers of the quotas that
/// exist.
fn with_gauges(mut response: Response, gauges: &Gauges) -> Response {
    for (name, gauge) in [("requests", gauges.requests), ("tokens", gauges.tokens)] {
        if let Some(gauge) = gauge {
            response = response
                .header(
                    &format!("x-ratelimit-limit-{name}"),
                    gauge.limit.to_string(),
                )
                .header(
                    &format!("x-ratelimit-remaining-{name}"),
                    gauge.remaining.to_string(),
                )
                .header(
                    &format!("x-ratelimit-reset-{name}"),
                    go_duration(gauge.reset),
                );
        }
    }
    response
}

/// The 429 answer.
fn refusal(
    config: &MockConfig,
    model: &str,
    cost: u64,
    kind: Kind,
    wait: Option<Duration>,
    gauges: &Gauges,
) -> Response {
    let name = kind.name();
    let per = if config.window == Duration::from_secs(60) {
        match kind {
            Kind::Requests => "min (RPM)".to_owned(),
            Kind::Tokens => "min (TPM)".to_owned(),
        }
    } else {
        go_duration(config.window)
    };
    let (limit, used, requested) = match kind {
        Kind::Requests => (config.requests_per_window, gauges.used_requests, 1),
        Kind::Tokens => (config.tokens_per_window, gauges.used_tokens, cost),
    };
    let limit = limit.unwrap_or(u64::MAX);
    let message = match wait {
        Some(wait) => format!(
            "Rate limit reached for {name} in organization org-mock (model {model}) on {name} \
             per {per}: Limit {limit}, Used {used}, Requested {requested}. Please try again in \
             {}.",
            go_duration(wait)
        ),
        None => format!(
            "Request too large for {model} in organization org-mock on {name} per {per}: Limit \
             {limit}, Requested {requested}. The input or output tokens must be reduced in order \
             to run successfully."
        ),
    };
    let response = error_response(429, &message, name, None, Some("rate_limit_exceeded"));
    let response = with_gauges(response, gauges);
    match wait {
        Some(wait) => response
            .header("retry-after", ceil_secs(wait).to_string())
            .header("retry-after-ms", ceil_millis(wait).to_string())
            .header("x-should-retry", "true"),
        None => response.header("x-should-retry", "false"),
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
