//! Why a subcommand could not run at all (as opposed to some of its jobs failing).

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

use tollgate::{JournalError, RunnerError};

/// A subcommand that could not run: printed as `tollgate: <message>`, exit status 2.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// The input could not be opened or read.
    Input {
        /// The file (`-` for stdin).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    Write {
        /// The file (`-` for stdout).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No API key in the environment, for an endpoint that is not on this machine.
    MissingApiKey {
        /// The environment variable read.
        variable: String,
    },
    /// An https endpoint, and this binary was built without the `https` feature.
    HttpsNotBuilt {
        /// The endpoint.
        endpoint: String,
    },
    /// The Runner refused its configuration.
    Runner(RunnerError),
    /// The journal cannot be opened, or could not record an answer.
    Journal(JournalError),
    /// The mock provider could not start.
    MockProvider(io::Error),
    /// The handlers of SIGINT, SIGTERM and SIGHUP could not be installed.
    Signals(String),
    /// The proxy cannot listen on its address.
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The quotas cannot be enforced (or their Redis cannot be reached).
    Limits(tollgate::LimitError),
    /// `--redis` in a build without the `redis` feature.
    #[cfg(not(feature = "redis"))]
    RedisNotBuilt,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            CliError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            CliError::MissingApiKey { variable } => write!(
                f,
                "no API key: set {variable} (or name another variable with --api-key-env)"
            ),
            CliError::HttpsNotBuilt { endpoint } => write!(
                f,
                "{endpoint} needs https, and this tollgate was built without it; rebuild with \
                 the default features (or the `https` feature)"
            ),
            CliError::Runner(err) => write!(f, "{err}"),
            CliError::Journal(err) => write!(f, "{err}"),
            CliError::MockProvider(err) => write!(f, "cannot start the mock provider: {err}"),
            CliError::Signals(err) => write!(f, "cannot catch Ctrl-C, SIGTERM and SIGHUP: {err}"),
            CliError::Listen { address, source } => write!(
                f,
                "cannot listen on {address}: {source}; give another --listen address (port 0 \
                 picks a free one)"
            ),
            CliError::Limits(err) => write!(f, "{err}"),
            #[cfg(not(feature = "redis"))]
            CliError::RedisNotBuilt => f.write_str(
                "--redis needs a tollgate built with the redis feature (cargo install \
                 tollgate-cli --features redis)",
            ),
        }
    }
}

impl Error for CliError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CliError::Input { source, .. }
            | CliError::Write { source, .. }
            | CliError::Listen { source, .. } => Some(source),
            CliError::Limits(err) => Some(err),
            CliError::Runner(err) => Some(err),
            CliError::Journal(err) => Some(err),
            CliError::MockProvider(err) => Some(err),
            CliError::MissingApiKey { .. }
            | CliError::HttpsNotBuilt { .. }
            | CliError::Signals(_) => None,
            #[cfg(not(feature = "redis"))]
            CliError::RedisNotBuilt => None,
        }
    }
}

impl From<RunnerError> for CliError {
    fn from(err: RunnerError) -> CliError {
        CliError::Runner(err)
    }
}
