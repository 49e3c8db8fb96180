use std::fmt;

use crate::Permit;

/// The attempt in progress, handed to a call made with
/// [`Runner::new_with_attempt`](crate::Runner::new_with_attempt): what the call can tell the
/// Runner while it runs.
///
/// A resource [`counted_at_start`](crate::Resource::counted_at_start) is charged when the
/// attempt is granted; a call that starts its real work some time later (a process that takes
/// a while to spawn on a busy machine, a connection to open) calls [`sent`](Self::sent) once
/// that work has started, and the start is counted from then: no window, as seen by what the
/// call started, holds more starts than the quota.
///
/// ```
/// use tollgate::{Rate, Resource, Runner};
///
/// let mut runner = Runner::new_with_attempt(|line: &String, attempt| {
///     let child = std::process::Command::new("true").spawn(); // the real start
///     attempt.sent();
///     child?.wait().map(|status| status.success())
/// })
/// .resource(
///     Resource::new("starts", Rate::per_second(10))
///         .per_job(|_| 1)
///         .counted_at_start(),
/// );
/// runner.schedule("a".to_owned())?;
/// # #[cfg(unix)]
/// assert_eq!(runner.run().results, vec![Some(true)]);
/// # Ok::<(), tollgate::RunnerError>(())
/// ```
pub struct Attempt<'p> {
    permit: &'p Permit,
    /// The names of the resources counted at the start.
    counted_at_start: &'p [String],
}

impl<'p> Attempt<'p> {
    pub(super) fn new(permit: &'p Permit, counted_at_start: &'p [String]) -> Attempt<'p> {
        Attempt {
            permit,
            counted_at_start,
        }
    }

    /// The call's real work started now: what resources counted at the start hold is counted
    /// from this instant instead of the instant the attempt was granted (later, so never earlier
    /// than anything the work reaches can see it). Calling it again counts from the last call.
    pub fn sent(&self) {
        for name in self.counted_at_start {
            // The permit holds every resource of the runner: settling one cannot fail.
            self.permit.settle(name, self.permit.cost(name)).ok();
        }
    }
}

impl fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("counted_at_start", &self.counted_at_start)
            .finish_non_exhaustive()
    }
}
