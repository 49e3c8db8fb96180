//! Measurements of `tollgate proxy` for the README, on loopback against the mock provider, each
//! against a direct call to the mock in the same run: the latency the proxy adds per request
//! (p50, p99) without and with a queue, the requests per second it passes with no quota, and its
//! resident memory with 500 streaming connections open.
//!
//! Ignored by default: they take about half a minute and their figures depend on the machine.
//! Run them by hand, one at a time so that they do not disturb each other:
//!
//! ```text
//! cargo test -p tollgate-cli --test proxy_measure -- --ignored --nocapture --test-threads 1
//! ```

mod proxy_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, start_proxy, RunningProxy};
use tollgate_mock_provider::{MockConfig, MockProvider};

/// Sequential requests timed per path.
const TIMED: usize = 2_000;
/// Requests sent first and not timed (connections, caches).
const WARM_UP: usize = 100;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// `count` chat requests to `base`, one after another on one kept-alive connection: each one's
/// latency, sorted.
fn latencies(base: &str, count: usize) -> Vec<Duration> {
    let agent = agent();
    let url = format!("{base}/v1/chat/completions");
    let body = chat_body("How long does the proxy take?", 8);
    let send = || {
        let begun = Instant::now();
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(&body)
            .expect("the request goes through");
        let text = response.body_mut().read_to_string().expect("a body");
        assert_eq!(response.status(), 200, "{text}");
        begun.elapsed()
    };
    for _ in 0..WARM_UP {
        send();
    }
    let mut timed: Vec<Duration> = (0..count).map(|_| send()).collect();
    timed.sort();
    timed
}

fn summary(name: &str, sorted: &[Duration]) -> (Duration, Duration) {
    let (p50, p99) = (percentile(sorted, 0.50), percentile(sorted, 0.99));
    eprintln!(
        "{name:<44} p50 {:>8.1} µs   p99 {:>8.1} µs",
        micros(p50),
        micros(p99)
    );
    (p50, p99)
}

fn proxy_to(provider: &MockProvider, quota: &[&str]) -> RunningProxy {
    let upstream = provider.url();
    let mut args = vec!["--upstream", upstream.as_str(), "--log", "off"];
    args.extend_from_slice(quota);
    start_proxy(&args, &[])
}

#[test]
#[ignore = "a measurement for the README: run by hand (see the file's doc)"]
fn latency_added_per_request_with_and_without_a_queue() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let direct = latencies(&provider.url(), TIMED);
    let (direct_p50, direct_p99) = summary("direct to the mock", &direct);

    let proxy = proxy_to(&provider, &[]);
    let through = latencies(&proxy.url, TIMED);
    let (p50, p99) = summary("through the proxy, no quota", &through);
    eprintln!(
        "{:<44} p50 {:>+8.1} µs   p99 {:>+8.1} µs",
        "  added",
        micros(p50) - micros(direct_p50),
        micros(p99) - micros(direct_p99)
    );
    drop(proxy);

    // One request per 5 ms: each one waits in the line for the quota; what it takes beyond
    // that wait is the proxy's.
    let period = Duration::from_millis(5);
    let proxy = proxy_to(&provider, &["--requests", "1/5ms"]);
    let queued: Vec<Duration> = latencies(&proxy.url, TIMED / 4)
        .into_iter()
        .map(|latency| latency.saturating_sub(period))
        .collect();
    let (p50, p99) = summary("through the proxy, queued (beyond the 5 ms)", &queued);
    eprintln!(
        "{:<44} p50 {:>+8.1} µs   p99 {:>+8.1} µs",
        "  added",
        micros(p50) - micros(direct_p50),
        micros(p99) - micros(direct_p99)
    );
    let stats = proxy.stats();
    assert!(
        stats["waits"].as_u64().unwrap() as usize >= TIMED / 4,
        "every timed request waited in the line: {stats}"
    );
}

/// Requests answered in `duration` by `clients` threads sending one after another to `base`.
fn throughput(base: &str, clients: usize, duration: Duration) -> f64 {
    let url = format!("{base}/v1/chat/completions");
    let begun = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let body = chat_body(&format!("client {client}"), 8);
                let mut answered = 0_u64;
                while begun.elapsed() < duration {
                    let mut response = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(&body)
                        .expect("the request goes through");
                    response.body_mut().read_to_string().expect("a body");
                    assert_eq!(response.status(), 200);
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let answered: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    answered as f64 / begun.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a measurement for the README: run by hand (see the file's doc)"]
fn requests_per_second_with_no_quota() {
    let provider = MockProvider::start(MockConfig::new()).unwrap();
    let (clients, duration) = (16, Duration::from_secs(4));
    throughput(&provider.url(), clients, Duration::from_millis(500));
    let direct = throughput(&provider.url(), clients, duration);
    let proxy = proxy_to(&provider, &[]);
    throughput(&proxy.url, clients, Duration::from_millis(500));
    let through = throughput(&proxy.url, clients, duration);
    eprintln!(
        "{clients} clients, no quota: direct to the mock {direct:.0} requests/s, through the \
         proxy {through:.0} requests/s ({:.2}x)",
        through / direct
    );
}

/// A process's resident memory (VmRSS) and its peak (VmHWM), in KiB.
fn resident_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
#[ignore = "a measurement for the README: run by hand (see the file's doc)"]
#[cfg(target_os = "linux")]
fn resident_memory_with_500_streaming_connections() {
    const CONNECTIONS: usize = 500;
    // Each stream lasts 30 s: 64 words spread over the latency.
    let provider = MockProvider::start(MockConfig::new().latency(Duration::from_secs(30))).unwrap();
    let proxy = proxy_to(&provider, &["--max-connections", "1024"]);
    let pid = proxy.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let (idle, _) = resident_kib(pid);

    let body = serde_json::json!({
        "model": "gpt-mock",
        "messages": [{"role": "user", "content": "stream for a while"}],
        "max_tokens": 64,
        "stream": true,
    })
    .to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        proxy.addr(),
        body.len()
    );
    let begun = Instant::now();
    let mut streams: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| {
            let mut stream = TcpStream::connect(proxy.addr()).expect("the proxy accepts");
            stream
                .write_all(request.as_bytes())
                .expect("the request is sent");
            stream
        })
        .collect();
    // Every stream has begun: its head and first event arrived.
    for stream in &mut streams {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0_u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("data: ") {
            let read = stream.read(&mut chunk).expect("the stream begins");
            assert!(read > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&chunk[..read]);
        }
        assert!(
            seen.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&seen)
        );
    }
    let all_streaming = begun.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (streaming, peak) = resident_kib(pid);
    let stats = proxy.stats();
    eprintln!(
        "{CONNECTIONS} streaming connections (all streaming after {all_streaming:?}): proxy \
         resident {:.1} MiB (peak {:.1} MiB), idle {:.1} MiB: {:.1} KiB per connection; \
         in flight: {}",
        streaming as f64 / 1024.0,
        peak as f64 / 1024.0,
        idle as f64 / 1024.0,
        (streaming.saturating_sub(idle)) as f64 / CONNECTIONS as f64,
        stats["in_flight"]
    );
    assert_eq!(
        stats["in_flight"].as_u64(),
        Some(CONNECTIONS as u64),
        "{stats}"
    );
    drop(streams);
}
