//! A Runner shared on Redis bills a call from when its answer began
//! ([`Attempt::answered`](tollgate::Attempt::answered)) too: the store settles nothing more at
//! the completion when the bill is what was reserved (Redis cannot lower a charge where it
//! stands, and a settle there would count it from the completion). Real time, on the server's
//! clock: generous tolerances.

#![cfg(feature = "redis")]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tollgate::redis::RedisState;
use tollgate::{Rate, Resource, Runner};

use crate::support::redis_server::RedisServer;

/// One request per 400 ms; calls of 340 ms whose answer begins at 40 ms: the second call starts
/// 400 ms after the first one's answer (about 440 ms after its start), not 400 ms after its
/// completion (740 ms).
#[test]
fn a_call_on_redis_is_billed_from_its_answer() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let starts = Mutex::new(Vec::new());
    let mut runner = Runner::new_with_attempt(|_: &u32, attempt| {
        starts.lock().unwrap().push(Instant::now());
        std::thread::sleep(Duration::from_millis(40));
        attempt.answered();
        std::thread::sleep(Duration::from_millis(300));
        Ok::<(), String>(())
    })
    .resource(Resource::new("requests", Rate::new(1, Duration::from_millis(400))).per_job(|_| 1))
    .max_concurrent(1)
    .shared_on(RedisState::open(&server.url(), "arrival billing").unwrap());
    runner.schedule_all(0..2).unwrap();
    assert!(runner.run().results.iter().all(Option::is_some));
    drop(runner);
    let starts = starts.into_inner().unwrap();
    let gap = starts[1] - starts[0];
    assert!(
        gap >= Duration::from_millis(430) && gap < Duration::from_millis(640),
        "the second call started {gap:?} after the first"
    );
}
