//! SIGINT, SIGTERM and SIGHUP as a graceful stop, the same for every subcommand.
//!
//! The first signal stops starting new work: the subcommand's `on_first` callback interrupts its
//! run and says what the run now waits for. A second signal (any of the three) ends the process
//! at once, with the exit status of the first one; what a journal recorded before is kept, since
//! every record is durable before it is reported.

use std::process;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::cli_error::CliError;

/// A signal that asks the tool to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: `kill`, `timeout`, `docker stop`, systemd, SLURM.
    Terminate,
    /// SIGHUP: the terminal closed.
    Hangup,
}

impl StopSignal {
    /// The exit status a shell reports for a process this signal stopped: 128 + its number.
    pub fn exit_status(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
            StopSignal::Hangup => 129,
        }
    }

    /// Its name, as `kill -l` prints it, for messages.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }

    fn code(self) -> u8 {
        self.exit_status()
    }

    fn from_code(code: u8) -> Option<StopSignal> {
        [
            StopSignal::Interrupt,
            StopSignal::Terminate,
            StopSignal::Hangup,
        ]
        .into_iter()
        .find(|signal| signal.code() == code)
    }
}

/// The stop signals received by this process: the first one, if any.
#[derive(Clone, Debug, Default)]
pub struct StopSignals {
    /// The first signal's exit status (0: none yet).
    first: Arc<AtomicU8>,
}

impl StopSignals {
    /// Catches SIGINT, SIGTERM and SIGHUP for the rest of the process: the first calls
    /// `on_first` (on a thread of its own), a second ends the process at once with the first's
    /// exit status, after `on_second` (e.g. to kill children) has run.
    ///
    /// # Errors
    /// [`CliError::Signals`] when the handlers cannot be installed.
    pub fn install(
        on_first: impl Fn(StopSignal) + Send + 'static,
        on_second: impl Fn(StopSignal) + Send + 'static,
    ) -> Result<StopSignals, CliError> {
        let signals = StopSignals::default();
        let first = Arc::clone(&signals.first);
        let mut received = catch()?;
        std::thread::Builder::new()
            .name("tollgate-signals".into())
            .spawn(move || {
                for signal in received.by_ref() {
                    let earlier = first.compare_exchange(
                        0,
                        signal.code(),
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                    match earlier {
                        Ok(_) => on_first(signal),
                        Err(code) => {
                            let first = StopSignal::from_code(code).unwrap_or(signal);
                            on_second(first);
                            process::exit(i32::from(first.exit_status()));
                        }
                    }
                }
            })
            .map_err(|err| CliError::Signals(err.to_string()))?;
        Ok(signals)
    }

    /// The first stop signal received, if any.
    pub fn received(&self) -> Option<StopSignal> {
        StopSignal::from_code(self.first.load(Ordering::SeqCst))
    }
}

/// The stop signals, as they arrive.
#[cfg(unix)]
fn catch() -> Result<impl Iterator<Item = StopSignal> + Send, CliError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|err| CliError::Signals(err.to_string()))?;
    Ok(std::iter::from_fn(move || {
        signals.forever().next().map(|number| match number {
            SIGTERM => StopSignal::Terminate,
            SIGHUP => StopSignal::Hangup,
            _ => StopSignal::Interrupt,
        })
    }))
}

/// Elsewhere, Ctrl-C (and the console's close events) only.
#[cfg(not(unix))]
fn catch() -> Result<impl Iterator<Item = StopSignal> + Send, CliError> {
    let (send, receive) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = send.send(StopSignal::Interrupt);
    })
    .map_err(|err| CliError::Signals(err.to_string()))?;
    Ok(receive.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_128_plus_the_signal_number() {
        assert_eq!(StopSignal::Interrupt.exit_status(), 128 + 2);
        assert_eq!(StopSignal::Hangup.exit_status(), 128 + 1);
        assert_eq!(StopSignal::Terminate.exit_status(), 128 + 15);
    }

    #[test]
    fn codes_round_trip_and_zero_is_none() {
        for signal in [
            StopSignal::Interrupt,
            StopSignal::Terminate,
            StopSignal::Hangup,
        ] {
            assert_eq!(StopSignal::from_code(signal.code()), Some(signal));
        }
        assert_eq!(StopSignals::default().received(), None);
    }
}
