//! Why a chat request was not answered.

use std::error::Error;
use std::fmt;

use tollgate::presets::{RateLimitHeaders, Signal};
use tollgate::Verdict;

/// A chat request that was not answered: what the retry policy and the quotas need from it.
#[derive(Debug)]
pub struct ChatError {
    /// The HTTP status, or `None` when no response came (a connection error, a timeout).
    pub status: Option<u16>,
    /// The answer classified (rate limited, overloaded, permanent, ...).
    pub signal: Option<Signal>,
    /// The rate-limit headers it came with.
    pub headers: Box<RateLimitHeaders>,
    /// What went wrong: the server's error message, or the transport's.
    pub message: String,
    /// Whether the request reached a server (which may bill it): false when no connection
    /// could be made.
    pub reached: bool,
}

impl ChatError {
    /// A request that reached the server and got no response, or no usable one: retried with
    /// backoff.
    pub fn transport(message: impl Into<String>) -> ChatError {
        ChatError {
            status: None,
            signal: Some(Signal::Transient),
            headers: Box::default(),
            message: message.into(),
            reached: true,
        }
    }

    /// What the Runner does next: the classification's verdict (a 429's retry-after is honoured,
    /// a permanent error or an exhausted quota is not retried).
    pub fn verdict(&self) -> Verdict {
        self.signal
            .map_or(Verdict::Retry, |signal| signal.verdict())
    }
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl Error for ChatError {}
