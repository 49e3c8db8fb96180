use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::{Clock, Nanos, WaitPrecision};

/// The jobs of one run, shared by its workers: ready jobs in order (a retried job goes to the
/// back, not before its backoff), the pause a server asked for, and the stop signal. Workers
/// sleep on it until a job is ready, a pause ends, or their quota instant comes.
pub(super) struct WorkQueue<J> {
    clock: Clock,
    state: Mutex<QueueState<J>>,
    changed: Condvar,
}

struct QueueState<J> {
    /// `(job index, job, not before)`.
    ready: VecDeque<(usize, Arc<J>, Nanos)>,
    /// No call starts before this instant.
    paused_until: Nanos,
    stopping: bool,
    /// For each worker waiting for its quota instant: the resource it waits for and until when.
    waiting: Vec<Option<(String, Nanos)>>,
}

impl<J> WorkQueue<J> {
    pub(super) fn new(
        clock: Clock,
        jobs: impl IntoIterator<Item = (usize, Arc<J>)>,
        workers: usize,
    ) -> Self {
        WorkQueue {
            clock,
            state: Mutex::new(QueueState {
                ready: jobs
                    .into_iter()
                    .map(|(index, job)| (index, job, Nanos::ZERO))
                    .collect(),
                paused_until: Nanos::ZERO,
                stopping: false,
                waiting: vec![None; workers],
            }),
            changed: Condvar::new(),
        }
    }

    pub(super) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The next job that may start, waiting for one (and for any pause to end); `None` once the
    /// run stops.
    pub(super) fn next_job(&self) -> Option<(usize, Arc<J>)> {
        let mut state = self.state.lock();
        loop {
            if state.stopping {
                return None;
            }
            let now = self.clock.now();
            if state.paused_until > now {
                let until = state.paused_until;
                self.clock
                    .wait_until(&self.changed, &mut state, Some(until), WaitPrecision::Sleep);
                continue;
            }
            if let Some(position) = state
                .ready
                .iter()
                .position(|(_, _, not_before)| *not_before <= now)
            {
                let (index, job, _) = state.ready.remove(position)?;
                return Some((index, job));
            }
            let earliest = state
                .ready
                .iter()
                .map(|(_, _, not_before)| *not_before)
                .min();
            self.clock
                .wait_until(&self.changed, &mut state, earliest, WaitPrecision::Sleep);
        }
    }

    /// Sleeps until `at`, the instant worker `worker`'s quota allows its call. Returns `false`
    /// (the caller gives the reservation back) if the run stops or a pause begins meanwhile.
    pub(super) fn sleep_until_start(
        &self,
        worker: usize,
        at: Nanos,
        resource: Option<&str>,
    ) -> bool {
        let mut state = self.state.lock();
        let resource = resource.unwrap_or("quota").to_owned();
        state.waiting[worker] = Some((resource, at));
        let start = loop {
            let now = self.clock.now();
            if state.stopping || state.paused_until > now {
                break false;
            }
            if now >= at {
                break true;
            }
            self.clock
                .wait_until(&self.changed, &mut state, Some(at), WaitPrecision::Sleep);
        };
        state.waiting[worker] = None;
        start
    }

    /// Queues `index` at the back, to start no earlier than `not_before`.
    pub(super) fn push_back(&self, index: usize, job: Arc<J>, not_before: Nanos) {
        self.state.lock().ready.push_back((index, job, not_before));
        self.changed.notify_all();
    }

    /// Puts `index` back at the front (its reservation was given back before it started).
    pub(super) fn push_front(&self, index: usize, job: Arc<J>) {
        self.state
            .lock()
            .ready
            .push_front((index, job, Nanos::ZERO));
        self.changed.notify_all();
    }

    /// No call starts before `until`.
    pub(super) fn pause_until(&self, until: Nanos) {
        let mut state = self.state.lock();
        state.paused_until = state.paused_until.max(until);
        self.changed.notify_all();
    }

    /// Workers take no new job and give back reservations they sleep on.
    pub(super) fn stop(&self) {
        self.state.lock().stopping = true;
        self.changed.notify_all();
    }

    /// If all `live` workers wait for quota: the resource the soonest waits for, and how long.
    pub(super) fn all_waiting(&self, live: usize) -> Option<(String, Duration)> {
        let state = self.state.lock();
        let waiting: Vec<_> = state.waiting.iter().flatten().collect();
        if live == 0 || waiting.len() < live {
            return None;
        }
        let now = self.clock.now();
        waiting
            .into_iter()
            .min_by_key(|(_, at)| *at)
            .map(|(resource, at)| (resource.clone(), at.saturating_sub(now).as_duration()))
    }
}
