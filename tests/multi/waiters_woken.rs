//! A waiting call is woken by the change that lets it go or refuses it: each waiter's thread
//! sleeps on a condition variable of its own (a change wakes only the threads it concerns), so
//! the change must still find every thread it concerns. Each call waits in a thread of its own;
//! a waiter never woken fails the test after 20 s instead of hanging it.

use std::sync::mpsc;
use std::time::Duration;

use crate::support::wait_until;
use tollgate::{LimitError, Limits, MultiLimiter, REQUESTS};

/// Acquires one request on `api` in a thread of its own, once it is waiting (the limiter counts
/// it among the reservations waiting); returns where its answer comes.
fn waiting_acquire(api: &MultiLimiter) -> mpsc::Receiver<Result<(), LimitError>> {
    let (sent, answer) = mpsc::channel();
    let other = api.clone();
    std::thread::spawn(move || {
        sent.send(other.acquire(&[(REQUESTS, 1)]).map(drop)).ok();
    });
    wait_until("the call to wait", || api.permits().reserved == 1);
    asleep();
    answer
}

/// Lets a thread that reserved go to sleep in its wait (nothing tells when it is asleep: with
/// less, the test may pass without waking anyone, never fail wrongly).
fn asleep() {
    std::thread::sleep(Duration::from_millis(100));
}

fn answer_of(answer: &mpsc::Receiver<Result<(), LimitError>>) -> Result<(), LimitError> {
    (answer.recv_timeout(Duration::from_secs(20))).expect("the waiting call was woken")
}

/// The slot frees when the permit holding it drops: the waiter is planned to go at once in that
/// change (and granted at its next look), woken although it waited for no instant.
#[test]
fn a_call_waiting_for_a_slot_is_woken_when_the_slot_is_freed() {
    let api = MultiLimiter::new(Limits::new().rpm(1_000).max_parallel(1)).unwrap();
    let held = api.acquire(&[(REQUESTS, 1)]).unwrap();
    let answer = waiting_acquire(&api);
    drop(held);
    assert_eq!(answer_of(&answer), Ok(()));
}

/// A cancel from another thread leaves the queue: the waiter's thread, which the queue no longer
/// knows, is woken all the same to collect its refusal.
#[test]
fn a_call_waiting_for_a_slot_is_woken_by_a_cancel_from_another_thread() {
    let api = MultiLimiter::new(Limits::new().rpm(1_000).max_parallel(1)).unwrap();
    let _held = api.acquire(&[(REQUESTS, 1)]).unwrap();
    let (sent, answer) = mpsc::channel();
    let (handle_sent, handle) = mpsc::channel();
    let other = api.clone();
    std::thread::spawn(move || {
        let permit = other.reserve(&[(REQUESTS, 1)]).unwrap();
        handle_sent.send(permit.cancel_handle()).unwrap();
        sent.send(permit.wait()).ok();
    });
    let handle = handle.recv_timeout(Duration::from_secs(20)).unwrap();
    wait_until("the call to wait", || api.permits().reserved == 1);
    asleep();
    handle.cancel();
    assert_eq!(answer_of(&answer), Err(LimitError::Cancelled));
}
