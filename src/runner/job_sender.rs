use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

type Wake = Box<dyn Fn() + Send + Sync>;

/// Schedules jobs into a [`Runner`](crate::Runner) from other threads, while it runs: a
/// producer feeding a consumer. Made by [`Runner::job_sender`](crate::Runner::job_sender).
///
/// While a sender is open, `run()` waits for more jobs after finishing the ones it has; it
/// returns once every sender is closed ([`close`](Self::close) or drop: "no more jobs") and
/// every job has finished, or when interrupted (jobs sent after that wait for the next run).
///
/// With a [streaming](crate::Runner::streaming) runner, [`schedule`](Self::schedule) blocks
/// while the job it sends would be `window` places or more past the oldest job not yet handed
/// over: the producer goes at the pace of the run, and memory stays bounded.
///
/// ```
/// use tollgate::Runner;
///
/// let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x * 2));
/// let sender = runner.job_sender();
/// let producer = std::thread::spawn(move || {
///     for x in 0..5 {
///         assert_eq!(sender.schedule(x), x as usize); // its index in the batch
///     }
///     sender.close(); // no more jobs
/// });
/// let report = runner.run();
/// producer.join().unwrap();
/// assert_eq!(report.results, vec![Some(0), Some(2), Some(4), Some(6), Some(8)]);
/// ```
pub struct JobSender<J> {
    feed: Arc<Feed<J>>,
}

/// Jobs sent, not yet taken by the runner, and how many senders are open.
pub(super) struct Feed<J> {
    state: Mutex<FeedState<J>>,
    /// Signalled when a streaming window moves (or no longer bounds anything).
    room: Condvar,
}

pub(super) struct FeedState<J> {
    /// `(key, job)` in the order sent; their indices follow the runner's jobs.
    sent: VecDeque<(Option<String>, J)>,
    /// The index the next job will have.
    pub(super) next_index: usize,
    senders: usize,
    /// Wakes the run in progress, if any.
    wake: Option<Wake>,
    /// Streaming: a sender waits while `next_index >= oldest_held + window`.
    window: Option<usize>,
    /// The index of the oldest job the runner still holds.
    oldest_held: usize,
}

impl<J> Feed<J> {
    pub(super) fn new() -> Feed<J> {
        Feed {
            state: Mutex::new(FeedState {
                sent: VecDeque::new(),
                next_index: 0,
                senders: 0,
                wake: None,
                window: None,
                oldest_held: 0,
            }),
            room: Condvar::new(),
        }
    }

    /// Senders wait while the job they send would be `window` (`None`: no bound) places or
    /// more past the oldest job held.
    pub(super) fn set_window(&self, window: Option<usize>) {
        self.state.lock().window = window;
        self.room.notify_all();
    }

    /// The oldest job the runner holds is now `index`: senders behind the window may go on.
    pub(super) fn window_moved(&self, index: usize) {
        let mut state = self.state.lock();
        if state.window.is_some() && state.oldest_held != index {
            state.oldest_held = index;
            self.room.notify_all();
        }
    }

    pub(super) fn lock(&self) -> parking_lot::MutexGuard<'_, FeedState<J>> {
        self.state.lock()
    }

    /// The run in progress is woken by `wake` when a job is sent or a sender closes.
    pub(super) fn begin_run(&self, wake: impl Fn() + Send + Sync + 'static) {
        self.state.lock().wake = Some(Box::new(wake));
    }

    pub(super) fn end_run(&self) {
        self.state.lock().wake = None;
    }
}

impl<J> FeedState<J> {
    /// The jobs sent since last taken, in order.
    pub(super) fn take_sent(&mut self) -> VecDeque<(Option<String>, J)> {
        std::mem::take(&mut self.sent)
    }

    /// Whether jobs were sent and not taken yet.
    pub(super) fn holds_jobs(&self) -> bool {
        !self.sent.is_empty()
    }

    /// The batch completed: the next job sent is job 0 of a new one.
    pub(super) fn new_batch(&mut self) {
        self.next_index = 0;
        self.oldest_held = 0;
    }

    /// Whether a sender is open (more jobs may come).
    pub(super) fn open(&self) -> bool {
        self.senders > 0
    }
}

impl<J> JobSender<J> {
    pub(super) fn new(feed: &Arc<Feed<J>>) -> JobSender<J> {
        feed.state.lock().senders += 1;
        JobSender {
            feed: Arc::clone(feed),
        }
    }

    /// Adds `job` to the batch and returns its index. A job the runner cannot schedule (one
    /// that exceeds a quota, say) finishes at once with that error (an
    /// [`AttemptError::Misconfigured`](crate::AttemptError::Misconfigured)).
    pub fn schedule(&self, job: J) -> usize {
        self.send(None, job)
    }

    /// [`schedule`](Self::schedule) with the job's key in the runner's
    /// [journal](crate::Runner::journal), as [`Runner::schedule_keyed`](crate::Runner::schedule_keyed).
    #[cfg(feature = "journal")]
    pub fn schedule_keyed(&self, key: impl Into<String>, job: J) -> usize {
        self.send(Some(key.into()), job)
    }

    fn send(&self, key: Option<String>, job: J) -> usize {
        let mut state = self.feed.state.lock();
        while state
            .window
            .is_some_and(|window| state.next_index >= state.oldest_held.saturating_add(window))
        {
            self.feed.room.wait(&mut state);
        }
        state.sent.push_back((key, job));
        let index = state.next_index;
        state.next_index += 1;
        if let Some(wake) = &state.wake {
            wake();
        }
        index
    }

    /// No more jobs from this sender (as dropping it).
    pub fn close(self) {}
}

impl<J> Clone for JobSender<J> {
    fn clone(&self) -> JobSender<J> {
        JobSender::new(&self.feed)
    }
}

impl<J> Drop for JobSender<J> {
    fn drop(&mut self) {
        let mut state = self.feed.state.lock();
        state.senders -= 1;
        if let Some(wake) = &state.wake {
            wake();
        }
    }
}

impl<J> fmt::Debug for JobSender<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.feed.state.lock();
        f.debug_struct("JobSender")
            .field("sent", &state.sent.len())
            .field("senders", &state.senders)
            .finish()
    }
}
