//! How the mock provider behaves: [`MockConfig`].

use std::io;
use std::time::Duration;

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
    /// arrival as [`arrival_cost`](crate::arrival_cost); `None`: unlimited.
    pub tokens_per_window: Option<u64>,
    /// Input tokens accepted per window on Anthropic's `/v1/messages` (ITPM for a 60 s window);
    /// `None`: unlimited. That endpoint has quotas of its own: `requests_per_window` requests,
    /// this, and [`output_tokens_per_window`](MockConfig::output_tokens_per_window).
    pub input_tokens_per_window: Option<u64>,
    /// Output tokens accepted per window on Anthropic's `/v1/messages` (OTPM for a 60 s window),
    /// each request counting its `max_tokens` at arrival, settled to the tokens written when
    /// the answer is complete; `None`: unlimited.
    pub output_tokens_per_window: Option<u64>,
    /// The sliding window's length (default 60 s).
    pub window: Duration,
    /// The delay before a 200 answer, from the request's arrival (default none). Refusals and
    /// errors are answered at once.
    pub latency: Duration,
    /// The port to listen on, on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// How many of the first accepted chat requests hang: each is read and counted as accepted,
    /// then never answered (its connection stays open and silent until the client gives up or
    /// the provider stops, when it gets a 503). A server that accepts and hangs, to test a
    /// client's timeouts. Default 0: none.
    pub hang_first: u64,
}

impl Default for MockConfig {
    fn default() -> MockConfig {
        MockConfig {
            requests_per_window: None,
            tokens_per_window: None,
            input_tokens_per_window: None,
            output_tokens_per_window: None,
            window: Duration::from_secs(60),
            latency: Duration::ZERO,
            port: 0,
            hang_first: 0,
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

    /// Sets the input tokens accepted per window on `/v1/messages`.
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// let config = MockConfig::new().input_tokens_per_window(40_000);
    /// assert_eq!(config.input_tokens_per_window, Some(40_000));
    /// ```
    pub fn input_tokens_per_window(mut self, tokens: u64) -> MockConfig {
        self.input_tokens_per_window = Some(tokens);
        self
    }

    /// Sets the output tokens accepted per window on `/v1/messages`.
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// let config = MockConfig::new().output_tokens_per_window(8_000);
    /// assert_eq!(config.output_tokens_per_window, Some(8_000));
    /// ```
    pub fn output_tokens_per_window(mut self, tokens: u64) -> MockConfig {
        self.output_tokens_per_window = Some(tokens);
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

    /// Sets how many of the first accepted chat requests hang (never answered).
    ///
    /// ```
    /// use tollgate_mock_provider::MockConfig;
    ///
    /// assert_eq!(MockConfig::new().hang_first(2).hang_first, 2);
    /// assert_eq!(MockConfig::new().hang_first(u64::MAX).hang_first, u64::MAX); // every one
    /// ```
    pub fn hang_first(mut self, requests: u64) -> MockConfig {
        self.hang_first = requests;
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
        for (name, quota) in [
            ("tokens_per_window", self.tokens_per_window),
            ("input_tokens_per_window", self.input_tokens_per_window),
            ("output_tokens_per_window", self.output_tokens_per_window),
        ] {
            if quota == Some(0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} must be at least 1 (None for no quota)"),
                ));
            }
        }
        Ok(())
    }
}
