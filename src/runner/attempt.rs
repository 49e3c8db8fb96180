use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Permit;

/// The attempt in progress, handed to a call made with
/// [`Runner::new_with_attempt`](crate::Runner::new_with_attempt): what the call can tell the
/// Runner while it runs.
///
/// - [`answered`](Self::answered): the server's answer began to arrive (its status and
///   headers): usage is then counted from this instant instead of the call's completion. A
///   server stamps a request when it arrives, before it answers, so the instant the answer's
///   headers arrived is the latest the server can have stamped it: counting from there frees
///   the quota as early as is safe, with no margin, where counting from the completion holds
///   it for as long as the body takes to come (a streamed answer: most of the call).
/// - [`sent`](Self::sent): the call's real work started; for resources
///   [`counted_at_start`](crate::Resource::counted_at_start), which count from then.
///
/// A call that says nothing is billed from its completion: never earlier than the server's
/// stamp either. Until its answer (or its completion) the attempt's units are held **in
/// flight**: from its grant they count as used at every instant, whatever the call's duration,
/// so a server stamping the call anywhere in between never sees more than the quota.
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
    /// The names of the other resources: counted from the answer, or from the completion.
    counted_at_answer: &'p [String],
    /// [`answered`](Self::answered) was called: those resources' charges count from then.
    answered: AtomicBool,
}

impl<'p> Attempt<'p> {
    pub(super) fn new(
        permit: &'p Permit,
        counted_at_start: &'p [String],
        counted_at_answer: &'p [String],
    ) -> Attempt<'p> {
        Attempt {
            permit,
            counted_at_start,
            counted_at_answer,
            answered: AtomicBool::new(false),
        }
    }

    /// The call's real work started now: what resources counted at the start hold is counted
    /// from this instant instead of the instant the call was started (later, so never earlier
    /// than anything the work reaches can see it; from the grant until the start, they were held
    /// in flight). Calling it again counts from the last call.
    /// Resources counted at completion are not concerned: a request's send is the earliest the
    /// server can stamp it, not the latest (see [`answered`](Self::answered)).
    pub fn sent(&self) {
        self.restamp(self.counted_at_start);
    }

    /// The server's answer began to arrive now (with ureq, `send` returned the response: its
    /// status and headers are in, its body is still to be read): the usage of the resources
    /// counted at completion (every resource not [counted at the
    /// start](crate::Resource::counted_at_start)) is counted from this instant instead. What
    /// the attempt is billed once it ends (its actual usage, its per-job usage if it failed)
    /// keeps counting from here; only a bill above what was reserved counts from the
    /// completion, and a call the server refused is refunded as ever. Calling it again counts
    /// from the last call.
    ///
    /// A whole (not streamed) answer comes with its headers: called once its body is read, it
    /// is as early, and the connection is back in the pool while this call waits for the
    /// limiter (with ~1,000 workers waiting, a wait of milliseconds: a connection held
    /// through it makes the next calls open more).
    ///
    /// Safe without a margin: the server stamped the request when it arrived, which is before
    /// it answered, so a unit counted from here comes back no earlier than the server's; until
    /// here, from the attempt's grant, its units were held in flight (used at every instant,
    /// however long the call took to be answered). The send is no such bound: the server stamps
    /// the request after it, by a network delay nobody knows.
    ///
    /// ```
    /// use tollgate::{Rate, Resource, Runner};
    ///
    /// // A streamed answer: the headers come at once, the body over seconds.
    /// let mut runner = Runner::new_with_attempt(|prompt: &String, attempt| {
    ///     // let mut response = agent.post(url).send(body)?;   // the headers are in
    ///     attempt.answered();
    ///     // let text = response.body_mut().read_to_string()?; // the long part
    ///     Ok::<usize, String>(prompt.len())
    /// })
    /// .resource(Resource::new("requests", Rate::per_minute(500)).per_job(|_| 1));
    /// runner.schedule("hello".to_owned())?;
    /// assert_eq!(runner.run().results, vec![Some(5)]);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn answered(&self) {
        self.restamp(self.counted_at_answer);
        self.answered.store(true, Ordering::Release);
    }

    /// Whether [`answered`](Self::answered) was called: the bill then keeps the answer's
    /// instant.
    pub(super) fn was_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// The permit the attempt holds.
    pub(super) fn permit(&self) -> &Permit {
        self.permit
    }

    /// Counts what `resources` reserved from now.
    fn restamp(&self, resources: &[String]) {
        for name in resources {
            // The permit holds every resource of the runner: settling one cannot fail.
            self.permit.settle(name, self.permit.cost(name)).ok();
        }
    }
}

impl fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("counted_at_start", &self.counted_at_start)
            .field("answered", &self.was_answered())
            .finish_non_exhaustive()
    }
}
