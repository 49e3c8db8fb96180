//! One run of a command: its captured output, or why it failed.

use std::error::Error;
use std::fmt;
use std::io;
use std::process::{ExitStatus, Stdio};

use super::command_template::CommandTemplate;

/// What a command wrote, kept together to be written out in one piece.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
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
        output: CommandOutput,
    },
}

impl CommandFailure {
    /// Whether another run may succeed: a command that ran and failed may; one that could not
    /// start will not.
    pub fn retryable(&self) -> bool {
        matches!(self, CommandFailure::Exited { .. })
    }
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandFailure::Spawn { program, source } => {
                write!(f, "cannot start {program}: {source}")
            }
            CommandFailure::Exited { status, .. } => write!(f, "{status}"),
        }
    }
}

impl Error for CommandFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CommandFailure::Spawn { source, .. } => Some(source),
            CommandFailure::Exited { .. } => None,
        }
    }
}

/// Runs `template` for `line`, stdin closed, stdout and stderr captured; waits for it to exit.
///
/// # Errors
/// [`CommandFailure`] when it cannot start or exits unsuccessfully.
pub fn run_command(
    template: &CommandTemplate,
    line: &str,
) -> Result<CommandOutput, CommandFailure> {
    let spawned = template
        .command_for(line)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CommandFailure::Spawn {
            program: template.program().to_owned(),
            source,
        })?;
    let output = CommandOutput {
        stdout: spawned.stdout,
        stderr: spawned.stderr,
    };
    if spawned.status.success() {
        Ok(output)
    } else {
        Err(CommandFailure::Exited {
            status: spawned.status,
            output,
        })
    }
}
