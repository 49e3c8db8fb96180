//! `tollgate proxy` against an upstream that fails: one that accepts and never answers gets the
//! client a 504 at `--timeout` (the request billed, since the upstream may have counted it), one
//! that cannot be reached a prompt 502 with nothing billed; the proxy goes on serving after both.

mod proxy_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, post, start_proxy, RunningProxy};

/// A proxy to `upstream` with a quota and `more` arguments, and one chat request sent through
/// it: the proxy, the answer's status and body, and how long it took.
fn one_chat_through(upstream: &str, more: &[&str]) -> (RunningProxy, u16, String, Duration) {
    let mut args = vec![
        "--upstream",
        upstream,
        "--requests",
        "100/s",
        "--tokens",
        "100000/s",
    ];
    args.extend_from_slice(more);
    let proxy = start_proxy(&args, &[]);
    let began = Instant::now();
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/chat/completions", proxy.url),
        &chat_body("hello there", 10),
    );
    (proxy, status, body, began.elapsed())
}

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
    let (proxy, status, body, took) = one_chat_through(&upstream, &["--timeout", "1s"]);
    assert_eq!(status, 504, "{body}");
    assert!(took < Duration::from_secs(20), "answered after {took:?}");
    assert!(body.contains("upstream_timeout"), "{body}");
    // The upstream may have counted it: its request stays billed.
    assert_eq!(used(&proxy, "requests"), 1);
}

#[test]
fn an_unreachable_upstream_is_a_prompt_502_with_nothing_billed() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (proxy, status, body, took) = one_chat_through(&upstream, &[]);
    assert_eq!(status, 502, "{body}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert!(body.contains("upstream_unreachable"), "{body}");
    // It never reached the upstream: nothing is billed, and the proxy still serves.
    assert_eq!(used(&proxy, "requests"), 0);
    assert_eq!(used(&proxy, "tokens"), 0);
}
