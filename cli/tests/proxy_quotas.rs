//! `tollgate proxy` holds the upstream's quota for clients that know nothing of it: many
//! clients at once, each sending as fast as it can, every request answered, the upstream
//! refusing none when the quota given is the server's, at most 3 when it is 4× the server's
//! (learnt from the first answer's headers), and the wall time within 1.05× of the ideal.

mod proxy_support;

use std::io::Write;
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, post, start_proxy, RecordingUpstream};
use tollgate_mock_provider::{MockConfig, MockProvider};

/// Requests per window the server accepts.
const SERVER_REQUESTS: u64 = 20;
/// Requests sent in all, by [`CLIENTS`] clients at once.
const REQUESTS: u64 = 80;
const CLIENTS: u64 = 20;
/// The server's latency.
const LATENCY: Duration = Duration::from_millis(5);

fn server() -> MockProvider {
    MockProvider::start(
        MockConfig::new()
            .requests_per_window(SERVER_REQUESTS)
            .tokens_per_window(1_000_000)
            .window(Duration::from_secs(1))
            .latency(LATENCY),
    )
    .unwrap()
}

/// Sends [`REQUESTS`] chat requests through `proxy_url` from [`CLIENTS`] threads: the statuses
/// and the wall time from the first sent to the last answered.
fn send_all(proxy_url: &str) -> (Vec<u16>, Duration) {
    let url = format!("{proxy_url}/v1/chat/completions");
    let begun = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = agent();
                (0..REQUESTS / CLIENTS)
                    .map(|index| {
                        post(
                            &agent,
                            &url,
                            &chat_body(&format!("client {client} asks {index}"), 8),
                        )
                        .0
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses = clients
        .into_iter()
        .flat_map(|client| client.join().unwrap())
        .collect();
    (statuses, begun.elapsed())
}

/// The server's quota lets [`SERVER_REQUESTS`] go per second: the last batch goes after this,
/// and is answered one latency later.
fn ideal() -> Duration {
    Duration::from_secs(REQUESTS.div_ceil(SERVER_REQUESTS) - 1) + LATENCY
}

fn assert_near_ideal(wall: Duration, stderr: &str) {
    let ratio = wall.as_secs_f64() / ideal().as_secs_f64();
    eprintln!("wall {wall:?} against the ideal {:?}: {ratio:.3}", ideal());
    assert!(ratio <= 1.05, "{wall:?} is {ratio:.3}x the ideal: {stderr}");
    // Never faster than the quota allows either.
    assert!(ratio >= 0.98, "{wall:?} is faster than the quota: {stderr}");
}

#[test]
fn the_servers_quota_given_means_no_429_and_the_ideal_time() {
    let provider = server();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            "20/s",
            "--tokens",
            "1000000/s",
        ],
        &[],
    );
    let (statuses, wall) = send_all(&proxy.url);
    assert_eq!(statuses.len() as u64, REQUESTS);
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    assert_eq!(provider.stats().rejected, 0, "{}", proxy.output());
    let stats = proxy.stats();
    assert_eq!(stats["upstream_429"], 0);
    // At least the clients blocked at each of the three window boundaries waited.
    assert!(stats["waits"].as_u64().unwrap() >= 3, "{stats}");
    assert_near_ideal(wall, &proxy.output());
}

#[test]
fn a_quota_four_times_the_servers_is_learnt_with_at_most_3_429s() {
    let provider = server();
    let proxy = start_proxy(
        &[
            "--upstream",
            &provider.url(),
            // The server's period (its compressed minute): the headers say how many per window.
            "--requests",
            &format!("{}/s", SERVER_REQUESTS * 4),
            "--tokens",
            "4000000/s",
        ],
        &[],
    );
    let (statuses, wall) = send_all(&proxy.url);
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let refused = provider.stats().rejected;
    assert!(refused <= 3, "{refused} refused: {}", proxy.output());
    let stats = proxy.stats();
    assert_eq!(stats["upstream_429"], refused, "{stats}");
    assert_eq!(
        stats["absorbed_429"], refused,
        "the clients saw none: {stats}"
    );
    assert_eq!(
        stats["resources"]["requests"]["limit"], SERVER_REQUESTS,
        "learnt: {stats}"
    );
    let ratio = wall.as_secs_f64() / ideal().as_secs_f64();
    eprintln!("learnt: wall {wall:?}, {ratio:.3}x the ideal, {refused} refused");
    assert!(
        ratio <= 1.05,
        "{wall:?} is {ratio:.3}x the ideal: {}",
        proxy.output()
    );
}

#[test]
fn a_full_window_holds_the_next_request_until_its_first_leaves_not_until_it_is_empty() {
    // Two requests per second upstream. The second fills the window: the server answers
    // remaining 0 until its window is empty, a second after the second request. The third goes
    // as soon as the first leaves the window instead, and is not refused.
    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(2)
            .window(Duration::from_secs(1)),
    )
    .unwrap();
    let proxy = start_proxy(&["--upstream", &provider.url(), "--requests", "2/s"], &[]);
    let url = format!("{}/v1/chat/completions", proxy.url);
    let begun = Instant::now();
    assert_eq!(post(&agent(), &url, &chat_body("one", 4)).0, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(post(&agent(), &url, &chat_body("two", 4)).0, 200);
    assert_eq!(post(&agent(), &url, &chat_body("three", 4)).0, 200);
    let third = begun.elapsed();
    assert!(third >= Duration::from_millis(950), "{third:?}");
    assert!(
        third < Duration::from_millis(1_300),
        "held until the window was empty: {third:?}"
    );
    assert_eq!(provider.stats().rejected, 0, "{}", proxy.output());
}

#[test]
fn a_client_sees_a_429_only_once_the_retries_are_spent() {
    let upstream = RecordingUpstream::answering(
        429,
        &[("retry-after-ms", "100")],
        r#"{"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}"#,
    );
    let proxy = start_proxy(
        &[
            "--upstream",
            &upstream.url,
            "--requests",
            "100/s",
            "--retries",
            "2",
        ],
        &[],
    );
    let begun = Instant::now();
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/chat/completions", proxy.url),
        &chat_body("hello", 4),
    );
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("Rate limit reached"),
        "the upstream's own answer: {body}"
    );
    assert_eq!(upstream.recorded().len(), 3, "one attempt and two retries");
    assert!(
        begun.elapsed() >= Duration::from_millis(200),
        "each retry waited its retry-after"
    );
    let stats = proxy.stats();
    assert_eq!(
        (
            stats["upstream_429"].as_u64(),
            stats["absorbed_429"].as_u64(),
            stats["client_429"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{stats}"
    );
    // Refused calls are refunded: no request holds the quota.
    assert_eq!(stats["resources"]["requests"]["used"], 0, "{stats}");
}

#[test]
fn a_client_that_gave_up_while_waiting_spends_no_quota() {
    let upstream = RecordingUpstream::answering(200, &[], r#"{"usage": null}"#);
    let proxy = start_proxy(&["--upstream", &upstream.url, "--requests", "1/2s"], &[]);
    let url = format!("{}/v1/chat/completions", proxy.url);
    assert_eq!(post(&agent(), &url, &chat_body("first", 4)).0, 200);
    // The second waits for the next window, and its client leaves before it opens.
    let body = chat_body("second", 4);
    let mut impatient = std::net::TcpStream::connect(proxy.addr()).unwrap();
    write!(
        impatient,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(impatient);
    // The third takes the window the second would have spent.
    let begun = Instant::now();
    assert_eq!(post(&agent(), &url, &chat_body("third", 4)).0, 200);
    let recorded = upstream.recorded();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(String::from_utf8_lossy(&recorded[1].body).contains("third"));
    assert!(
        begun.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        begun.elapsed()
    );
    proxy.wait_for_answers(3);
    assert!(proxy.output().contains(" 499 "), "{}", proxy.output());
}
