//! SIGTERM and SIGINT drain `tollgate proxy`: it stops accepting, answers the requests in
//! flight, and exits 143 / 130.

mod proxy_support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, post, start_proxy};
use tollgate_mock_provider::{MockConfig, MockProvider};

fn drains_on(signal: &str, status: i32) {
    let provider =
        MockProvider::start(MockConfig::new().latency(Duration::from_millis(1_500))).unwrap();
    let proxy = start_proxy(&["--upstream", &provider.url(), "--requests", "100/s"], &[]);
    let url = format!("{}/v1/chat/completions", proxy.url);
    let in_flight: Vec<_> = (0..3)
        .map(|index| {
            let url = url.clone();
            std::thread::spawn(move || post(&agent(), &url, &chat_body(&format!("q {index}"), 4)))
        })
        .collect();
    // The three reached the proxy (a fixed 500 ms was not always enough on a loaded machine).
    let waiting = Instant::now();
    while proxy.stats()["answering"] != 3 {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "3 requests in flight awaited: {}",
            proxy.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let address = proxy.addr();
    let begun = Instant::now();
    let (code, stderr) = proxy.stop(signal);
    assert_eq!(code, Some(status), "{stderr}");
    // It waited for the answers (1.5 s of latency each, one after the other).
    assert!(
        begun.elapsed() >= Duration::from_millis(800),
        "{:?}",
        begun.elapsed()
    );
    for request in in_flight {
        let (status, body) = request.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        stderr.contains("finishing 3 requests in flight (1 forwarded"),
        "{stderr}"
    );
    assert!(
        TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
        "still accepting"
    );
}

#[test]
fn sigterm_finishes_the_requests_in_flight_then_exits_143() {
    drains_on("-TERM", 143);
}

#[test]
fn sigint_finishes_the_requests_in_flight_then_exits_130() {
    drains_on("-INT", 130);
}

#[test]
fn an_idle_kept_alive_connection_does_not_hold_the_stop() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let proxy = start_proxy(&["--upstream", &provider.url(), "--requests", "100/s"], &[]);
    let client = agent();
    // The connection stays open in the client's pool.
    let url = format!("{}/v1/chat/completions", proxy.url);
    assert_eq!(post(&client, &url, &chat_body("hi", 4)).0, 200);
    let begun = Instant::now();
    let (code, stderr) = proxy.stop("-TERM");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "{:?}",
        begun.elapsed()
    );
}
