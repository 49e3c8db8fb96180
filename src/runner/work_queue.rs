use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::time::Wake;
use crate::{CancelHandle, Clock, Nanos, Permit, WaitPrecision};

/// The jobs of one run, shared by its workers: ready jobs in order (a retried job goes to the
/// back, not before its backoff) and the stop signal. Workers sleep on it until a job is ready;
/// a worker waiting for its quota instant registers its reservation here, so that a stop
/// cancels it.
pub(super) struct WorkQueue<J> {
    clock: Clock,
    state: Mutex<QueueState<J>>,
    changed: Condvar,
}

struct QueueState<J> {
    /// `(job index, job, not before)`.
    ready: VecDeque<(usize, Arc<J>, Nanos)>,
    stopping: bool,
    /// One call goes alone first (a probe): `Some(taken)` until its attempt ends.
    probe: Option<bool>,
    /// For each worker waiting for its quota instant: the resource it waits for, until when,
    /// and how to cancel the wait.
    waiting: Vec<Option<(String, Nanos, CancelHandle)>>,
}

impl<J> WorkQueue<J> {
    pub(super) fn new(
        clock: Clock,
        jobs: impl IntoIterator<Item = (usize, Arc<J>)>,
        workers: usize,
        probe: bool,
    ) -> Self {
        WorkQueue {
            clock,
            state: Mutex::new(QueueState {
                ready: jobs
                    .into_iter()
                    .map(|(index, job)| (index, job, Nanos::ZERO))
                    .collect(),
                stopping: false,
                probe: probe.then_some(false),
                waiting: vec![None; workers],
            }),
            changed: Condvar::new(),
        }
    }

    /// The next job that may start, waiting for one; `None` once the run stops.
    pub(super) fn next_job(&self) -> Option<(usize, Arc<J>)> {
        let mut state = self.state.lock();
        self.clock.block_on(
            &self.changed,
            &mut state,
            WaitPrecision::Sleep,
            |state, now| {
                if state.stopping {
                    return Wake::Ready(None);
                }
                if state.probe == Some(true) {
                    return Wake::At(None); // the probe's response comes first
                }
                if let Some(position) = state
                    .ready
                    .iter()
                    .position(|(_, _, not_before)| *not_before <= now)
                {
                    if state.probe.is_some() {
                        state.probe = Some(true);
                    }
                    let entry = state.ready.remove(position);
                    return Wake::Ready(entry.map(|(index, job, _)| (index, job)));
                }
                Wake::At(
                    state
                        .ready
                        .iter()
                        .map(|(_, _, not_before)| *not_before)
                        .min(),
                )
            },
        )
    }

    /// Waits until worker `worker`'s reservation may go. Returns `false` (the caller gives the
    /// reservation back) if the run stops meanwhile.
    pub(super) fn wait_for_start(&self, worker: usize, permit: &Permit) -> bool {
        {
            let mut state = self.state.lock();
            if state.stopping {
                return false;
            }
            if permit.went() {
                // Not waiting: nothing for a stop to withdraw.
                return true;
            }
            let resource = permit.waited_for().unwrap_or("quota").to_owned();
            let at = permit.ready_at().unwrap_or(Nanos::MAX);
            state.waiting[worker] = Some((resource, at, permit.cancel_handle()));
        }
        let started = permit.wait().is_ok();
        self.state.lock().waiting[worker] = None;
        started
    }

    /// An attempt ended: if it was the probe, the other jobs may start.
    pub(super) fn attempt_ended(&self) {
        let mut state = self.state.lock();
        if state.probe.take().is_some() {
            self.changed.notify_all();
        }
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

    /// Workers take no new job and give back the reservations they wait on.
    pub(super) fn stop(&self) {
        let mut state = self.state.lock();
        state.stopping = true;
        for (_, _, handle) in state.waiting.iter().flatten() {
            // Only a wait: a call already let go runs and is billed as usual.
            handle.withdraw();
        }
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
            .min_by_key(|(_, at, _)| *at)
            .map(|(resource, at, _)| (resource.clone(), at.saturating_sub(now).as_duration()))
    }
}
