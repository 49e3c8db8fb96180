//! The commands running, each in a process group of its own, so that a stop signal reaches a
//! command and everything it started, and none is left running when `exec` stops at once.

use std::collections::HashSet;
use std::io;
use std::process::{Child, Command};
use std::sync::Mutex;

use crate::stop_signals::StopSignal;

/// The process groups of the commands running (each command leads its own: its group id is its
/// process id), and the signal every command started from now on gets at once.
#[derive(Debug, Default)]
pub struct Children {
    state: Mutex<ChildrenState>,
}

#[derive(Debug, Default)]
struct ChildrenState {
    running: HashSet<u32>,
    /// Sent to each command that starts from now on: the stop signal forwarded, or a kill.
    stop: Option<Sent>,
}

/// A signal `exec` sends its commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// A stop signal `exec` received, passed on: each command ends as it would on Ctrl-C in a
    /// terminal (most end at once; some finish cleanly first).
    Forwarded(StopSignal),
    /// SIGKILL: a second stop signal, or a command over its timeout.
    Kill,
}

impl Children {
    /// Starts `command` in a process group of its own and counts it as running (it gets the
    /// stop signal at once if one was forwarded already).
    ///
    /// # Errors
    /// The command cannot be started.
    pub fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(command, 0);
        let child = command.spawn()?;
        let mut state = self.lock();
        state.running.insert(child.id());
        if let Some(sent) = state.stop {
            signal_group(child.id(), sent);
        }
        Ok(child)
    }

    /// The command of process `id` has been waited for: it is not running.
    pub fn ended(&self, id: u32) {
        self.lock().running.remove(&id);
    }

    /// Sends `sent` to every command running and every command started from now on.
    pub fn send_all(&self, sent: Sent) {
        let mut state = self.lock();
        if state.stop != Some(Sent::Kill) {
            state.stop = Some(sent);
        }
        for id in &state.running {
            signal_group(*id, sent);
        }
    }

    /// Kills the command of process `id` and everything in its group (its timeout passed).
    pub fn kill(&self, id: u32) {
        let state = self.lock();
        // Only while it runs: once waited for, its id may be another process's.
        if state.running.contains(&id) {
            signal_group(id, Sent::Kill);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChildrenState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Sends `sent` to the process group `id` leads. A group already gone is no error.
#[cfg(unix)]
fn signal_group(id: u32, sent: Sent) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let signal = match sent {
        Sent::Forwarded(StopSignal::Interrupt) => Signal::SIGINT,
        Sent::Forwarded(StopSignal::Terminate) => Signal::SIGTERM,
        Sent::Forwarded(StopSignal::Hangup) => Signal::SIGHUP,
        Sent::Kill => Signal::SIGKILL,
    };
    if let Ok(id) = i32::try_from(id) {
        killpg(Pid::from_raw(id), signal).ok();
    }
}

/// Elsewhere there are no process groups to signal: commands get the console's Ctrl-C
/// themselves, and a timeout is not enforced.
#[cfg(not(unix))]
fn signal_group(_id: u32, _sent: Sent) {}
