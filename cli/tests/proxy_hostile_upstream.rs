//! `tollgate proxy` against an upstream that fails: one that accepts and never answers gets the
//! client a 504 at `--timeout` (the request billed, since the upstream may have counted it), one
//! that cannot be reached a prompt 502 with nothing billed; the proxy goes on serving after both.

mod proxy_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, post, start_proxy, RunningProxy};

fn used(proxy: &RunningProxy, resource: &str) -> u64 {
    proxy.stats()["resources"][resource]["used"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {resource} in the stats"))
}

#[test]
fn an_upstream_that_never_answers_gets_the_client_a_504_at_the_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", silent.local_addr().unwrap());
    // Accepts every connection and holds it open, answering nothing.
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    let proxy = start_proxy(
        &[
            "--upstream",
            &upstream,
            "--requests",
            "100/s",
            "--tokens",
            "100000/s",
            "--timeout",
            "1s",
        ],
        &[],
    );
    let began = Instant::now();
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/chat/completions", proxy.url),
        &chat_body("hello there", 10),
    );
    assert_eq!(status, 504, "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "answered after {:?}",
        began.elapsed()
    );
    assert!(body.contains("upstream_timeout"), "{body}");
    // The upstream may have counted it: its request stays billed.
    assert_eq!(used(&proxy, "requests"), 1);
}

#[test]
fn an_unreachable_upstream_is_a_prompt_502_with_nothing_billed() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = start_proxy(
        &[
            "--upstream",
            &upstream,
            "--requests",
            "100/s",
            "--tokens",
            "100000/s",
        ],
        &[],
    );
    let began = Instant::now();
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/chat/completions", proxy.url),
        &chat_body("hello there", 10),
    );
    assert_eq!(status, 502, "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        began.elapsed()
    );
    assert!(body.contains("upstream_unreachable"), "{body}");
    // It never reached the upstream: nothing is billed, and the proxy still serves.
    assert_eq!(used(&proxy, "requests"), 0);
    assert_eq!(used(&proxy, "tokens"), 0);
}
