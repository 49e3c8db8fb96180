//! How a run of jobs ended, as the process's exit status.

use std::process::ExitCode;

/// How a run of jobs ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every job succeeded: exit status 0.
    AllSucceeded,
    /// Some jobs failed (or their input was malformed): exit status 1.
    SomeFailed,
    /// Ctrl-C stopped the run: exit status 130 (128 + SIGINT, as shells report it).
    Interrupted,
}

impl RunOutcome {
    /// The outcome of a run with `failed` failed jobs, `interrupted` or not.
    pub fn of(failed: usize, interrupted: bool) -> RunOutcome {
        match (interrupted, failed) {
            (true, _) => RunOutcome::Interrupted,
            (false, 0) => RunOutcome::AllSucceeded,
            (false, _) => RunOutcome::SomeFailed,
        }
    }

    /// The process's exit status.
    pub fn exit_code(self) -> ExitCode {
        match self {
            RunOutcome::AllSucceeded => ExitCode::SUCCESS,
            RunOutcome::SomeFailed => ExitCode::from(1),
            RunOutcome::Interrupted => ExitCode::from(130),
        }
    }
}
