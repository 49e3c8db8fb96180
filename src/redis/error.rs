use std::error::Error;
use std::fmt;

/// Why a limiter shared on Redis could not decide. Part of
/// [`LimitError::Redis`](crate::LimitError::Redis).
///
/// Plain data, compiled with or without the feature `redis` (so that a `match` on
/// [`LimitError`](crate::LimitError) compiles under both); only the feature produces it.
///
/// ```
/// use tollgate::redis::RedisError;
///
/// let err = RedisError::Unreachable { detail: "connection refused".into() };
/// assert!(err.to_string().contains("Fallback::Local"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisError {
    /// The server could not be reached (refused, timed out, connection dropped). Nothing was
    /// taken.
    Unreachable {
        /// What the client said.
        detail: String,
    },
    /// Another process uses this limiter name with different parameters (rates, bursts,
    /// concurrency, lease): two quotas cannot share one name.
    ParametersDiffer {
        /// The limiter name.
        name: String,
        /// The parameters stored in Redis for it.
        stored: String,
        /// This process's parameters.
        ours: String,
    },
    /// Something this backend does not share (yet): what, and what to use instead.
    Unsupported {
        /// What was asked.
        what: String,
    },
    /// The limiter name cannot be used as a Redis hash tag.
    InvalidName(String),
    /// The URL could not be parsed.
    InvalidUrl {
        /// What the client said.
        detail: String,
    },
    /// The server answered with an error or an unexpected reply (a server older than Redis 5,
    /// or a script error).
    Server {
        /// What the server said.
        detail: String,
    },
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Unreachable { detail } => write!(
                f,
                "Redis is unreachable ({detail}); start it, check the URL, or choose \
                 RedisState::on_unreachable(Fallback::Local {{ share }}) to run on a local share"
            ),
            RedisError::ParametersDiffer { name, stored, ours } => write!(
                f,
                "limiter {name:?} is already shared with other parameters ({stored}); this process \
                 has {ours}: give the same limits everywhere, or another limiter name"
            ),
            RedisError::Unsupported { what } => write!(f, "not shared on Redis: {what}"),
            RedisError::InvalidName(name) => write!(
                f,
                "limiter name {name:?} must be non-empty and without '{{' or '}}' (it becomes a \
                 Redis hash tag)"
            ),
            RedisError::InvalidUrl { detail } => write!(
                f,
                "invalid Redis URL ({detail}); use redis://host:port/db"
            ),
            RedisError::Server { detail } => write!(
                f,
                "the Redis server refused the limiter's script ({detail}); tollgate needs Redis 5 or later"
            ),
        }
    }
}

impl Error for RedisError {}

impl RedisError {
    /// Whether this is a failure to reach the server (the one case a fallback applies to).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RedisError::Unreachable { .. })
    }
}
