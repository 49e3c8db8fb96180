//! Stopping leaves no thread behind, even with kept-alive connections open (a test binary of
//! its own, so that no other test's threads are counted).

mod common;

use std::time::{Duration, Instant};

use common::{agent, chat_body, post};
use tollgate_mock_provider::{MockConfig, MockProvider};

#[cfg(target_os = "linux")]
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[cfg(target_os = "linux")]
#[test]
fn stop_ends_every_thread_it_started() {
    let before = threads();
    let mut provider =
        MockProvider::start(MockConfig::default().latency(Duration::from_millis(50))).unwrap();
    // Several clients, each keeping its connection alive in its pool after the answer.
    let agents: Vec<ureq::Agent> = (0..8).map(|_| agent()).collect();
    let handles: Vec<_> = agents
        .iter()
        .cloned()
        .map(|agent| {
            let url = provider.chat_completions_url();
            std::thread::spawn(move || post(&agent, &url, &chat_body("hi", None)).status)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 200);
    }
    assert!(threads() > before, "the provider runs threads");
    let stopping = Instant::now();
    provider.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    // Thread exits are seen in /proc a moment after they are joined or signalled.
    let deadline = Instant::now() + Duration::from_secs(2);
    while threads() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(threads() <= before, "threads left behind");
    drop(agents);
}
