//! One run of a command: its captured output, or why it failed.

use std::error::Error;
use std::fmt;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::children::Children;
use super::command_template::CommandTemplate;
use super::spool::Spool;

/// What a command wrote, kept together to be written out in one piece.
#[derive(Debug, Default)]
pub struct CommandOutput {
    /// Everything it wrote to stdout.
    pub stdout: Spool,
    /// Everything it wrote to stderr.
    pub stderr: Spool,
}

/// Why a run of a command failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommandFailure {
    /// The command could not be started (not found, not executable): not retried.
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// The command ran and exited unsuccessfully (retried).
    Exited {
        /// How it ended.
        status: ExitStatus,
        /// What it wrote.
        output: Arc<CommandOutput>,
    },
    /// The command ran longer than its timeout and was killed, with its process group
    /// (retried).
    TimedOut {
        /// The timeout.
        after: Duration,
        /// What it wrote before.
        output: Arc<CommandOutput>,
    },
    /// What the command wrote could not be captured (retried).
    Capture(io::Error),
}

impl CommandFailure {
    /// Whether another run may succeed: a command that ran and failed may; one that could not
    /// start will not.
    pub fn retryable(&self) -> bool {
        !matches!(self, CommandFailure::Spawn { .. })
    }

    /// What the command wrote, if it ran.
    pub fn output(&self) -> Option<&Arc<CommandOutput>> {
        match self {
            CommandFailure::Exited { output, .. } | CommandFailure::TimedOut { output, .. } => {
                Some(output)
            }
            CommandFailure::Spawn { .. } | CommandFailure::Capture(_) => None,
        }
    }
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandFailure::Spawn { program, source } => {
                write!(f, "cannot start {program}: {source}")
            }
            CommandFailure::Exited { status, .. } => write!(f, "{status}"),
            CommandFailure::TimedOut { after, .. } => {
                write!(f, "killed after its --timeout of {after:?}")
            }
            CommandFailure::Capture(err) => write!(f, "cannot capture its output: {err}"),
        }
    }
}

impl Error for CommandFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CommandFailure::Spawn { source, .. } | CommandFailure::Capture(source) => Some(source),
            CommandFailure::Exited { .. } | CommandFailure::TimedOut { .. } => None,
        }
    }
}

/// How each command runs, the same for every line.
#[derive(Debug)]
pub struct CommandRunner {
    /// The command.
    pub template: CommandTemplate,
    /// The commands running.
    pub children: Arc<Children>,
    /// Killed after this long, if set.
    pub timeout: Option<Duration>,
    /// The bytes of each stream kept in memory; the rest goes to a temporary file.
    pub memory_per_stream: usize,
}

impl CommandRunner {
    /// Runs the command for `line` in a process group of its own, stdin closed, stdout and
    /// stderr captured, telling `spawned` once the process runs (its start); waits for it to
    /// exit, killing it (and its group) at its timeout.
    ///
    /// # Errors
    /// [`CommandFailure`] when it cannot start, exits unsuccessfully or times out.
    pub fn run(
        &self,
        line: &[u8],
        spawned: impl FnOnce(),
    ) -> Result<Arc<CommandOutput>, CommandFailure> {
        let mut command = self.template.command_for(line);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child =
            self.children
                .spawn(&mut command)
                .map_err(|source| CommandFailure::Spawn {
                    program: self.template.program().to_owned(),
                    source,
                })?;
        spawned();
        let id = child.id();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let limit = self.memory_per_stream;
        let (ended, watched) = mpsc::channel::<()>();
        let (captured, status, timed_out) = thread::scope(|scope| {
            let errors = scope.spawn(move || stderr.map(|err| Spool::capture(err, limit)));
            let watchdog = self.timeout.map(|timeout| {
                let children = &self.children;
                scope.spawn(move || {
                    let expired = matches!(
                        watched.recv_timeout(timeout),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    if expired {
                        children.kill(id);
                    }
                    expired
                })
            });
            let out = stdout.map(|out| Spool::capture(out, limit));
            let status = child.wait();
            self.children.ended(id);
            drop(ended);
            let timed_out = watchdog.is_some_and(|watchdog| watchdog.join().unwrap_or(false));
            let err = errors.join().unwrap_or(None);
            ((out, err), status, timed_out)
        });
        let output = match captured {
            (Some(Ok(stdout)), Some(Ok(stderr))) => Arc::new(CommandOutput { stdout, stderr }),
            (Some(Err(err)), _) | (_, Some(Err(err))) => return Err(CommandFailure::Capture(err)),
            _ => Arc::new(CommandOutput::default()),
        };
        let status = status.map_err(CommandFailure::Capture)?;
        match (timed_out, self.timeout) {
            (true, Some(after)) => Err(CommandFailure::TimedOut { after, output }),
            _ if status.success() => Ok(output),
            _ => Err(CommandFailure::Exited { status, output }),
        }
    }
}
