//! How a run of jobs ended, as the process's exit status.

use std::process::ExitCode;

use crate::stop_signals::StopSignal;

/// How a run of jobs ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every job succeeded: exit status 0.
    AllSucceeded,
    /// Some jobs failed (or their input was malformed): exit status 1.
    SomeFailed,
    /// A signal stopped the run: exit status 128 + its number, as shells report it (130 for
    /// Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
    Stopped(StopSignal),
}

impl RunOutcome {
    /// The outcome of a run with `failed` failed jobs, stopped by a signal or not.
    pub fn of(failed: usize, stopped: Option<StopSignal>) -> RunOutcome {
        match (stopped, failed) {
            (Some(signal), _) => RunOutcome::Stopped(signal),
            (None, 0) => RunOutcome::AllSucceeded,
            (None, _) => RunOutcome::SomeFailed,
        }
    }

    /// The process's exit status.
    pub fn exit_code(self) -> ExitCode {
        match self {
            RunOutcome::AllSucceeded => ExitCode::SUCCESS,
            RunOutcome::SomeFailed => ExitCode::from(1),
            RunOutcome::Stopped(signal) => ExitCode::from(signal.exit_status()),
        }
    }
}
